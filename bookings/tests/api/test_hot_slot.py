"""A hot slot over HTTP: 200 booking requests for one time, released together, on a four-table floor.

Bounded (200 requests over 32 threads, each with its own connection) so it also runs behind
PgBouncer in CI (.ci/pgbouncer-tests), where the threads queue for fewer server connections.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.integrity import check_integrity
from bookings.models import Booking, Restaurant, TableOccupancy
from bookings.tests.api.conftest import booking_body

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REQUESTS = 200
THREADS = 32


def test_200_requests_for_one_slot_seat_four_parties_and_refuse_the_rest_cleanly(
    small_restaurant: Restaurant,
) -> None:
    # Given a floor where four tables seat a party of two (T1, T2, T3, T4; T6 needs three or more)
    body = booking_body(small_restaurant.slug, party=2)
    barrier = threading.Barrier(THREADS)

    def send(index: int) -> tuple[int, dict[str, Any], str | None]:
        if index < THREADS:
            barrier.wait(timeout=60)
        try:
            response = APIClient().post(
                "/api/v1/bookings",
                body,
                format="json",
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
                # Each guest from an address of their own, as in a real burst: the per-IP throttle
                # stays out of the way and the per-restaurant one (6000/min) is not reached.
                REMOTE_ADDR=f"10.{index // 250}.{index % 250}.1",
            )
            return response.status_code, response.json(), response.get("Retry-After")
        finally:
            connections.close_all()

    # When 200 guests ask for 19:00 at once
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(send, range(REQUESTS)))

    # Then four are seated, every other guest is refused in the envelope, nobody sees a 5xx
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {201, 202, 409, 503}, statuses
    admitted = [body for status, body, _ in answers if status in (201, 202)]
    assert len(admitted) == 4, statuses
    for status, answer, retry_after in answers:
        if status == 409:
            assert answer["error"] == "CAPACITY_EXCEEDED", answer
        elif status == 503:  # the day was busy past the lock timeout: a retry, never a 500
            assert answer["error"] and retry_after, answer
    assert Booking.objects.count() == 4
    references = {answer["reference"] for answer in admitted}
    assert references == set(Booking.objects.values_list("reference", flat=True))
    tables = list(TableOccupancy.objects.active().values_list("table__label", flat=True))
    assert len(tables) == len(set(tables))  # no table given twice
    report = check_integrity(now=timezone.now(), stale_after=timedelta(hours=1))
    assert report.ok, report.counts()
