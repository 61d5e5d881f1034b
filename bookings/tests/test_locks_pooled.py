"""The day lock lives and dies with its transaction, so a pooler may hand the connection on after it.

Under .ci/pgbouncer-tests these run through PgBouncer in transaction mode: the lock holds while its
transaction is open (PgBouncer keeps that client on one server connection) and is gone the moment
it commits, whichever client the server connection serves next.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from bookings.errors import LockTimeout
from bookings.locking import lock_service_days
from bookings.models import Restaurant
from bookings.tests.helpers import evening

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_day_lock_holds_for_its_transaction_and_is_gone_after_commit(
    small_restaurant: Restaurant,
) -> None:
    day = evening().date()
    locked, release, committed = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                lock_service_days(small_restaurant.pk, [day])
                locked.set()
                release.wait(20)
            committed.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(20)
        # While the holder's transaction is open, the day is taken for everyone else.
        with pytest.raises(LockTimeout), transaction.atomic():
            lock_service_days(small_restaurant.pk, [day], timeout_ms=200)
        release.set()
        assert committed.wait(20)
        # After its commit nothing of it is left on any server connection: the next lock is at once.
        for _ in range(5):
            with transaction.atomic():
                lock_service_days(small_restaurant.pk, [day], timeout_ms=200)
    finally:
        release.set()
        thread.join(20)


def test_a_lock_timeout_does_not_outlive_its_transaction(small_restaurant: Restaurant) -> None:
    """SET LOCAL lock_timeout ends with the transaction: no later transaction inherits 200 ms."""
    with transaction.atomic():
        lock_service_days(small_restaurant.pk, [evening().date()], timeout_ms=200)
    with transaction.atomic(), connections["default"].cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"
