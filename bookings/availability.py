"""Availability: which start times of a day can seat a party, and how full each is (reads only).

One day is answered from one load of the day's bookings, holds and floor; each slot is then
checked in memory with the same pure capacity rules and planner that admission uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

import flags
from allocator.capacity import CapacityLimits, CapacityRequest, EnforcementMode, Seating, evaluate, usage_at
from allocator.planner import FloorSnapshot, PlannerSettings, PlanRequest, plan_tables
from bookings.config import RestaurantConfig, RestaurantVersions, config_at, config_for
from bookings.errors import DomainError
from bookings.models import Restaurant
from bookings.slots import exists_locally, local_datetime
from bookings.snapshots import limits_for, planner_settings_from, read_day_state, slot_times
from observability import metrics

MAX_ALTERNATIVES = 6


@dataclass(frozen=True, slots=True)
class SlotAvailability:
    time: time
    starts_at: datetime
    available: bool
    max_covers: int | None
    booked_covers: int
    remaining_covers: int | None
    reason: str | None  # why not available: past, closed, max_covers, pacing, no_table_free, ...

    @property
    def utilization_percent(self) -> float | None:
        if not self.max_covers:
            return None
        return round(100 * self.booked_covers / self.max_covers, 1)


def availability_day(
    restaurant: Restaurant,
    local_date: date,
    party_size: int,
    *,
    now: datetime,
    config: RestaurantConfig | None = None,
    flag_values: Mapping[str, Any] | None = None,
) -> list[SlotAvailability]:
    """Return every start time of the day, in order, with whether it can seat the party."""
    return _compute_day(
        config or config_for(restaurant.pk),
        local_date,
        party_size,
        now=now,
        flag_values=flag_values or flags.get_all(restaurant),
    )[0]


def _compute_day(
    config: RestaurantConfig,
    local_date: date,
    party_size: int,
    *,
    now: datetime,
    flag_values: Mapping[str, Any],
) -> tuple[list[SlotAvailability], datetime | None]:
    """Return the day's slots and the instant the answer may change without any write (or None)."""
    restaurant = config.restaurant
    tz = config.tz
    today = now.astimezone(tz).date()
    horizon_end = today + timedelta(days=restaurant.booking_horizon_days)
    if not today - timedelta(days=1) <= local_date <= horizon_end:
        return [], None  # nothing bookable; also keeps date arithmetic far from datetime's limits
    periods = config.periods_on(local_date)
    if not periods:
        return [], None
    overrides = config.overrides_on(local_date)
    interval = timedelta(minutes=restaurant.slot_interval_minutes)
    turn = restaurant.turn_time(party_size)
    mode = EnforcementMode(flag_values["capacity.enforcement"])
    settings = planner_settings_from(flag_values)

    # One read for the whole day: from the first start to the last end any slot could need.
    day_start = local_datetime(restaurant, local_date, periods[0].opens)
    day_end = max(local_datetime(restaurant, local_date, p.last_seating) for p in periods) + max(
        turn, timedelta(minutes=max(m for _, m in restaurant.turn_times))
    )
    state = read_day_state(restaurant.pk, day_start, day_end, now=now, with_windows=True, day=local_date)
    seatings = state.seatings(day_start, day_end, exclude_hold_id=None)
    floor = FloorSnapshot(
        restaurant_id=restaurant.pk,
        tables=config.layout.tables,
        adjacency=config.layout.adjacency,
        busy=state.busy,
    )
    # The answer changes by itself when a hold expires or a slot passes: it is valid until then.
    changes_at = state.next_hold_expiry()

    slots: list[SlotAvailability] = []
    for period in periods:
        limits = limits_for(period, overrides)
        for slot_time in slot_times(period, restaurant.slot_interval_minutes):
            starts_at = local_datetime(restaurant, local_date, slot_time)
            if not exists_locally(restaurant, starts_at, slot_time):
                continue  # skipped by the clocks going forward
            ends_at = starts_at + turn
            reason: str | None
            if starts_at <= now or limits.closed:
                reason = "past" if starts_at <= now else "closed"
                booked = usage_at(seatings, starts_at, ends_at, interval).peak_covers
            else:
                if changes_at is None or starts_at < changes_at:
                    changes_at = starts_at
                reason, booked = _refusal(
                    floor, seatings, party_size, starts_at, ends_at, interval, limits, mode, settings
                )
            remaining = None if limits.max_covers is None else max(0, limits.max_covers - booked)
            slots.append(
                SlotAvailability(
                    time=slot_time,
                    starts_at=starts_at,
                    available=reason is None,
                    max_covers=limits.max_covers,
                    booked_covers=booked,
                    remaining_covers=remaining,
                    reason=reason,
                )
            )
    return slots, changes_at


