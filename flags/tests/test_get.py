"""flags.get: precedence, scopes, caching, and answers when Redis is away."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

import flags
from bookings.tests.factories import RestaurantFactory
from flags import store
from flags.models import FlagOverride
from flags.services import change_approve, change_propose

pytestmark = pytest.mark.django_db


def _set(carol: Any, dave: Any, key: str, value: Any, restaurant_id: int | None = None) -> None:
    change = change_propose(proposer=carol, key=key, value=value, reason="test", restaurant_id=restaurant_id)
    change_approve(change_request=change, approver=dave)


@pytest.mark.parametrize(("environment", "expected"), [("dev", True), ("staging", False), ("prod", False)])
def test_it_answers_the_environment_default(settings: Any, environment: str, expected: bool) -> None:
    settings.RESERVEX_ENV = environment
    assert flags.get("debug.capacity_profiling") is expected


def test_it_refuses_an_unknown_key() -> None:
    with pytest.raises(flags.UnknownFlag):
        flags.get("no.such.flag")


def test_restaurant_beats_global_beats_default(carol: Any, dave: Any) -> None:
    one, two = RestaurantFactory(), RestaurantFactory()
    assert flags.get("allocator.max_merge_tables", one) == 3

    _set(carol, dave, "allocator.max_merge_tables", 4)
    _set(carol, dave, "allocator.max_merge_tables", 5, restaurant_id=one.pk)

    assert flags.get("allocator.max_merge_tables") == 4
    assert flags.get("allocator.max_merge_tables", one) == 5  # model instance
    assert flags.get("allocator.max_merge_tables", one.pk) == 5  # plain id
    assert flags.get("allocator.max_merge_tables", two) == 4  # inherits the global override
    assert flags.get("allocator.max_merge_tables", None) == 4


def test_get_all_agrees_with_get(carol: Any, dave: Any) -> None:
    _set(carol, dave, "allocator.max_merge_tables", 4)
    _set(carol, dave, "holds.strict_conflicts", True, restaurant_id=1)
    for restaurant in (None, 1, 2):
        assert flags.get_all(restaurant) == {key: flags.get(key, restaurant) for key in flags.REGISTRY}


def test_a_cached_scope_costs_one_cache_call_and_no_query(
    carol: Any, dave: Any, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    _set(carol, dave, "allocator.max_merge_tables", 4, restaurant_id=7)
    flags.get("allocator.max_merge_tables", 7)  # warm both scopes
    real_cache = store._cache()
    calls: list[str] = []

    class CountingCache:
        def get_many(self, keys: list[str]) -> dict[str, Any]:
            calls.append("get_many")
            return real_cache.get_many(keys)

    monkeypatch.setattr(store, "_cache", CountingCache)
    with django_assert_num_queries(0):
        assert flags.get("allocator.max_merge_tables", 7) == 4
        assert flags.get("allocator.merges_enabled", 7) is True
    assert calls == ["get_many", "get_many"]


def test_scopes_without_overrides_are_cached_too(django_assert_num_queries: Any) -> None:
    flags.get("allocator.max_merge_tables", 99)
    with django_assert_num_queries(0):
        assert flags.get("allocator.max_merge_tables", 99) == 3


def test_a_row_written_behind_the_cache_shows_within_the_ttl(settings: Any) -> None:
    settings.FLAGS_CACHE_TTL_SECONDS = 1
    assert flags.get("allocator.max_merge_tables", 5) == 3  # cached
    FlagOverride.objects.create(key="allocator.max_merge_tables", restaurant_id=5, value=6)
    assert flags.get("allocator.max_merge_tables", 5) == 3  # still cached: nobody invalidated
    time.sleep(1.1)
    assert flags.get("allocator.max_merge_tables", 5) == 6


def test_an_invalid_row_is_ignored_not_served() -> None:
    FlagOverride.objects.create(key="allocator.inline_timeout_ms", value=60_000)
    FlagOverride.objects.create(key="capacity.enforcement", value="sometimes")
    assert flags.get("allocator.inline_timeout_ms") == 25_000
    assert flags.get("capacity.enforcement") == "enforce"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_answers_from_the_database_when_redis_is_unreachable(settings: Any, carol: Any, dave: Any) -> None:
    _set(carol, dave, "allocator.max_merge_tables", 5, restaurant_id=3)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    started = time.monotonic()
    for _ in range(50):
        assert flags.get("allocator.max_merge_tables", 3) == 5
        assert flags.get("allocator.max_merge_tables") == 3
    # After the first failure Redis is skipped for a while: an outage costs one timeout, not one per call.
    assert time.monotonic() - started < 2


def test_a_change_made_while_redis_is_unreachable_still_applies(settings: Any, carol: Any, dave: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    _set(carol, dave, "allocator.merges_enabled", False)
    assert flags.get("allocator.merges_enabled") is False
