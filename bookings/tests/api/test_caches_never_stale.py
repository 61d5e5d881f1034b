"""The configuration and availability caches never serve a stale decision (issue: book at the speed
of the database). Each test first fills a cache, then changes what it was computed from, and shows
the next answer follows the change."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.models import Booking, CapacityRule, Restaurant
from bookings.services.changes import booking_cancel
from bookings.services.holds import hold_create
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import evening

# Real commits: the day version is bumped when a transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def slot_19(api: APIClient, restaurant: Restaurant, party: int = 2) -> dict:  # type: ignore[type-arg]
    day = evening().date().isoformat()
    response = api.get(f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size={party}")
    assert response.status_code == 200
    return next(s for s in response.json()["slots"] if s["time"] == "19:00")


def test_a_rule_changed_behind_the_cache_is_used_by_the_next_admission(
    api: APIClient, one_table_restaurant: Restaurant
) -> None:
    # given the configuration cached while the rules allow anything
    assert slot_19(api, one_table_restaurant)["available"]
    # when the rules change by a bulk update (no model save, no signal: only the trigger sees it)
    CapacityRule.objects.filter(period__restaurant=one_table_restaurant).update(max_covers=1)
    # then availability and admission both judge by the new rule
    assert slot_19(api, one_table_restaurant)["reason"] == "max_covers"
    response = post_booking(api, booking_body(one_table_restaurant.slug))
    assert response.status_code == 409 and response.json()["reason"] == "max_covers"


def test_a_booking_changes_the_cached_day(api: APIClient, one_table_restaurant: Restaurant) -> None:
    assert slot_19(api, one_table_restaurant)["available"]
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201
    assert not slot_19(api, one_table_restaurant)["available"]


def test_a_cancellation_reopens_a_slot_the_cache_had_refused(
    api: APIClient, one_table_restaurant: Restaurant
) -> None:
    # given the only table booked, and a refusal answered from the cached day
    first = post_booking(api, booking_body(one_table_restaurant.slug)).json()
    assert not slot_19(api, one_table_restaurant)["available"]
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 409
    # when the booking is cancelled
    booking_cancel(booking=Booking.objects.get(reference=first["reference"]))
    # then the next guest gets the table: the cached refusal did not outlive the change
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201


def test_a_hold_expiring_reopens_a_slot_the_cache_had_refused(
    api: APIClient, one_table_restaurant: Restaurant
) -> None:
    # given the only table held by a hold that expires in a second (no write happens when it does)
    ttl = timedelta(seconds=one_table_restaurant.hold_ttl_seconds)
    hold_create(
        restaurant=one_table_restaurant,
        party_size=2,
        starts_at=evening(),
        now=timezone.now() - ttl + timedelta(seconds=1),
    )
    assert not slot_19(api, one_table_restaurant)["available"]
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 409
    # when the hold's time is up
    time.sleep(1.2)
    # then the cached answer is not used: the table is free for the next guest
    assert slot_19(api, one_table_restaurant)["available"]
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201


def test_a_retry_of_a_confirmed_booking_replays_it_even_when_the_slot_is_now_full(
    api: APIClient, one_table_restaurant: Restaurant
) -> None:
    first = post_booking(api, booking_body(one_table_restaurant.slug), key="the-guests-key")
    assert first.status_code == 201
    assert not slot_19(api, one_table_restaurant)["available"]  # the cached day is now full
    replay = post_booking(api, booking_body(one_table_restaurant.slug), key="the-guests-key")
    assert replay.status_code == 201 and replay.json() == first.json()
