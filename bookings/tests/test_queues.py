"""Queues by kind of work: a maintenance backlog never delays an allocation (decision 0015).

Real worker processes on a private Redis (bookings/tests/processes.py). The maintenance worker is
held up deterministically: the first purge of expired Idempotency-Keys waits for a row lock this
test holds, and twenty more purges queue behind it. The control test gives one worker every queue
and shows the allocation stuck behind that backlog; the real test gives allocation its own worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from bookings.models import Booking, IdempotencyKey, Restaurant
from bookings.tasks import allocate_booking, purge_expired_idempotency_keys
from bookings.tests.processes import Stack, admit_pending, pg_connect, stack_fixture, status_of, wait_until
from reservex.celery import app

__all__ = ["stack_fixture"]

pytestmark = [pytest.mark.slow]

BACKLOG = 20
ALLOCATION = "allocation"
MAINTENANCE = "maintenance"


def queue_of(task_name: str) -> str:
    route = app.amqp.router.route({}, task_name)
    return str(route["queue"].name)


def test_each_task_goes_to_the_queue_of_its_kind() -> None:
    assert queue_of("allocator.tasks.allocate_booking") == ALLOCATION
    assert queue_of("bookings.tasks.tidy_service_day") == ALLOCATION
    assert queue_of("allocator.tasks.offer_waitlist") == ALLOCATION
    assert queue_of("bookings.tasks.send_guest_message") == "notifications"
    assert queue_of("observability.tasks.check_p0_conditions") == "notifications"
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    maintenance = scheduled - {"observability.tasks.check_p0_conditions"}
    assert {name: queue_of(name) for name in maintenance} == dict.fromkeys(maintenance, MAINTENANCE)
    # Every ReserveX task is routed on purpose; none falls through to the default queue.
    ours = {name for name in app.tasks if name.split(".")[0] in {"allocator", "bookings", "observability"}}
    assert ours and ours <= set(settings.CELERY_TASK_ROUTES), ours - set(settings.CELERY_TASK_ROUTES)


@contextmanager
def maintenance_held_up(restaurant: Restaurant) -> Iterator[Callable[[], bool]]:
    """Lock an expired key's row so a purge blocks on it; yield a probe: is a worker blocked on it?"""
    expired = IdempotencyKey.objects.create(
        restaurant=restaurant,
        key="expired",
        fingerprint="0" * 64,
        expires_at=timezone.now() - timedelta(days=2),
    )
    with pg_connect(autocommit=False) as holder, pg_connect() as observer:
        holder.execute("SELECT id FROM bookings_idempotencykey WHERE id = %s FOR UPDATE", [expired.pk])

        def blocked() -> bool:
            row = observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'DELETE%%'"
            ).fetchone()
            return bool(row and row[0])

        try:
            yield blocked
        finally:
            holder.rollback()


def pile_up_maintenance(stack: Stack, blocked: Callable[[], bool]) -> None:
    """Send BACKLOG + 1 purges: the first blocks on the lock, the rest wait in the maintenance queue."""
    for _ in range(BACKLOG + 1):
        purge_expired_idempotency_keys.apply_async(retry=False)
    wait_until(blocked, what="a worker to block in the purge", timeout=60)
    broker = stack.redis.client()
    assert broker.llen(MAINTENANCE) >= BACKLOG - 1  # one more may sit prefetched in the worker


@pytest.mark.django_db(transaction=True)
def test_control_one_worker_for_every_queue_lets_a_maintenance_backlog_delay_allocation(
    stack: Stack, small_restaurant: Restaurant
) -> None:
    stack.worker(queues=(ALLOCATION, MAINTENANCE, "reservex"))
    booking = admit_pending(small_restaurant)
    with maintenance_held_up(small_restaurant) as blocked:
        pile_up_maintenance(stack, blocked)
        allocate_booking.apply_async(args=(booking.pk,), retry=False)
        # The one worker sits in the blocked purge: the booking waits with the backlog.
        with pytest.raises(AssertionError, match="timed out"):
            wait_until(lambda: status_of(booking.pk) != Booking.Status.PENDING, what="allocation", timeout=5)
    # Once maintenance moves again the allocation gets its turn (it was delayed, not lost).
    wait_until(lambda: status_of(booking.pk) == Booking.Status.CONFIRMED, what="the delayed allocation")


@pytest.mark.django_db(transaction=True)
def test_a_maintenance_backlog_does_not_delay_an_allocation_on_its_own_worker(
    stack: Stack, small_restaurant: Restaurant
) -> None:
    stack.worker(queues=(MAINTENANCE,))
    stack.worker(queues=(ALLOCATION, "reservex"))
    booking = admit_pending(small_restaurant)
    with maintenance_held_up(small_restaurant) as blocked:
        pile_up_maintenance(stack, blocked)
        allocate_booking.apply_async(args=(booking.pk,), retry=False)
        wait_until(
            lambda: status_of(booking.pk) == Booking.Status.CONFIRMED,
            what="the allocation, past the maintenance backlog",
            timeout=15,
        )
        # The backlog is still there, untouched: the allocation did not wait for it.
        assert blocked()
        assert stack.redis.client().llen(MAINTENANCE) >= BACKLOG - 1


@pytest.mark.django_db(transaction=True)
def test_a_task_is_published_into_its_own_queue_only(stack: Stack) -> None:
    # Queues sharing the default routing key would each get a copy of every message.
    allocate_booking.apply_async(args=(1,), retry=False)
    purge_expired_idempotency_keys.apply_async(retry=False)
    app.send_task("some.unrouted.task")
    broker = stack.redis.client()
    depths = {queue.name: broker.llen(queue.name) for queue in settings.CELERY_TASK_QUEUES}
    assert depths == {"allocation": 1, "maintenance": 1, "notifications": 0, "reservex": 1}
