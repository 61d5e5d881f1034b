"""Shared fixtures: the fixed cast for permission tests, small restaurants, flag overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache

import flags
from bookings.availability import recent_days
from bookings.models import Restaurant
from bookings.tests.factories import RestaurantFactory, TableFactory, UserFactory, adjacency, open_every_day


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Start every test with no cached flags, days or throttle counts from an earlier test.

    Deletes only ReserveX's cache keys (its key prefix), never Celery's queues in the same Redis,
    and this process's recent days and flag values kept by version.
    """
    recent_days.clear()
    flags.forget_versions()
    try:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except Exception:  # noqa: BLE001 - tests that stop Redis on purpose start without it
        pass
    yield


@pytest.fixture(autouse=True)
def _telemetry_at_once(settings: Any) -> None:
    """Store refusal events at once, not in batches: each test then sees, and rolls back, its own.

    observability/tests/test_event_buffer.py tests the batches themselves.
    """
    settings.TELEMETRY_BUFFER_SECONDS = 0


@pytest.fixture
def alice_restaurant(db: None) -> Restaurant:
    return RestaurantFactory(slug="alices-diner", name="Alice's Diner")


@pytest.fixture
def bob_restaurant(db: None) -> Restaurant:
    return RestaurantFactory(slug="bobs-bistro", name="Bob's Bistro")


@pytest.fixture
def alice(alice_restaurant: Restaurant):  # type: ignore[no-untyped-def]
    """Staff of Alice's Diner."""
    from bookings.demo import staff_group

    user = UserFactory(username="alice")
    user.groups.add(staff_group())
    alice_restaurant.staff.add(user)
    return user


@pytest.fixture
def bob(bob_restaurant: Restaurant):  # type: ignore[no-untyped-def]
    """Staff of another restaurant (Bob's Bistro)."""
    from bookings.demo import staff_group

    user = UserFactory(username="bob")
    user.groups.add(staff_group())
    bob_restaurant.staff.add(user)
    return user


@pytest.fixture
def small_restaurant(db: None) -> Restaurant:
    """Dinner 17:00–23:00 every day, last seating 21:00, no limits; tables 2, 2, 4, 4, 6 (T1–T2 join)."""
    restaurant = RestaurantFactory(slug="small-place", name="Small Place")
    open_every_day(restaurant)
    t1 = TableFactory(restaurant=restaurant, label="T1", max_party=2)
    t2 = TableFactory(restaurant=restaurant, label="T2", max_party=2)
    TableFactory(restaurant=restaurant, label="T3", max_party=4)
    TableFactory(restaurant=restaurant, label="T4", max_party=4)
    TableFactory(restaurant=restaurant, label="T6", max_party=6, min_party=3)
    adjacency(t1, t2)
    return restaurant


@pytest.fixture
def one_table_restaurant(db: None) -> Restaurant:
    restaurant = RestaurantFactory(slug="one-table", name="One Table")
    open_every_day(restaurant)
    TableFactory(restaurant=restaurant, label="ONLY", max_party=4)
    return restaurant


@pytest.fixture
def two_tops(db: None) -> Restaurant:
    """Two 2-tops that join, and nothing else: a party of 4 needs the planner's combination search."""
    restaurant = RestaurantFactory(slug="two-tops", name="Two Tops")
    open_every_day(restaurant)
    adjacency(
        TableFactory(restaurant=restaurant, label="A", max_party=2),
        TableFactory(restaurant=restaurant, label="B", max_party=2),
    )
    return restaurant


@pytest.fixture
def set_flags(db: None) -> Callable[..., None]:
    """Set global flag overrides for one test: ``set_flags(**{"capacity.enforcement": "shadow"})``.

    Writes the override rows directly (test set-up, not the two-person workflow under test).
    """
    from flags import store
    from flags.models import FlagOverride

    def apply(**values: Any) -> None:
        for key, value in values.items():
            FlagOverride.objects.update_or_create(key=key, restaurant_id=None, defaults={"value": value})
        store.invalidate(None)

    return apply
