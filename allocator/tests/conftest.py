"""A small restaurant open every evening, and helpers to book it at a future time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

import flags
from bookings.models import Restaurant, Table
from bookings.tests.factories import RestaurantFactory, TableFactory, adjacency, open_every_day


def evening(hour: int = 19, minute: int = 0, days_ahead: int = 7) -> datetime:
    """Return a start time on the slot grid a week from now (the restaurants here run on UTC)."""
    day: date = (timezone.now() + timedelta(days=days_ahead)).date()
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


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
def set_flags(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Pin flag values for one test: ``set_flags(**{"capacity.enforcement": "shadow"})``."""
    pinned: dict[str, Any] = {}
    real_get = flags.get

    def fake_get(key: str, restaurant: Any = None) -> Any:
        return pinned[key] if key in pinned else real_get(key, restaurant)

    monkeypatch.setattr(flags, "get", fake_get)
    yield lambda **values: pinned.update(values)


def tables_of(booking: Any) -> list[str]:
    return sorted(booking.occupancies.filter(released_at__isnull=True).values_list("table__label", flat=True))


__all__ = ["Table", "evening", "tables_of"]
