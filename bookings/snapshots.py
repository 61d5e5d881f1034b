"""Load what the pure planner and capacity rules need from the database (reads only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Q
from psycopg.types.range import Range

import flags
from allocator.capacity import CapacityLimits, Seating
from allocator.planner import PlannerSettings
from bookings.config import FloorLayout, config_for
from bookings.models import (
    Booking,
    CapacityOverride,
    CapacityRule,
    Hold,
    Restaurant,
    ServicePeriod,
    TableOccupancy,
)


def service_days(restaurant: Restaurant, starts_at: datetime, ends_at: datetime) -> list[date]:
    """Return the local service days a window touches (the keys of the admission lock)."""
    tz = restaurant.tz
    return sorted(
        {starts_at.astimezone(tz).date(), (ends_at - timedelta(microseconds=1)).astimezone(tz).date()}
    )


@dataclass(frozen=True, slots=True)
class ServiceSlot:
    """A bookable start time: its period and the limits in force for it."""

    period: ServicePeriod
    local_date: date
    limits: CapacityLimits


def periods_on(restaurant: Restaurant, local_date: date) -> list[ServicePeriod]:
    """Return the periods of that date's weekday, by opening time (from the configuration cache)."""
    return config_for(restaurant.pk).periods_on(local_date)


def overrides_on(restaurant: Restaurant, local_date: date) -> dict[str, CapacityOverride]:
    """Return the date's overrides keyed by period kind ("" = the whole day)."""
    return config_for(restaurant.pk).overrides_on(local_date)


def limits_for(period: ServicePeriod, overrides: dict[str, CapacityOverride]) -> CapacityLimits:
    """Return the limits in force: a period override, else a whole-day override, else the rule."""
    override = overrides.get(period.kind) or overrides.get("")
    if override is not None:
        return CapacityLimits(
            max_covers=override.max_covers,
            max_parties=override.max_parties,
            pacing_covers=override.pacing_covers,
            closed=override.closed,
        )
    try:
        rule: CapacityRule | None = period.capacity_rule
    except CapacityRule.DoesNotExist:
        rule = None
    if rule is None:
        return CapacityLimits()
    return CapacityLimits(
        max_covers=rule.max_covers, max_parties=rule.max_parties, pacing_covers=rule.pacing_covers
    )


def period_for(periods: list[ServicePeriod], local_time: time) -> ServicePeriod | None:
    """Return the period in which a booking may start at this local time."""
    for period in periods:
        if period.opens <= local_time <= period.last_seating:
            return period
    return None