# A day's answer is kept until a write changes the day (its version), the configuration or the
# flags change (part of the key), or a hold expires or a slot passes (``valid_until``); the time
# limit only bounds memory.
AVAILABILITY_CACHE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class CachedDay:
    slots: list[SlotAvailability]
    valid_until: datetime | None


class RecentDays:
    """The last answers this process read or computed, by cache key: a burst for one day (a hot
    slot, a popular evening) is served from memory, without a Redis round trip or unpickling.

    Safe for the same reason the shared cache is: the key holds every version the answer depends
    on, read fresh for each request, and ``valid_until`` is checked on every read.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._days: OrderedDict[str, CachedDay] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedDay | None:
        with self._lock:
            entry = self._days.get(key)
            if entry is not None:
                self._days.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedDay) -> None:
        with self._lock:
            self._days[key] = entry
            self._days.move_to_end(key)
            while len(self._days) > self.size:
                self._days.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._days.clear()


recent_days = RecentDays(size=256)


def _day_key(
    versions: RestaurantVersions, local_date: date, party_size: int, flag_values: Mapping[str, Any]
) -> str:
    relevant = (flag_values["capacity.enforcement"], planner_settings_from(flag_values))
    digest = hashlib.blake2s(repr(relevant).encode(), digest_size=6).hexdigest()
    return (
        f"availability:{versions.restaurant_id}:{local_date.isoformat()}:{party_size}:"
        f"c{versions.config_version}:d{versions.day_version}:{digest}"
    )


def cached_day(
    versions: RestaurantVersions,
    local_date: date,
    party_size: int,
    *,
    now: datetime,
    flag_values: Mapping[str, Any],
    memory_only: bool = False,
) -> list[SlotAvailability] | None:
    """Return the day's answer if one is cached for exactly these versions and still valid.

    With ``memory_only``, only this process's recent days are looked at (no Redis round trip).
    """
    key = _day_key(versions, local_date, party_size, flag_values)
    entry = recent_days.get(key)
    source = "memory"
    if entry is None and memory_only:
        return None
    if entry is None:
        try:
            entry = cache.get(key)
        except Exception:  # noqa: BLE001 - no cache means computing the answer, never an error
            return None
        if not isinstance(entry, CachedDay):
            return None
        recent_days.put(key, entry)
        source = "shared"
    if entry.valid_until is not None and now >= entry.valid_until:
        return None
    metrics.AVAILABILITY_DAYS.labels(source=source).inc()
    return entry.slots


def availability_day_cached(
    versions: RestaurantVersions,
    local_date: date,
    party_size: int,
    *,
    now: datetime,
    config: RestaurantConfig | None = None,
    flag_values: Mapping[str, Any] | None = None,
) -> list[SlotAvailability]:
    """Return the day's answer from the cache, or compute it (one statement) and cache it.

    ``versions`` must have been read before the day is (restaurant_versions): an answer computed
    from newer data than its version is merely recomputed once more, never served stale.
    """
    config = config or config_at(versions.restaurant_id, versions.config_version)
    flag_values = flag_values or flags.get_all(config.restaurant, version=versions.flags_version)
    slots = cached_day(versions, local_date, party_size, now=now, flag_values=flag_values)
    if slots is not None:
        return slots
    key = _day_key(versions, local_date, party_size, flag_values)
    # One computation per key and process at a time: in a burst the other threads wait for it
    # and read the result from memory instead of all computing the same day. The shared cache was
    # looked at just above; asking it again would cost every miss a second Redis round trip.
    with _COMPUTING[hash(key) % len(_COMPUTING)]:
        slots = cached_day(
            versions, local_date, party_size, now=now, flag_values=flag_values, memory_only=True
        )
        if slots is not None:
            return slots
        slots, valid_until = _compute_day(config, local_date, party_size, now=now, flag_values=flag_values)
        metrics.AVAILABILITY_DAYS.labels(source="computed").inc()
        entry = CachedDay(slots=slots, valid_until=valid_until)
        recent_days.put(key, entry)
        with contextlib.suppress(Exception):  # a cache outage costs a recomputation next time, no more
            cache.set(key, entry, AVAILABILITY_CACHE_SECONDS)
    return slots


_COMPUTING = [threading.Lock() for _ in range(64)]


def _refusal(
    floor: FloorSnapshot,
    seatings: list[Seating],
    party_size: int,
    starts_at: datetime,
    ends_at: datetime,
    interval: timedelta,
    limits: CapacityLimits,
    mode: EnforcementMode,
    settings: PlannerSettings,
) -> tuple[str | None, int]:
    """Return why the slot cannot seat the party (None if it can), and the covers already booked."""
    decision = evaluate(
        limits,
        seatings,
        CapacityRequest(starts_at=starts_at, ends_at=ends_at, party_size=party_size, slot_interval=interval),
        mode,
    )
    # The request spans its whole window, so the peak with it is the peak without it plus the party.
    booked = decision.peak_covers - party_size
    if not decision.admitted:
        return decision.reason, booked
    if _free_single_table(floor, party_size, starts_at, ends_at):
        return None, booked  # availability needs a yes, not the best plan: skip the search
    plan = plan_tables(
        floor, PlanRequest(party_size=party_size, starts_at=starts_at, ends_at=ends_at), settings
    )
    if plan.plan is None:
        return plan.failure_reason or "no_table_free", booked
    return None, booked


def _free_single_table(floor: FloorSnapshot, party_size: int, starts_at: datetime, ends_at: datetime) -> bool:
    """Return whether one active table that suits the party is free for the whole window."""
    for table in floor.tables:
        if not (table.active and table.min_party <= party_size <= table.max_party):
            continue
        if all(end <= starts_at or ends_at <= start for start, end in floor.busy.get(table.id, ())):
            return True
    return False


@dataclass(frozen=True, slots=True)
class TimeAvailability:
    available: bool
    slot: SlotAvailability | None
    alternatives: list[time]


def availability_at(
    restaurant: Restaurant,
    local_date: date,
    local_time: time,
    party_size: int,
    *,
    now: datetime,
    day: list[SlotAvailability] | None = None,
) -> TimeAvailability:
    """Return whether one time can seat the party, its capacity figures and the nearest alternatives."""
    if day is None:
        day = availability_day(restaurant, local_date, party_size, now=now)
    wanted = next((s for s in day if s.time == local_time), None)
    return TimeAvailability(
        available=bool(wanted and wanted.available),
        slot=wanted,
        alternatives=nearest_alternatives(day, local_time),
    )


def nearest_alternatives(
    day: list[SlotAvailability], local_time: time, limit: int = MAX_ALTERNATIVES
) -> list[time]:
    """Return available times other than ``local_time``, nearest first (earlier wins a tie)."""
    wanted_minutes = local_time.hour * 60 + local_time.minute

    def distance(slot: SlotAvailability) -> tuple[int, int]:
        minutes = slot.time.hour * 60 + slot.time.minute
        return (abs(minutes - wanted_minutes), minutes)

    return [s.time for s in sorted((s for s in day if s.available and s.time != local_time), key=distance)][
        :limit
    ]


def add_alternatives(
    exc: DomainError,
    versions: RestaurantVersions,
    local_date: date,
    local_time: time,
    party_size: int,
    *,
    config: RestaurantConfig,
    flag_values: Mapping[str, Any],
) -> None:
    """Add the nearest bookable times to a refusal, so the guest can pick another.

    From the day's cached answer: a hot slot refuses hundreds of guests a second, who would
    otherwise each recompute the whole day. A refusal from admission carries the versions its
    locked read saw (the freshest key); one from the cached day names its alternatives already.
    """
    if "alternatives" in exc.extra:
        return
    versions = getattr(exc, "seen_versions", None) or versions
    try:
        day = availability_day_cached(
            versions, local_date, party_size, now=timezone.now(), config=config, flag_values=flag_values
        )
        exc.extra["alternatives"] = [t.strftime("%H:%M") for t in nearest_alternatives(day, local_time)]
    except Exception:  # noqa: BLE001 - alternatives are a courtesy; the refusal stands without them
        exc.extra.setdefault("alternatives", [])
