"""Which value of a flag a restaurant gets: the precedence and the percentage hash (pure).

Precedence, highest first:

1. the restaurant's own override;
2. a cohort target of a cohort the restaurant is in (the first cohort by name when several
   targeted cohorts disagree);
3. the percentage target, when the restaurant's bucket falls under the percentage;
4. the global override;
5. the registry's default for the environment.

A restaurant's bucket is a stable hash of (flag key, restaurant id) into 0..9 999, and a
percentage P covers the buckets below P × 100. Raising P only adds buckets, so raising a rollout
from 10 to 50 to 100 % only adds restaurants; the key is part of the hash so that two flags at 10 %
do not pick the same restaurants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

BUCKETS = 10_000


@lru_cache(maxsize=65_536)
def bucket(key: str, restaurant_id: int) -> int:
    """Return the restaurant's stable bucket (0..9 999) for this flag."""
    digest = hashlib.sha256(f"{key}:{restaurant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_percentage(key: str, restaurant_id: int, percentage: int) -> bool:
    """Return whether a percentage target of this flag covers the restaurant."""
    return bucket(key, restaurant_id) < percentage * (BUCKETS // 100)


@dataclass(slots=True)
class Targets:
    """Every flag's cohort and percentage targets: what the global cache entry holds besides overrides.

    ``cohorts[key]`` is [(cohort name, value)] sorted by name; ``percentages[key]`` is
    (percentage, value).
    """

    cohorts: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    percentages: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def as_cached(self) -> dict[str, Any]:
        return {"cohorts": self.cohorts, "percentages": self.percentages}

    @classmethod
    def from_cached(cls, data: Mapping[str, Any]) -> Targets:
        return cls(
            {key: [(pair[0], pair[1]) for pair in pairs] for key, pairs in data.get("cohorts", {}).items()},
            {key: (int(pair[0]), pair[1]) for key, pair in data.get("percentages", {}).items()},
        )

    def flag_keys(self) -> set[str]:
        return set(self.cohorts) | set(self.percentages)


def targeted_value(
    key: str, restaurant_id: int, cohorts_of_restaurant: Iterable[str], targets: Targets
) -> tuple[bool, Any, str]:
    """Return (found, value, source) of the cohort or percentage target that covers the restaurant."""
    member_of = set(cohorts_of_restaurant)
    for cohort_name, value in targets.cohorts.get(key, ()):
        if cohort_name in member_of:
            return True, value, f"cohort {cohort_name}"
    percentage = targets.percentages.get(key)
    if percentage is not None and in_percentage(key, restaurant_id, percentage[0]):
        return True, percentage[1], f"{percentage[0]} % of restaurants"
    return False, None, ""


def resolve_all(
    *,
    defaults: Mapping[str, Any],
    global_overrides: Mapping[str, Any],
    targets: Targets,
    restaurant_id: int | None,
    restaurant_overrides: Mapping[str, Any],
    cohorts_of_restaurant: Iterable[str],
) -> dict[str, Any]:
    """Return every flag's value in force for one restaurant (or globally for None), by precedence."""
    values = dict(defaults)
    values.update(global_overrides)
    if restaurant_id is None:
        return values
    member_of = tuple(cohorts_of_restaurant)
    for key in targets.flag_keys():
        if key in values:
            found, value, _ = targeted_value(key, restaurant_id, member_of, targets)
            if found:
                values[key] = value
    values.update(restaurant_overrides)
    return values
