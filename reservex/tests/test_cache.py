"""The Redis cache keeps one client per pool (reservex/cache.py) and still works from many threads."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from django.core.cache import cache, caches

from reservex.cache import SharedClientRedisCache


def test_the_default_cache_reuses_one_client_per_pool() -> None:
    assert isinstance(caches["default"], SharedClientRedisCache)
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    assert cache._cache.get_client(write=True) is client  # type: ignore[attr-defined]


def test_the_shared_client_serves_many_threads() -> None:
    prefix = f"test-cache-{uuid.uuid4().hex}"

    def round_trip(index: int) -> int:
        cache.set(f"{prefix}-{index}", index, 30)
        cache.add(f"{prefix}-counter", 0, 30)
        assert cache.incr(f"{prefix}-counter") >= 1
        return int(cache.get(f"{prefix}-{index}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(round_trip, range(200)))
    assert values == list(range(200))
    assert cache.get(f"{prefix}-counter") == 200
    cache.delete_many([f"{prefix}-{i}" for i in range(200)] + [f"{prefix}-counter"])
