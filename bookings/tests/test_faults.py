"""Invariant 4 under faults: an accepted booking is never lost when a worker or Redis dies.

Every test starts and stops its own redis-server and Celery workers (``processes.py``); none
touches the machine's shared Redis. A task is kept inside ``booking_allocate`` deterministically
by holding the booking's row lock from the test (a separate Postgres connection), so the kill
lands mid-task without changing what the product code does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.test import override_settings

from bookings.models import Booking, Restaurant
from bookings.tasks import allocate_booking, requeue_stale_pending
from bookings.tests.api.conftest import booking_body
from bookings.tests.helpers import tables_of
from bookings.tests.processes import (
    Stack,
    admit_pending,
    pg_connect,
    stack_fixture,  # noqa: F401 - the stack fixture
    status_of,
    wait_until,
)
from observability.models import AllocationAttempt

# A hung database call is not covered by the polling deadlines; bound each test as a whole.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(150)]

ALLOCATION_QUEUE = settings.CELERY_TASK_ROUTES["allocator.tasks.allocate_booking"]["queue"]
VISIBILITY_TIMEOUT = 3  # seconds; production keeps an hour (longer than any task may run)
RECEIVED = re.compile(r"Task allocator\.tasks\.allocate_booking\[([0-9a-f-]+)\] received")


@contextmanager
def row_locked(booking_id: int) -> Iterator[Callable[[], set[int]]]:
    """Hold the booking's row lock, so ``booking_allocate`` (SELECT … FOR UPDATE) waits for us.

    Yields a probe returning the backends waiting for a lock: our allocation tasks, blocked
    mid-task (a second waiter queues behind the first, not directly behind us, so this does not
    ask ``pg_blocking_pids``).
    """
    with pg_connect(autocommit=False) as conn, pg_connect() as observer:
        conn.execute("SELECT id FROM bookings_booking WHERE id = %s FOR UPDATE", [booking_id])

        def waiters() -> set[int]:
            rows = observer.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchall()
            return {pid for (pid,) in rows}

        try:
            yield waiters
        finally:
            conn.rollback()


def publish(booking_id: int) -> None:
    """Send the allocation task, as ``enqueue_allocation`` does, minus its bookkeeping UPDATE of the
    booking (which would wait for our own row lock)."""
    allocate_booking.apply_async(args=(booking_id,), retry=False)


def backends() -> set[int]:
    with pg_connect() as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()
    return {pid for (pid,) in rows}


def assert_confirmed_once(booking: Booking) -> None:
    """Confirmed, one active set of tables, and exactly one assigned attempt (nothing done twice)."""
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert len(tables_of(booking)) == 1
    assert booking.occupancies.count() == 1
    attempts = AllocationAttempt.objects.filter(booking_id=booking.pk)
    assert [(a.mode, a.outcome) for a in attempts] == [("background", "assigned")]


def test_a_worker_killed_mid_task_is_replaced_and_the_booking_confirmed_once(
    stack: Stack, small_restaurant: Restaurant
) -> None:
    """SIGKILL the whole worker (main and pool process) mid-task; a new worker gets the task back.

    Proven by broker redelivery alone (no sweeper runs here): the task is acknowledged late, so
    the dead worker's message stays in Redis's unacked set, and a consumer starting up restores
    unacked messages older than the visibility timeout (kombu ``restore_visible``).
    """
    booking = admit_pending(small_restaurant)
    first = stack.worker(CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT))
    broker = stack.redis.client()

    with row_locked(booking.pk) as lock_waiters:
        publish(booking.pk)
        (waiter,) = wait_until(lock_waiters, what="the task to block on the booking row")
        match = RECEIVED.search(first.wait_for_log(RECEIVED))
        assert match
        task_id = match.group(1)
        ((_, delivered_at),) = broker.zrange("unacked_index", 0, -1, withscores=True)
        first.kill()

    # The dead worker's Postgres session finds its client gone once it gets the row, and rolls back.
    wait_until(lambda: waiter not in backends(), what="Postgres to drop the dead worker's session")
    assert status_of(booking.pk) == Booking.Status.PENDING
    assert not AllocationAttempt.objects.filter(booking_id=booking.pk).exists()
    assert broker.hlen("unacked") == 1, "the unacknowledged message must survive its worker"
    assert broker.llen(ALLOCATION_QUEUE) == 0, "and is not back in the queue by itself"

    # The new consumer restores, on start-up, messages unacknowledged for longer than the timeout.
    wait_until(
        lambda: time.time() > delivered_at + VISIBILITY_TIMEOUT + 0.2,
        what="the visibility timeout to pass",
        timeout=VISIBILITY_TIMEOUT + 5,
    )
    second = stack.worker(CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT))
    second.wait_for_log(rf"allocate_booking\[{task_id}\] succeeded")

    assert_confirmed_once(booking)
    wait_until(lambda: broker.hlen("unacked") == 0, what="the redelivered message to be acknowledged")
    assert broker.llen(ALLOCATION_QUEUE) == 0


def test_a_pool_process_killed_mid_task_gives_its_task_back(
    stack: Stack, small_restaurant: Restaurant
) -> None:
    """SIGKILL only the pool process: the worker rejects the message back (reject_on_worker_lost)."""
    booking = admit_pending(small_restaurant)
    worker = stack.worker()

    with row_locked(booking.pk) as lock_waiters:
        publish(booking.pk)
        (first_waiter,) = wait_until(lock_waiters, what="the task to block on the booking row")
        (pool_process,) = worker.pool_processes()
        pool_process.kill()
        worker.wait_for_log(r"WorkerLostError")
        # Requeued at once, taken by the replacement pool process, and blocked on our lock again.
        wait_until(lambda: lock_waiters() - {first_waiter}, what="the task to run again")

    log = worker.wait_for_log(r"allocate_booking\[[^\]]+\] succeeded")
    assert_confirmed_once(booking)
    (task_id,) = set(RECEIVED.findall(log))
    assert len(RECEIVED.findall(log)) == 2, "the one message, delivered twice"
    assert len(re.findall(rf"allocate_booking\[{task_id}\] succeeded", log)) == 1


def test_a_task_stalled_past_its_soft_time_limit_leaves_the_booking_pending_for_the_sweeper(
    stack: Stack, small_restaurant: Restaurant
) -> None:
    """A stall (a lock wait, a database failover) is an outage, not the booking's fault.

    The accepted booking must not be rejected for it: it stays pending and is seated once the
    sweeper enqueues it again (or a Celery retry gets there first; either way, seated once).
    """
    booking = admit_pending(small_restaurant)
    worker = stack.worker()

    with row_locked(booking.pk) as lock_waiters:
        # The publisher writes the time limits into the message; the worker's settings are defaults.
        allocate_booking.apply_async(args=(booking.pk,), retry=False, soft_time_limit=2, time_limit=30)
        wait_until(lock_waiters, what="the task to block on the booking row")
        worker.wait_for_log(r"Soft time limit \(2s\) exceeded", timeout=30)
        worker.wait_for_log(r"allocate_booking\[[^\]]+\] (raised|retry)", timeout=20)

    assert status_of(booking.pk) == Booking.Status.PENDING, Booking.objects.get(pk=booking.pk).status_reason
    with override_settings(ALLOCATION_STALE_SECONDS=0):
        requeue_stale_pending()
    worker.wait_for_log(r"allocate_booking\[[^\]]+\] succeeded in \S+: 'assigned'")
    assert_confirmed_once(booking)


def test_with_redis_down_bookings_are_answered_and_none_is_lost(
    stack: Stack, small_restaurant: Restaurant, set_flags: Callable[..., None]
) -> None:
    """Redis stops: bookings still answer (201 inline, 202 queued) and all end confirmed later.

    The API runs under gunicorn in its own process (REDIS_URL = the private Redis), so its cache,
    throttles, flag store and Celery producer all meet the outage as in production. Queued bookings
    could not be published; the sweeper (``requeue_stale_pending``, run here in the test process
    as beat would have a worker run it) enqueues them once Redis is back.
    """
    web = stack.web()
    stack.redis.stop()
    answers = []

    def book(hour: int, minute: int) -> dict[str, object]:
        answer = web.request(
            "POST",
            "/api/v1/bookings",
            booking_body(small_restaurant.slug, party=2, hour=hour, minute=minute),
            {"Idempotency-Key": f"redis-down-{hour}-{minute}"},
        )
        answers.append(answer)
        return answer.body  # type: ignore[no-any-return]

    # Inline allocation needs no Redis: throttles fail open, flags fall back to the database.
    inline = [book(17, 0), book(17, 15)]
    assert [a.status for a in answers] == [201, 201], [a.body for a in answers]
    assert all(b["status"] == "confirmed" for b in inline)

    # With no inline budget the booking must be queued: publishing fails fast, it stays pending.
    set_flags(**{"allocator.inline_timeout_ms": 0})
    queued = [book(19, 0), book(19, 15), book(19, 30)]
    assert [a.status for a in answers[2:]] == [202, 202, 202], [a.body for a in answers[2:]]
    print("seconds per POST with Redis down:", [round(a.seconds, 3) for a in answers])
    assert max(a.seconds for a in answers) < 5, [round(a.seconds, 2) for a in answers]
    assert all(b["status"] == "pending" for b in queued)
    pending = Booking.objects.filter(status=Booking.Status.PENDING)
    assert pending.count() == 3 and not pending.filter(allocation_enqueued_at__isnull=False).exists()
    for body in queued:
        answers.append(web.request("GET", str(body["poll_url"])))
    answers.append(web.request("GET", "/readyz"))
    assert answers[-1].body["checks"]["redis"].startswith("degraded"), answers[-1].body

    # Redis comes back (empty: nothing was ever published), a worker starts, the sweeper runs.
    stack.redis.start()
    stack.worker()
    with override_settings(ALLOCATION_STALE_SECONDS=0):
        assert requeue_stale_pending() == 3

    def settled() -> bool:
        return not Booking.objects.filter(status=Booking.Status.PENDING).exists()

    wait_until(settled, what="the queued bookings to be confirmed")
    for body in [*inline, *queued]:
        answer = web.request("GET", str(body["poll_url"]))
        answers.append(answer)
        assert answer.body["status"] == "confirmed" and answer.body["tables"], answer.body
    assert Booking.objects.count() == 5
    assert not [a for a in answers if a.status >= 500], [(a.status, a.body) for a in answers]
    assert AllocationAttempt.objects.filter(mode="background", outcome="assigned").count() == 3
