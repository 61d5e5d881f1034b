"""Availability: which start times of a day can seat a party, and how full each is (reads only).

One day is answered from one load of the day's bookings, holds and floor; each slot is then
checked in memory with the same pure capacity rules and planner that admission uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from allocator.capacity import CapacityLimits, CapacityRequest, EnforcementMode, Seating, evaluate, usage_at
from allocator.planner import FloorSnapshot, PlannerSettings, PlanRequest, plan_tables
from allocator.slots import exists_locally, local_datetime
from allocator.snapshots import (
    enforcement_mode,
    floor_snapshot,
    limits_for,
    overrides_on,
    periods_on,
    planner_settings,
    restaurant_tz,
    seatings_between,
    slot_times,
)
from bookings.models import Restaurant

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
    restaurant: Restaurant, local_date: date, party_size: int, *, now: datetime
) -> list[SlotAvailability]:
    """Return every start time of the day, in order, with whether it can seat the party."""
    tz = restaurant_tz(restaurant)
    today = now.astimezone(tz).date()
    horizon_end = today + timedelta(days=restaurant.booking_horizon_days)
    if not today - timedelta(days=1) <= local_date <= horizon_end:
        return []  # nothing bookable; also keeps date arithmetic far from datetime's limits
    periods = periods_on(restaurant, local_date)
    if not periods:
        return []
    overrides = overrides_on(restaurant, local_date)
    interval = timedelta(minutes=restaurant.slot_interval_minutes)
    turn = restaurant.turn_time(party_size)
    mode = enforcement_mode(restaurant)
    settings = planner_settings(restaurant)

    # One load for the whole day: from the first start to the last end any slot could need.
    day_start = local_datetime(restaurant, local_date, periods[0].opens)
    day_end = max(local_datetime(restaurant, local_date, p.last_seating) for p in periods) + max(
        turn, timedelta(minutes=max(m for _, m in restaurant.turn_times))
    )
    seatings = seatings_between(restaurant.pk, day_start, day_end, now=now)
    floor = floor_snapshot(restaurant.pk, day_start, day_end, now=now)

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
    return slots


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
    restaurant: Restaurant, local_date: date, local_time: time, party_size: int, *, now: datetime
) -> TimeAvailability:
    """Return whether one time can seat the party, its capacity figures and the nearest alternatives."""
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
