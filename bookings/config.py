"""A restaurant's configuration, read once per process and keyed by its version.

Configuration (the restaurant row, its service periods with their rules, date overrides, tables
and adjacency) changes a few times a week and is needed by every request. A database trigger
bumps ``Restaurant.config_version`` in the transaction of any change to it (migration 0003), so a
process keeps what it loaded for as long as the version it reads is the same:

- every request reads the version with the restaurant's id in one short statement
  (``restaurant_versions``), and takes the configuration from memory when it matches;
- admission reads the version again under its lock and re-plans with fresh configuration when it
  moved in between (bookings/services/admission.py), so no decision is taken on stale rules.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from django.db import connection

from allocator.planner import TableInfo
from bookings.models import CapacityOverride, Restaurant, ServicePeriod, Table, TableAdjacency


@dataclass(frozen=True, slots=True)
class FloorLayout:
    """A restaurant's tables and which may be joined."""

    restaurant_id: int
    tables: tuple[TableInfo, ...]
    adjacency: frozenset[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class RestaurantConfig:
    """Everything about a restaurant that decisions read and staff rarely change."""

    restaurant: Restaurant
    version: int
    periods_by_weekday: dict[int, tuple[ServicePeriod, ...]]
    overrides_by_date: dict[date, dict[str, CapacityOverride]]
    layout: FloorLayout
    tz: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", ZoneInfo(self.restaurant.timezone))

    def periods_on(self, local_date: date) -> list[ServicePeriod]:
        """Return the service periods of that date's weekday, by opening time."""
        return list(self.periods_by_weekday.get(local_date.weekday(), ()))

    def overrides_on(self, local_date: date) -> dict[str, CapacityOverride]:
        """Return the date's overrides keyed by period kind ("" = the whole day)."""
        return dict(self.overrides_by_date.get(local_date, {}))


def load_config(restaurant_id: int) -> RestaurantConfig:
    """Read a restaurant's whole configuration (five statements; also inside a transaction)."""
    restaurant = Restaurant.objects.get(pk=restaurant_id)
    periods: dict[int, list[ServicePeriod]] = {}
    for period in (
        ServicePeriod.objects.filter(restaurant_id=restaurant_id)
        .select_related("capacity_rule")
        .order_by("weekday", "opens")
    ):
        period.restaurant = restaurant  # no lazy load of the restaurant from a cached period
        periods.setdefault(period.weekday, []).append(period)
    overrides: dict[date, dict[str, CapacityOverride]] = {}
    for override in CapacityOverride.objects.filter(restaurant_id=restaurant_id):
        overrides.setdefault(override.date, {})[override.period_kind] = override
    tables = tuple(
        TableInfo(
            id=pk,
            label=label,
            section=section,
            min_party=min_party,
            max_party=max_party,
            active=active,
            combinable=combinable,
            restaurant_id=restaurant_id,
        )
        for pk, label, section, min_party, max_party, active, combinable in Table.objects.filter(
            restaurant_id=restaurant_id
        )
        .order_by("pk")
        .values_list("pk", "label", "section", "min_party", "max_party", "active", "combinable")
    )
    adjacency = frozenset(
        TableAdjacency.objects.filter(restaurant_id=restaurant_id).values_list("table_a_id", "table_b_id")
    )
    return RestaurantConfig(
        restaurant=restaurant,
        version=restaurant.config_version,
        periods_by_weekday={weekday: tuple(items) for weekday, items in periods.items()},
        overrides_by_date=overrides,
        layout=FloorLayout(restaurant_id=restaurant_id, tables=tables, adjacency=adjacency),
    )


_cache: dict[int, RestaurantConfig] = {}
_cache_lock = threading.Lock()


def config_at(restaurant_id: int, version: int) -> RestaurantConfig:
    """Return the configuration at ``version``: from memory when it is that one, else read anew."""
    cached = _cache.get(restaurant_id)
    if cached is not None and cached.version == version:
        return cached
    config = load_config(restaurant_id)
    with _cache_lock:
        current = _cache.get(restaurant_id)
        if current is None or current.version <= config.version:
            _cache[restaurant_id] = config
    return config


def config_for(restaurant_id: int) -> RestaurantConfig:
    """Return the configuration in force now (one statement when memory has it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT config_version FROM bookings_restaurant WHERE id = %s", [restaurant_id])
        row = cursor.fetchone()
    if row is None:
        raise Restaurant.DoesNotExist(f"no restaurant {restaurant_id}")
    return config_at(restaurant_id, row[0])


@dataclass(frozen=True, slots=True)
class RestaurantVersions:
    """What one statement tells about a restaurant: its id and the versions an answer depends on."""

    restaurant_id: int
    config_version: int
    day_version: int
    key_used: bool = False  # whether the request's Idempotency-Key is known (asked with ``key``)
    # flags.models.FlagsVersion, for flags.get_all(version=...); None: not read, ask flags as usual.
    flags_version: int | None = None


def restaurant_versions(
    slug: str, day: date | None = None, key: str | None = None
) -> RestaurantVersions | None:
    """Return the restaurant's id, configuration, flags and (for ``day``) day versions, or None.

    With ``key``, also whether that Idempotency-Key was used before: a booking request learns in
    this one statement whether a refusal may come from the cached day (bookings/services/create.py).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.id, r.config_version,"
            " COALESCE((SELECT d.version FROM bookings_dayversion d"
            " WHERE d.restaurant_id = r.id AND d.day = %s), 0),"
            " %s::text IS NOT NULL AND EXISTS (SELECT 1 FROM bookings_idempotencykey k"
            " WHERE k.restaurant_id = r.id AND k.key = %s),"
            " (SELECT f.value FROM flags_flagsversion f WHERE f.id = 1)"
            " FROM bookings_restaurant r WHERE r.slug = %s",
            [day, key, key, slug],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return RestaurantVersions(
        restaurant_id=row[0],
        config_version=row[1],
        day_version=row[2],
        key_used=bool(row[3]),
        flags_version=row[4],
    )