def slot_times(period: ServicePeriod, interval_minutes: int) -> list[time]:
    """Return the start times of a period on the slot grid, from opening to last seating."""
    times: list[time] = []
    minutes = period.opens.hour * 60 + period.opens.minute
    last = period.last_seating.hour * 60 + period.last_seating.minute
    while minutes <= last:
        times.append(time(minutes // 60, minutes % 60))
        minutes += interval_minutes
    return times


def seatings_between(
    restaurant_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    exclude_booking_id: int | None = None,
    exclude_hold_id: UUID | None = None,
) -> list[Seating]:
    """Return bookings and unexpired holds that overlap the window and count against capacity."""
    bookings = Booking.objects.filter(
        restaurant_id=restaurant_id,
        status__in=Booking.HOLDING_CAPACITY,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    if exclude_booking_id is not None:
        bookings = bookings.exclude(pk=exclude_booking_id)
    holds = Hold.objects.filter(
        restaurant_id=restaurant_id,
        released_at__isnull=True,
        booking__isnull=True,
        expires_at__gt=now,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    if exclude_hold_id is not None:
        holds = holds.exclude(pk=exclude_hold_id)
    rows = bookings.values_list("starts_at", "ends_at", "party_size").union(
        holds.values_list("starts_at", "ends_at", "party_size"), all=True
    )  # one round trip
    return [Seating(starts_at=s, ends_at=e, party_size=p) for s, e, p in rows]


def floor_layout(restaurant_id: int) -> FloorLayout:
    """Return the restaurant's tables and adjacency in force (from the configuration cache)."""
    return config_for(restaurant_id).layout


@dataclass(frozen=True, slots=True)
class Occupied:
    """The active windows overlapping a period, and whether expired holds still sit among them."""

    busy: dict[int, tuple[tuple[datetime, datetime], ...]]
    expired_holds: int


def occupied_between(
    restaurant_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    exclude_booking_id: int | None = None,
    exclude_hold_id: UUID | None = None,
) -> Occupied:
    """Return every table's active windows that overlap [starts_at, ends_at).

    Expired holds are treated as free; they are counted so a writer can release them for real.
    """
    occupied = TableOccupancy.objects.filter(
        restaurant_id=restaurant_id,
        released_at__isnull=True,
        during__overlap=Range(starts_at, ends_at, "[)"),
    )
    if exclude_booking_id is not None:
        occupied = occupied.exclude(booking_id=exclude_booking_id)
    if exclude_hold_id is not None:
        occupied = occupied.exclude(hold_id=exclude_hold_id)
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    expired = 0
    for table_id, during, kind, expires_at in occupied.values_list(
        "table_id", "during", "kind", "expires_at"
    ):
        if kind == TableOccupancy.Kind.HOLD and expires_at is not None and expires_at <= now:
            expired += 1
            continue
        busy.setdefault(table_id, []).append((during.lower, during.upper))
    return Occupied(
        busy={table_id: tuple(windows) for table_id, windows in busy.items()}, expired_holds=expired
    )


def planner_settings_from(values: Mapping[str, Any]) -> PlannerSettings:
    """Return the planner's settings from the flag values in force (see flags.get_all)."""
    return PlannerSettings(
        merges_enabled=values["allocator.merges_enabled"],
        require_adjacency=values["allocator.require_adjacency"],
        max_merge_tables=values["allocator.max_merge_tables"],
        enumeration_timeout_ms=float(values["allocator.enumeration_timeout_ms"]),
    )


def planner_settings(restaurant: Restaurant) -> PlannerSettings:
    """Return the allocator flags in force for this restaurant (one flag-cache round trip)."""
    return planner_settings_from(flags.get_all(restaurant))


def release_expired_holds(
    restaurant_id: int, starts_at: datetime, ends_at: datetime, *, now: datetime
) -> int:
    """Release expired hold windows that overlap the window, so a write can take their tables."""
    window = Range(starts_at, ends_at, "[)")
    released = TableOccupancy.objects.filter(
        Q(restaurant_id=restaurant_id, kind=TableOccupancy.Kind.HOLD, released_at__isnull=True),
        Q(expires_at__lte=now),
        during__overlap=window,
    ).update(released_at=now)
    return released


# Everything admission needs to see under its lock, in one statement: the configuration version,
# the bookings and unexpired holds around the request (capacity, waiting bookings) and the tables'
# active windows (the planner). Read after the lock is granted, so it sees every earlier admission.
_DAY_STATE_SQL = """
SELECT 'v', config_version, NULL::timestamptz, NULL::timestamptz, NULL::int, NULL::timestamptz,
       (SELECT version::text FROM bookings_dayversion WHERE restaurant_id = %(rid)s AND day = %(day)s)
  FROM bookings_restaurant WHERE id = %(rid)s
UNION ALL
SELECT 'b', id, starts_at, ends_at, party_size, created_at,
       CASE WHEN awaiting_staff AND status = 'pending' THEN 'awaiting_staff' ELSE status END
  FROM bookings_booking
 WHERE restaurant_id = %(rid)s AND status IN ('pending', 'confirmed', 'seated')
   AND starts_at < %(wide_end)s AND ends_at > %(wide_start)s
UNION ALL
SELECT 'h', NULL, starts_at, ends_at, party_size, expires_at, id::text
  FROM bookings_hold
 WHERE restaurant_id = %(rid)s AND released_at IS NULL AND booking_id IS NULL AND expires_at > %(now)s
   AND starts_at < %(wide_end)s AND ends_at > %(wide_start)s
"""
_DAY_STATE_WINDOWS_SQL = """
UNION ALL
SELECT 'o', table_id, lower(during), upper(during), NULL, expires_at, kind
  FROM bookings_tableoccupancy
 WHERE int8range(restaurant_id, restaurant_id, '[]') && int8range(%(rid)s, %(rid)s, '[]')
   AND released_at IS NULL AND during && tstzrange(%(wide_start)s, %(wide_end)s, '[)')
"""  # the restaurant term as occupancy_no_overlap's index has it, so that index finds the rows


def _overlaps(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> bool:
    return start < other_end and other_start < end


@dataclass(frozen=True, slots=True)
class DayState:
    """The bookings, holds and table windows around a request, as admission read them under its lock."""

    config_version: int
    # start, end, party, status, created; status "awaiting_staff" for a booking the no-show rule
    # held (pending, but with its tables: not one to seat on paper)
    bookings: tuple[tuple[datetime, datetime, int, str, datetime], ...]
    holds: tuple[tuple[str, datetime, datetime, int, datetime], ...]  # id, start, end, party, expires
    busy: dict[int, tuple[tuple[datetime, datetime], ...]]
    expired_hold_windows: int
    day_version: int = 0  # of the local day asked for, as of this read

    def seatings(self, starts_at: datetime, ends_at: datetime, exclude_hold_id: UUID | None) -> list[Seating]:
        """Return what counts against capacity in the window (as seatings_between would)."""
        excluded = str(exclude_hold_id) if exclude_hold_id else None
        seatings = [
            Seating(starts_at=start, ends_at=end, party_size=party)
            for start, end, party, _, _ in self.bookings
            if _overlaps(start, end, starts_at, ends_at)
        ]
        seatings += [
            Seating(starts_at=start, ends_at=end, party_size=party)
            for hold_id, start, end, party, _ in self.holds
            if hold_id != excluded and _overlaps(start, end, starts_at, ends_at)
        ]
        return seatings

    def pending(self, starts_at: datetime, ends_at: datetime) -> list[tuple[int, datetime, datetime]]:
        """Return the waiting bookings overlapping the window, oldest first, as (party, start, end)."""
        waiting = sorted(
            (created, party, start, end)
            for start, end, party, status, created in self.bookings
            if status == Booking.Status.PENDING and _overlaps(start, end, starts_at, ends_at)
        )
        return [(party, start, end) for _, party, start, end in waiting]

    def next_hold_expiry(self) -> datetime | None:
        """Return when the first unexpired hold read here expires (its seats free up then)."""
        return min((expires for *_, expires in self.holds), default=None)


def read_day_state(
    restaurant_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    with_windows: bool,
    context: timedelta = timedelta(0),
    day: date | None = None,
) -> DayState:
    """Read the state around [starts_at - context, ends_at + context) in one statement.

    Admission calls it under the day lock; availability calls it for a whole day, without one.
    ``day`` is the local day whose version (bookings/config.py) is read with it.
    """
    sql = _DAY_STATE_SQL + (_DAY_STATE_WINDOWS_SQL if with_windows else "")
    params: dict[str, Any] = {
        "rid": restaurant_id,
        "now": now,
        "day": day,
        "wide_start": starts_at - context,
        "wide_end": ends_at + context,
    }
    version = day_version = 0
    bookings: list[tuple[datetime, datetime, int, str, datetime]] = []
    holds: list[tuple[str, datetime, datetime, int, datetime]] = []
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    expired = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for source, number, start, end, party, moment, text in cursor.fetchall():
            if source == "v":
                version, day_version = number, int(text or 0)
            elif source == "b":
                bookings.append((start, end, party, text, moment))
            elif source == "h":
                holds.append((text, start, end, party, moment))
            elif text == TableOccupancy.Kind.HOLD and moment is not None and moment <= now:
                expired += 1  # an expired hold's window is free; a writer releases it for real
            else:
                busy.setdefault(number, []).append((start, end))
    return DayState(
        config_version=version,
        bookings=tuple(bookings),
        holds=tuple(holds),
        busy={table_id: tuple(windows) for table_id, windows in busy.items()},
        expired_hold_windows=expired,
        day_version=day_version,
    )
