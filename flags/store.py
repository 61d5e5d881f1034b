"""The hot read path of overrides: one Redis round trip per ``flags.get``, the database as fallback.

Each scope (global, restaurant N) is cached as one dict of its usable overrides under its own key,
so a restaurant's read is one MGET of two keys and a change invalidates exactly one key. Scopes
without overrides are cached as empty dicts, so restaurants with no overrides do not hit the
database either. When Redis fails, reads go to the database and Redis is left alone for a few
seconds, so an outage costs one timeout, not one per call.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Q

logger = logging.getLogger("reservex.flags")

CACHE_KEY_PREFIX = "flags:overrides:v1:"
DEFAULT_TTL_SECONDS = 5.0
# After a cache failure, how long reads skip Redis and go straight to the database.
CACHE_RETRY_AFTER_SECONDS = 5.0

_cache_down_until = 0.0
_cache_state_lock = threading.Lock()


def cache_key(restaurant_id: int | None) -> str:
    return f"{CACHE_KEY_PREFIX}{'global' if restaurant_id is None else restaurant_id}"


def _ttl() -> float:
    return float(getattr(settings, "FLAGS_CACHE_TTL_SECONDS", DEFAULT_TTL_SECONDS))


def _cache() -> Any:
    return caches[getattr(settings, "FLAGS_CACHE_ALIAS", "default")]


def _cache_usable() -> bool:
    return time.monotonic() >= _cache_down_until


def _cache_failed(exc: Exception) -> None:
    global _cache_down_until
    with _cache_state_lock:
        first = _cache_usable()
        _cache_down_until = time.monotonic() + CACHE_RETRY_AFTER_SECONDS
    if first:  # once per outage window, not once per call on the hot path
        logger.warning(
            "flag cache unavailable (%s: %s); reading overrides from the database", type(exc).__name__, exc
        )


def reset_cache_state() -> None:
    """Forget an earlier cache failure (tests; an operator after fixing Redis need not bother)."""
    global _cache_down_until
    _cache_down_until = 0.0


def _load(scopes: list[int | None]) -> dict[int | None, dict[str, Any]]:
    """Read the usable overrides of these scopes from the database, in one query."""
    from flags.models import FlagOverride
    from flags.selectors import override_error

    condition = Q()
    for restaurant_id in scopes:
        condition |= (
            Q(restaurant_id__isnull=True) if restaurant_id is None else Q(restaurant_id=restaurant_id)
        )
    loaded: dict[int | None, dict[str, Any]] = {scope: {} for scope in scopes}
    for key, restaurant_id, value in FlagOverride.objects.filter(condition).values_list(
        "key", "restaurant_id", "value"
    ):
        # A row written behind the services' back is ignored here and reported by the checks.
        if override_error(key, value) is None:
            loaded[restaurant_id][key] = value
    return loaded


def overrides(restaurant_id: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (this restaurant's overrides, the global overrides); empty dicts when none."""
    scopes: list[int | None] = [None] if restaurant_id is None else [None, restaurant_id]
    keys = {scope: cache_key(scope) for scope in scopes}
    found: dict[str, Any] = {}
    use_cache = _cache_usable()
    if use_cache:
        try:
            found = _cache().get_many(list(keys.values()))
        except Exception as exc:  # noqa: BLE001 - any cache failure degrades to the database
            _cache_failed(exc)
            use_cache = False
    values: dict[int | None, dict[str, Any]] = {
        scope: found[key] for scope, key in keys.items() if isinstance(found.get(key), dict)
    }
    missing = [scope for scope in scopes if scope not in values]
    if missing:
        loaded = _load(missing)
        values.update(loaded)
        if use_cache:
            try:
                _cache().set_many({keys[scope]: loaded[scope] for scope in missing}, timeout=_ttl())
            except Exception as exc:  # noqa: BLE001
                _cache_failed(exc)
    restaurant_values = {} if restaurant_id is None else values[restaurant_id]
    return restaurant_values, values[None]


def _delete(restaurant_id: int | None) -> None:
    try:
        _cache().delete(cache_key(restaurant_id))
    except Exception as exc:  # noqa: BLE001 - the TTL bounds staleness when Redis is away
        _cache_failed(exc)


def invalidate(restaurant_id: int | None) -> None:
    """Drop one scope's cached overrides now and again after the transaction commits.

    Now, so this transaction's later reads do not see the old value; after commit, because a
    concurrent reader may have cached the old value between the first delete and the commit.
    """
    _delete(restaurant_id)
    transaction.on_commit(partial(_delete, restaurant_id))
