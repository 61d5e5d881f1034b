"""The background half of the booking flow (DESIGN §5 steps 4–5) on a real Celery worker.

Each test runs a real worker process against the test database and a private redis-server (see
``processes.py``); the API runs in this process through the Django test client.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from bookings.models import Booking, Restaurant, Table, TableOccupancy
from bookings.tasks import allocate_booking, enqueue_allocation
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import tables_of
from bookings.tests.processes import (
    Stack,
    admit_pending,
    stack_fixture,  # noqa: F401 - the stack fixture
    status_of,
    wait_until,
)
from observability.models import AllocationAttempt, ObservabilityEvent

# A hung database call is not covered by the polling deadlines; bound each test as a whole.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(150)]


def test_a_202_booking_is_confirmed_by_the_worker(
    stack: Stack, small_restaurant: Restaurant, set_flags: Callable[..., None]
) -> None:
    stack.worker()
    set_flags(**{"allocator.inline_timeout_ms": 0})
    api = APIClient()

    response = post_booking(api, booking_body(small_restaurant.slug, party=4))

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["tables"] == []
    assert response["Retry-After"]

    def confirmed() -> dict[str, object] | None:
        read = api.get(body["poll_url"])
        assert read.status_code == 200
        return read.json() if read.json()["status"] != "pending" else None

    final = wait_until(confirmed, what="the worker to confirm the booking", interval=0.2)
    assert final["status"] == "confirmed", final
    assert len(final["tables"]) == 1  # type: ignore[arg-type]
    attempts = AllocationAttempt.objects.filter(booking_id=Booking.objects.get().pk)
    assert [(a.mode, a.outcome) for a in attempts] == [("background", "assigned")]


def test_two_messages_for_one_booking_assign_it_once(stack: Stack, small_restaurant: Restaurant) -> None:
    """Delivery is at least once: two copies of the task seat the party once."""
    booking = admit_pending(small_restaurant)
    # Both messages wait in the queue before the worker starts, so its two pool processes usually
    # take one each and race for the booking (the row lock in booking_allocate serialises them).
    allocate_booking.apply_async(args=(booking.pk,))
    allocate_booking.apply_async(args=(booking.pk,))

    worker = stack.worker(concurrency=2)
    log = worker.wait_for_log(r"allocate_booking\[[^\]]+\] succeeded", count=2)

    assert "'assigned'" in log and "'already_done'" in log, log
    assert status_of(booking.pk) == Booking.Status.CONFIRMED
    assert len(tables_of(booking)) == 1
    assert TableOccupancy.objects.filter(booking=booking).count() == 1
    assert AllocationAttempt.objects.filter(booking_id=booking.pk).count() == 1


def test_a_booking_that_can_never_be_seated_is_rejected_after_retries(
    stack: Stack, one_table_restaurant: Restaurant
) -> None:
    booking = admit_pending(one_table_restaurant)
    # After admission the only table goes out of use: no attempt can ever find a plan.
    Table.objects.filter(restaurant=one_table_restaurant).update(active=False)
    stack.worker(ALLOCATION_MAX_RETRIES="2")

    assert enqueue_allocation(booking.pk)

    wait_until(lambda: status_of(booking.pk) != Booking.Status.PENDING, what="the booking to be rejected")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.REJECTED
    assert booking.status_reason
    attempts = AllocationAttempt.objects.filter(booking_id=booking.pk).order_by("attempt")
    assert [(a.mode, a.outcome, a.attempt) for a in attempts] == [
        ("background", "skipped", 1),
        ("background", "skipped", 2),
        ("background", "skipped", 3),
    ]
    # The worker stores the event right after the rejection commits (telemetry never holds up a
    # booking's change), so the rejection can be seen a moment before its event.
    event = wait_until(
        lambda: ObservabilityEvent.objects.filter(
            type="allocation.retry_exhausted", booking_id=booking.pk
        ).first(),
        what="the retry_exhausted event",
    )
    assert event.context["attempts"] == 3 and event.context["reason"] == booking.status_reason
    assert not TableOccupancy.objects.filter(booking=booking).exists()
    read = APIClient().get(f"/api/v1/bookings/{booking.reference}").json()
    assert read["status"] == "rejected" and read["status_reason"] == booking.status_reason
