"""A background attempt locks only its booking: admissions for the restaurant go on meanwhile."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.tests.helpers import evening

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_open_allocation_does_not_hold_up_admissions(small_restaurant: Restaurant) -> None:
    waiting = booking_admit(
        restaurant=small_restaurant, party_size=2, starts_at=evening(), guest_name="W", assign=False
    ).booking
    locked, release = threading.Event(), threading.Event()

    def allocation_in_progress() -> None:
        # The same row lock booking_allocate takes, held open like a slow attempt.
        with transaction.atomic():
            Booking.objects.select_for_update(of=("self",), no_key=True).select_related("restaurant").get(
                pk=waiting.pk
            )
            locked.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=allocation_in_progress)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        other = booking_admit(
            restaurant=small_restaurant, party_size=2, starts_at=evening(days_ahead=9), guest_name="O"
        ).booking
        assert other.status == Booking.Status.CONFIRMED
        assert time.monotonic() - started < 1.5  # well under the 2 s lock timeout
    finally:
        release.set()
        holder.join()
