"""The hot read path of overrides: one Redis round trip per ``flags.get``, the database as fallback.

Two scopes are cached, each under its own key: the global entry holds the global overrides and
every cohort and percentage target; a restaurant's entry holds its overrides and the names of its
cohorts. A restaurant's read is one MGET of those two keys, whatever the targeting, and a change
invalidates exactly the keys it affects (a target: the global key; a cohort's membership: its
members' keys). Scopes with nothing in them are cached too, so they do not hit the database
either. When Redis fails, reads go to the database and Redis is left alone for a few seconds, so an
outage costs one timeout, not one per call.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from flags.targeting import Targets

logger = logging.getLogger("reservex.flags")

# v2: entries hold overrides and targeting (v1 held overrides only).
CACHE_KEY_PREFIX = "flags:overrides:v2:"
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


@dataclass(frozen=True, slots=True)
class Layers:
    """What one restaurant's flag values are made of (see flags.targeting for the precedence)."""

    restaurant_overrides: dict[str, Any]
    cohorts: tuple[str, ...]
    global_overrides: dict[str, Any]
    targets: Targets


def _usable(rows: Any) -> dict[str, Any]:
    from flags.selectors import override_error

    # A row written behind the services' back is ignored here and reported by the checks.
    return {key: value for key, value in rows if override_error(key, value) is None}


def _load_global() -> dict[str, Any]:
    """Read the global overrides and every cohort and percentage target."""
    from flags.models import FlagOverride, FlagTarget

    targets = Targets()
    for key, cohort_name, percentage, value in FlagTarget.objects.order_by("key", "cohort__name").values_list(
        "key", "cohort__name", "percentage", "value"
    ):
        if _usable([(key, value)]):
            if cohort_name is not None:
                targets.cohorts.setdefault(key, []).append((cohort_name, value))
            elif percentage is not None:
                targets.percentages[key] = (percentage, value)
    overrides = _usable(FlagOverride.objects.filter(restaurant_id__isnull=True).values_list("key", "value"))
    return {"overrides": overrides, "targets": targets.as_cached()}


def _load_restaurant(restaurant_id: int) -> dict[str, Any]:
    """Read one restaurant's overrides and the names of its cohorts."""
    from flags.models import CohortMember, FlagOverride

    overrides = _usable(FlagOverride.objects.filter(restaurant_id=restaurant_id).values_list("key", "value"))
    cohorts = sorted(
        CohortMember.objects.filter(restaurant_id=restaurant_id).values_list("cohort__name", flat=True)
    )
    return {"overrides": overrides, "cohorts": cohorts}


def _load(scope: int | None) -> dict[str, Any]:
    return _load_global() if scope is None else _load_restaurant(scope)


def layers(restaurant_id: int | None, *, from_database: bool = False) -> Layers:
    """Return the overrides, cohorts and targets that decide this restaurant's values.

    One MGET of two keys when both are cached; the database on a miss, or always ``from_database``.
    """
    scopes: list[int | None] = [None] if restaurant_id is None else [None, restaurant_id]
    keys = {scope: cache_key(scope) for scope in scopes}
    found: dict[str, Any] = {}
    use_cache = not from_database and _cache_usable()
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
        loaded = {scope: _load(scope) for scope in missing}
        values.update(loaded)
        if use_cache:
            try:
                _cache().set_many({keys[scope]: loaded[scope] for scope in missing}, timeout=_ttl())
            except Exception as exc:  # noqa: BLE001
                _cache_failed(exc)
    own = {} if restaurant_id is None else values[restaurant_id]
    return Layers(
        restaurant_overrides=own.get("overrides", {}),
        cohorts=tuple(own.get("cohorts", ())),
        global_overrides=values[None].get("overrides", {}),
        targets=Targets.from_cached(values[None].get("targets", {})),
    )


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
