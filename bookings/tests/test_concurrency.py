"""Races on real Postgres: separate threads with their own connections, all released at once.

The control tests switch a guard off and show the race happening; the real tests show it
cannot with the guard on (pretix-style concurrency tests).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from bookings.errors import DomainError
from bookings.integrity import check_integrity
from bookings.locking import set_locks_enabled
from bookings.models import Booking, CapacityRule, Restaurant, TableOccupancy
from bookings.services import planning
from bookings.services.admission import booking_admit
from bookings.services.allocation import booking_allocate
from bookings.tests.factories import RestaurantFactory, TableFactory, open_every_day
from bookings.tests.helpers import evening, restore_no_overlap_constraint

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def race(count: int, action: Callable[[int], Any], workers: int = 16) -> list[Any]:
    """Run ``action(i)`` for i in range(count) on many threads released together; return results."""
    barrier = threading.Barrier(min(count, workers))

    def run(i: int) -> Any:
        if i < workers:
            barrier.wait()
        try:
            return action(i)
        except DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def admit(restaurant: Restaurant, party: int = 2, **kwargs: Any) -> str:
    kwargs.setdefault("starts_at", evening())
    admission = booking_admit(restaurant=restaurant, party_size=party, guest_name="Racer", **kwargs)
    return admission.booking.status


def integrity() -> Any:
    return check_integrity(now=timezone.now(), stale_after=timedelta(hours=1))


@pytest.fixture
def guard_off() -> Any:
    set_locks_enabled(False)
    yield
    set_locks_enabled(True)


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window between reading the floor and writing the tables."""
    real_write = planning.write_windows

    def slow_write(**kwargs: Any) -> None:
        time.sleep(0.02)
        real_write(**kwargs)

    monkeypatch.setattr(planning, "write_windows", slow_write)  # admission and allocation use it


def test_100_requests_for_a_one_party_slot_admit_exactly_one(one_table_restaurant: Restaurant) -> None:
    results = race(100, lambda i: admit(one_table_restaurant))
    assert Counter(results) == {"confirmed": 1, "CAPACITY_EXCEEDED": 99}
    assert Booking.objects.count() == 1
    assert integrity().ok


def test_control_without_the_lock_capacity_is_overrun(guard_off: None, slow_writes: None) -> None:
    restaurant = RestaurantFactory(slug="many-tables")
    open_every_day(restaurant, max_parties=1)
    for n in range(8):
        TableFactory(restaurant=restaurant, label=f"M{n}", max_party=2)
    results = Counter(race(8, lambda i: admit(restaurant), workers=8))
    admitted = results["confirmed"] + results["pending"]
    assert admitted > 1, "the race did not happen; widen the window"
    assert integrity().counts()["over_capacity"] > 0


def test_with_the_lock_capacity_holds(slow_writes: None) -> None:
    restaurant = RestaurantFactory(slug="many-tables")
    open_every_day(restaurant, max_parties=1)
    for n in range(8):
        TableFactory(restaurant=restaurant, label=f"M{n}", max_party=2)
    results = race(8, lambda i: admit(restaurant), workers=8)
    assert Counter(results) == {"confirmed": 1, "CAPACITY_EXCEEDED": 7}
    assert integrity().ok


def test_control_without_lock_or_constraint_tables_are_double_booked(
    one_table_restaurant: Restaurant, guard_off: None, slow_writes: None
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE bookings_tableoccupancy DROP CONSTRAINT occupancy_no_overlap")
    try:
        race(6, lambda i: admit(one_table_restaurant), workers=6)
        assert integrity().counts()["overlap"] > 1  # the missing constraint, and real overlaps
        assert TableOccupancy.objects.active().count() > 1
    finally:
        TableOccupancy.objects.all().delete()
        restore_no_overlap_constraint()


def test_without_the_lock_the_constraint_still_prevents_double_booking(
    one_table_restaurant: Restaurant, guard_off: None, slow_writes: None
) -> None:
    race(6, lambda i: admit(one_table_restaurant), workers=6)
    report = integrity()
    assert report.counts()["overlap"] == 0
    assert TableOccupancy.objects.active().count() == 1
    # The losers hit 23P01 in the database and stayed pending, to be retried; none got a 500.
    assert Booking.objects.filter(status=Booking.Status.CONFIRMED).count() == 1


def test_racing_background_attempts_assign_each_booking_once(small_restaurant: Restaurant) -> None:
    pending = [
        booking_admit(
            restaurant=small_restaurant, party_size=2, starts_at=evening(), guest_name="P", assign=False
        ).booking.pk
        for _ in range(4)
    ]
    race(
        20,
        lambda i: booking_allocate(booking_id=pending[i % 4], mode="background", attempt=i // 4 + 1).outcome,
    )
    for pk in pending:
        assert Booking.objects.get(pk=pk).status == Booking.Status.CONFIRMED
        assert TableOccupancy.objects.active().filter(booking_id=pk).count() >= 1
    assert integrity().ok


def test_a_full_evening_filled_from_many_threads_stays_clean() -> None:
    from bookings.demo import DEMO_SLUG, seed_demo

    seed_demo()
    restaurant = Restaurant.objects.get(slug=DEMO_SLUG)
    day = evening(days_ahead=8)
    weekday_rules = CapacityRule.objects.filter(period__restaurant=restaurant, period__weekday=day.weekday())
    assert weekday_rules.exists()
    starts = [day.replace(hour=17, minute=30) + timedelta(minutes=15 * k) for k in range(15)]  # 17:30–21:00

    def one(i: int) -> str:
        return admit(restaurant, party=1 + (i * 7) % 8, starts_at=starts[i % len(starts)])

    results = race(240, one)
    counts = Counter(results)
    assert counts["confirmed"] > 40, counts
    report = integrity()
    assert report.ok, report.render()
