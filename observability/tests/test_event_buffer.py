"""Capacity refusals are stored in batches, a moment late: a refused request then costs no commit."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bookings.models import Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import evening
from observability.events import EventBuffer, build_event
from observability.models import ObservabilityEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_refusal_from_the_cached_day_writes_nothing_and_its_event_arrives_within_the_window(
    settings: Any, one_table_restaurant: Restaurant
) -> None:
    settings.TELEMETRY_BUFFER_SECONDS = 0.2
    api = APIClient()
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201
    day = evening().date().isoformat()
    assert api.get(f"/api/v1/restaurants/{one_table_restaurant.slug}/availability?date={day}&party_size=2")

    with CaptureQueriesContext(connection) as captured:
        response = post_booking(api, booking_body(one_table_restaurant.slug))

    assert response.status_code == 409
    assert len(captured.captured_queries) == 1  # the restaurant, its versions and the key; no INSERT
    deadline = time.monotonic() + 5
    while not ObservabilityEvent.objects.filter(type="booking.capacity_exceeded").exists():
        assert time.monotonic() < deadline, "the buffered refusal event never arrived"
        time.sleep(0.05)


def test_flush_stores_what_waits_in_one_statement_and_the_flusher_stops(settings: Any) -> None:
    settings.TELEMETRY_BUFFER_SECONDS = 60  # the thread would wait a minute: only flush() stores them
    events = EventBuffer()
    for party in (2, 4, 6):
        events.add(build_event("booking.capacity_exceeded", restaurant_id=None, party_size=party))

    with CaptureQueriesContext(connection) as captured:
        assert events.flush() == 3

    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert sorted(e.context["party_size"] for e in ObservabilityEvent.objects.all()) == [2, 4, 6]
    assert events.flush() == 0
    # Woken by flush(), the flusher finds nothing left and stops: no thread outlives the test.
    deadline = time.monotonic() + 5
    while events._thread is not None:
        assert time.monotonic() < deadline, "the flusher thread did not stop"
        time.sleep(0.01)
