"""Where a booking may start: service periods, the slot grid, the horizon, closures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from allocator.capacity import CapacityLimits
from bookings.config import RestaurantConfig, config_for
from bookings.errors import SlotUnavailable
from bookings.models import Restaurant, ServicePeriod
from bookings.snapshots import limits_for, period_for


@dataclass(frozen=True, slots=True)
class Slot:
    """A bookable start: its period, the limits in force and the window the party needs."""

    period: ServicePeriod
    local_date: date
    local_time: time
    starts_at: datetime
    ends_at: datetime
    limits: CapacityLimits
    slot_interval: timedelta


def local_datetime(restaurant: Restaurant, local_date: date, local_time: time) -> datetime:
    """Return the instant of a local wall-clock time, in UTC.

    In UTC so that adding a turn time adds real minutes, also across a daylight-saving change
    (aware arithmetic in the local zone would add wall-clock time).
    """
    return datetime.combine(local_date, local_time, tzinfo=restaurant.tz).astimezone(UTC)


def exists_locally(restaurant: Restaurant, instant: datetime, local_time: time) -> bool:
    """Return False for a wall-clock time skipped by a daylight-saving change (e.g. 01:30 in March)."""
    return instant.astimezone(restaurant.tz).time().replace(tzinfo=None) == local_time


def resolve_slot(
    restaurant: Restaurant,
    starts_at: datetime,
    party_size: int,
    *,
    now: datetime,
    allow_past: bool = False,
    config: RestaurantConfig | None = None,
) -> Slot:
    """Return the slot a booking at ``starts_at`` would take, or raise SlotUnavailable saying why.

    ``allow_past`` is for staff re-seating a party that has already started. ``config`` is the
    configuration to judge by (the one in force when not given).
    """
    config = config or config_for(restaurant.pk)
    restaurant = config.restaurant
    tz = config.tz
    starts_at = starts_at.astimezone(UTC)  # real minutes for the turn time, whatever the zone
    local = starts_at.astimezone(tz)
    if starts_at <= now and not allow_past:
        raise SlotUnavailable("That time has already passed.")
    if local.date() > now.astimezone(tz).date() + timedelta(days=restaurant.booking_horizon_days):
        raise SlotUnavailable(f"Bookings open {restaurant.booking_horizon_days} days ahead.")
    overrides = config.overrides_on(local.date())
    period = period_for(config.periods_on(local.date()), local.time().replace(tzinfo=None))
    if period is None:
        raise SlotUnavailable("The restaurant does not take bookings at that time.")
    minutes_in = (local.hour * 60 + local.minute) - (period.opens.hour * 60 + period.opens.minute)
    if local.second or local.microsecond or minutes_in % restaurant.slot_interval_minutes:
        raise SlotUnavailable(
            f"Bookings start every {restaurant.slot_interval_minutes} minutes from {period.opens:%H:%M}."
        )
    limits = limits_for(period, overrides)
    if limits.closed:
        raise SlotUnavailable("The restaurant is closed for bookings then.")
    return Slot(
        period=period,
        local_date=local.date(),
        local_time=local.time().replace(tzinfo=None),
        starts_at=starts_at,
        ends_at=starts_at + restaurant.turn_time(party_size),
        limits=limits,
        slot_interval=timedelta(minutes=restaurant.slot_interval_minutes),
    )
