"""The tidy-up after cancellations on a real Celery worker: a cancellation frees two-tops, the
worker moves the couples off the four-tops, and a second run moves nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.integrity import check_integrity
from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.services.changes import booking_cancel
from bookings.tasks import tidy_service_day
from bookings.tests.factories import two_fours_restaurant
from bookings.tests.helpers import evening, tables_of
from bookings.tests.processes import (
    Stack,
    stack_fixture,  # noqa: F401 - the stack fixture
    wait_until,
)
from observability.models import ObservabilityEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(150)]

SEVEN = evening(19, 0)


@pytest.fixture
def two_fours(db: None) -> Restaurant:
    return two_fours_restaurant("two-fours-worker")


def book(restaurant: Restaurant, party: int) -> Booking:
    return booking_admit(restaurant=restaurant, party_size=party, starts_at=SEVEN, guest_name="G").booking


def test_cancellations_let_the_worker_move_couples_to_the_freed_two_tops_once(
    stack: Stack, two_fours: Restaurant, set_flags: Callable[..., None]
) -> None:
    set_flags(**{"allocator.reshuffle_enabled": True})
    early = [book(two_fours, 2), book(two_fours, 2)]
    couples = [book(two_fours, 2), book(two_fours, 2)]
    assert sorted(label for b in couples for label in tables_of(b)) == ["F1", "F2"]
    worker = stack.worker()

    for booking in early:
        booking_cancel(booking=booking)  # each enqueues a tidy-up of the evening after its commit

    wait_until(
        lambda: sorted(label for b in couples for label in tables_of(b)) == ["C1", "C2"] or None,
        what="the tidy-up to move the couples to the two-tops",
    )
    worker.wait_for_log(r"tidy_service_day\[[^\]]+\] succeeded", count=2)
    moved = ObservabilityEvent.objects.filter(type="booking.reseated", context__reason="tidy").count()
    assert moved == 2
    for booking in couples:
        booking.refresh_from_db()
        assert (booking.starts_at, booking.party_size, booking.status) == (SEVEN, 2, Booking.Status.CONFIRMED)
        assert "tidy-up" in booking.allocation_reason["message"]

    # Idempotent: one more run (a redelivered message) moves nothing.
    tidy_service_day.apply_async(args=(two_fours.pk, SEVEN.date().isoformat()))
    log = worker.wait_for_log(r"tidy_service_day\[[^\]]+\] succeeded", count=3)

    moves_per_run = [
        int(n) for n in re.findall(r"tidy_service_day\[[^\]]+\] succeeded in [\d.]+s: (\d+)", log)
    ]
    assert sum(moves_per_run) == 2 and moves_per_run[-1] == 0, moves_per_run
    assert ObservabilityEvent.objects.filter(type="booking.reseated").count() == 2
    assert sorted(label for b in couples for label in tables_of(b)) == ["C1", "C2"]
    report = check_integrity(now=timezone.now(), stale_after=timedelta(minutes=10))
    assert report.ok, report.render()
