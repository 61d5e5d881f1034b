"""The background job's failure policy, without a worker: outages leave bookings pending, bugs reject."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.tasks import allocate_booking
from bookings.tests.helpers import evening


@pytest.fixture
def pending(small_restaurant: Restaurant) -> Booking:
    return booking_admit(
        restaurant=small_restaurant, party_size=2, starts_at=evening(), guest_name="P", assign=False
    ).booking


def test_an_outage_leaves_the_booking_pending_for_the_sweeper(pending: Booking) -> None:
    allocate_booking.on_failure(OperationalError("connection lost"), "task-1", (pending.pk,), {}, None)
    pending.refresh_from_db()
    assert pending.status == Booking.Status.PENDING


def test_a_bug_rejects_the_booking_with_a_reason(pending: Booking) -> None:
    allocate_booking.on_failure(ValueError("bug"), "task-1", (pending.pk,), {}, None)
    pending.refresh_from_db()
    assert (pending.status, pending.status_reason) == (Booking.Status.REJECTED, "allocation_error")
