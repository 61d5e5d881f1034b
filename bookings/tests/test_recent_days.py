"""A process keeps the day answers it read or computed (bookings.availability.recent_days), by the
same key as the shared cache: a burst for one day is answered from memory. What makes that safe is
tested in bookings/tests/api/test_caches_never_stale.py (every change moves the key); here, what
the memory itself does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

import flags
from bookings.availability import (
    CachedDay,
    RecentDays,
    _day_key,
    availability_day_cached,
    cached_day,
    recent_days,
)
from bookings.config import restaurant_versions
from bookings.models import Restaurant
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db


def _forget_shared_cache() -> None:
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*availability*"))
    if keys:
        client.delete(*keys)


def test_the_oldest_answer_leaves_first_when_memory_is_full() -> None:
    days = RecentDays(size=2)
    entries = {key: CachedDay(slots=[], valid_until=None) for key in "abc"}
    days.put("a", entries["a"])
    days.put("b", entries["b"])
    assert days.get("a") is entries["a"]  # "a" is now the most recent
    days.put("c", entries["c"])
    assert days.get("b") is None and days.get("a") is entries["a"] and days.get("c") is entries["c"]


def test_a_day_read_once_is_answered_from_memory_without_the_shared_cache(
    one_table_restaurant: Restaurant,
) -> None:
    day = evening().date()
    versions = restaurant_versions(one_table_restaurant.slug, day)
    assert versions is not None
    now = timezone.now()
    flag_values = flags.get_all(one_table_restaurant)
    computed = availability_day_cached(versions, day, 2, now=now, flag_values=flag_values)
    _forget_shared_cache()
    assert cached_day(versions, day, 2, now=now, flag_values=flag_values) == computed
    # Without memory either, nothing is cached: the answer above came from memory.
    recent_days.clear()
    assert cached_day(versions, day, 2, now=now, flag_values=flag_values) is None


def test_an_answer_in_memory_is_not_used_past_its_valid_until(one_table_restaurant: Restaurant) -> None:
    day = evening().date()
    versions = restaurant_versions(one_table_restaurant.slug, day)
    assert versions is not None
    now = timezone.now()
    flag_values = flags.get_all(one_table_restaurant)
    availability_day_cached(versions, day, 2, now=now, flag_values=flag_values)
    assert cached_day(versions, day, 2, now=now, flag_values=flag_values) is not None
    # Pretend a hold of that day expires in a second: the same entry, an earlier valid_until.
    slots = cached_day(versions, day, 2, now=now, flag_values=flag_values)
    assert slots is not None
    _forget_shared_cache()
    recent_days.clear()
    recent_days.put(
        _day_key(versions, day, 2, flag_values),
        CachedDay(slots=slots, valid_until=now + timedelta(seconds=1)),
    )
    assert cached_day(versions, day, 2, now=now, flag_values=flag_values) == slots
    assert cached_day(versions, day, 2, now=now + timedelta(seconds=1), flag_values=flag_values) is None


def test_where_each_day_answer_came_from_is_counted(one_table_restaurant: Restaurant) -> None:
    from prometheus_client import REGISTRY

    def count(source: str) -> float:
        return REGISTRY.get_sample_value("reservex_availability_days_total", {"source": source}) or 0.0

    day = evening().date()
    versions = restaurant_versions(one_table_restaurant.slug, day)
    assert versions is not None
    now = timezone.now()
    flag_values = flags.get_all(one_table_restaurant)
    before = {source: count(source) for source in ("computed", "memory", "shared")}
    availability_day_cached(versions, day, 2, now=now, flag_values=flag_values)  # computed
    availability_day_cached(versions, day, 2, now=now, flag_values=flag_values)  # from memory
    recent_days.clear()
    availability_day_cached(versions, day, 2, now=now, flag_values=flag_values)  # from Redis
    assert {source: count(source) - before[source] for source in before} == {
        "computed": 1,
        "memory": 1,
        "shared": 1,
    }


def test_a_miss_asks_redis_once_and_stores_once(
    one_table_restaurant: Restaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = evening().date()
    versions = restaurant_versions(one_table_restaurant.slug, day)
    assert versions is not None
    flag_values = flags.get_all(one_table_restaurant)
    _forget_shared_cache()
    recent_days.clear()
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    commands: list[str] = []
    execute = client.execute_command

    def counting(*args: object, **options: object) -> object:
        commands.append(str(args[0]).upper())
        return execute(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)

    availability_day_cached(versions, day, 2, now=timezone.now(), flag_values=flag_values)

    assert commands == ["GET", "SET"]
