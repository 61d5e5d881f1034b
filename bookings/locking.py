"""The one lock of ReserveX: admissions for one restaurant's service day are serialised.

A transaction-scoped advisory lock per (restaurant, local service day), taken in sorted key
order with ``SET LOCAL lock_timeout`` so a pile-up turns into a quick, retryable error instead of
a hung request. It guards the capacity check (DESIGN §4 invariant 2); table overlaps are guarded
by the exclusion constraint whatever happens here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date

from django.db import DatabaseError, OperationalError, connection

from bookings.errors import LockTimeout

LOCK_TIMEOUT_MS = 2_000
_LOCKS_ENABLED = True


def set_locks_enabled(enabled: bool) -> None:
    """Turn the admission lock off or on. Only the control tests that show the race use this."""
    global _LOCKS_ENABLED
    _LOCKS_ENABLED = enabled


def lock_service_days(restaurant_id: int, days: Iterable[date], *, timeout_ms: int = LOCK_TIMEOUT_MS) -> None:
    """Take the admission lock of each service day, in order, for the rest of the transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_service_days must run inside transaction.atomic()")
    if not _LOCKS_ENABLED:
        return
    keys = sorted({day.toordinal() for day in days})
    try:
        with connection.cursor() as cursor:
            # One round trip: the timeout is set (in FROM, so first) and then each key is locked in
            # the order of the sorted array.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s::int4, day_key)"
                " FROM (SELECT set_config('lock_timeout', %s, true)) AS timeout,"
                " unnest(%s::int4[]) AS day_key",
                [restaurant_id, f"{int(timeout_ms)}ms", keys],
            )
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            raise LockTimeout() from exc
        raise


# lock_not_available (lock_timeout), deadlock_detected, exclusion_violation.
RETRYABLE_SQLSTATES = frozenset({"55P03", "40P01", "23P01"})


def is_retryable(exc: BaseException) -> bool:
    """Return whether a database error is a lost race, to retry with a fresh snapshot."""
    return isinstance(exc, DatabaseError) and getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


@contextmanager
def busy_means_retry() -> Iterator[None]:
    """Turn a lost race anywhere in a locked transaction into LockTimeout (503 + Retry-After).

    ``lock_timeout`` stays set for the rest of the transaction, so any later wait (a row lock, a
    foreign-key check at COMMIT) can time out too; none of them may become a 500.
    """
    try:
        yield
    except DatabaseError as exc:
        if is_retryable(exc):
            raise LockTimeout() from exc
        raise
