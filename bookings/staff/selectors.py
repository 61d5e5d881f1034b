"""Reads for the staff pages: the day's bookings and holds on their tables, the times to offer."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from psycopg.types.range import Range

from bookings.config import config_for
from bookings.models import (
    Booking,
    CapacityOverride,
    Restaurant,
    ServicePeriod,
    Table,
    TableOccupancy,
    WaitlistEntry,
)
from bookings.selectors import bookings_of_day, guest_past_bookings
from bookings.slots import local_datetime
from bookings.snapshots import overrides_on, slot_times

# Bookings whose tables, released when they left or did not come, still belong on the day's picture.
SHOWN_FROM_HISTORY = (Booking.Status.COMPLETED, Booking.Status.NO_SHOW)
OFF_THE_FLOOR = (Booking.Status.CANCELLED, Booking.Status.REJECTED)
# The hours shown when the restaurant has no service periods at all.
DEFAULT_HOURS = (time(12), time(23))


def natural_key(label: str) -> tuple[Any, ...]:
    """Sort "D2" before "D10"."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", label))


def table_sort_key(table: Table) -> tuple[Any, ...]:
    return (table.section.lower(), natural_key(table.label))


@dataclass
class Placement:
    """A booking or a hold on its tables for its window."""

    kind: str  # "booking" or "hold"
    status: str  # the booking's status, or "hold"
    party_size: int
    starts_at: datetime
    ends_at: datetime
    table_ids: tuple[int, ...]
    booking: Booking | None = None
    # Tables taken from released windows: the party has left (completed) or never came (no-show).
    from_history: bool = False
    expires_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.booking.guest_name if self.booking else "Held"

    def covers(self, instant: datetime) -> bool:
        return self.starts_at <= instant < self.ends_at


@dataclass
class DayPlan:
    restaurant: Restaurant
    local_date: date
    tz: ZoneInfo
    tables: list[Table]
    placements: list[Placement]
    # Bookings that count but have no table yet (pending, staff walk-ins, legacy imports).
    unassigned: list[Booking]
    # Cancelled and rejected bookings: listed, not drawn.
    off_floor: list[Booking]
    overrides: list[CapacityOverride]
    labels: dict[int, str] = field(default_factory=dict)

    def tables_of(self, placement: Placement) -> list[str]:
        return sorted((self.labels.get(t, "?") for t in placement.table_ids), key=natural_key)


def day_bounds(restaurant: Restaurant, local_date: date) -> tuple[datetime, datetime]:
    """Return the local midnights that begin and end the day."""
    tz = restaurant.tz
    return (
        datetime.combine(local_date, time(0), tzinfo=tz),
        datetime.combine(local_date + timedelta(days=1), time(0), tzinfo=tz),
    )


def restaurant_tables(restaurant: Restaurant) -> list[Table]:
    """Return the restaurant's tables by section, then label in natural order."""
    return sorted(Table.objects.filter(restaurant=restaurant), key=table_sort_key)


def day_plan(restaurant: Restaurant, local_date: date, *, now: datetime) -> DayPlan:
    """Return the day's bookings and live holds placed on their tables, in four queries."""
    tables = restaurant_tables(restaurant)
    # With each booking's reminder, if any: the guest's confirmation shows on its bar.
    bookings = list(bookings_of_day(restaurant, local_date).select_related("reminder"))
    active: dict[int, list[int]] = defaultdict(list)
    released: dict[int, dict[datetime, list[int]]] = defaultdict(lambda: defaultdict(list))
    for booking_id, table_id, released_at in TableOccupancy.objects.filter(
        booking_id__in=[b.pk for b in bookings], kind=TableOccupancy.Kind.ASSIGNMENT
    ).values_list("booking_id", "table_id", "released_at"):
        if released_at is None:
            active[booking_id].append(table_id)
        else:
            released[booking_id][released_at].append(table_id)

    placements: list[Placement] = []
    unassigned: list[Booking] = []
    off_floor: list[Booking] = []
    for booking in bookings:
        table_ids = active.get(booking.pk)
        from_history = False
        if not table_ids and booking.status in SHOWN_FROM_HISTORY and released.get(booking.pk):
            # The windows released last are the tables the party had when it left.
            history = released[booking.pk]
            table_ids, from_history = history[max(history)], True
        if booking.status in OFF_THE_FLOOR or (not table_ids and booking.status in SHOWN_FROM_HISTORY):
            off_floor.append(booking)
        elif not table_ids:
            unassigned.append(booking)
        else:
            placements.append(
                Placement(
                    kind="booking",
                    status=booking.status,
                    party_size=booking.party_size,
                    starts_at=booking.starts_at,
                    ends_at=booking.ends_at,
                    table_ids=tuple(table_ids),
                    booking=booking,
                    from_history=from_history,
                )
            )

    day_start, day_end = day_bounds(restaurant, local_date)
    holds: dict[Any, Placement] = {}
    # The occupancy's own expiry: a converted hold's windows become assignments, not live holds.
    for hold_id, table_id, during, expires_at, party_size in (
        TableOccupancy.objects.active()
        .filter(
            restaurant=restaurant,
            kind=TableOccupancy.Kind.HOLD,
            expires_at__gt=now,
            during__overlap=Range(day_start, day_end, "[)"),
        )
        .values_list("hold_id", "table_id", "during", "expires_at", "hold__party_size")
    ):
        if hold_id not in holds:
            holds[hold_id] = Placement(
                kind="hold",
                status="hold",
                party_size=party_size,
                starts_at=during.lower,
                ends_at=during.upper,
                table_ids=(),
                expires_at=expires_at,
            )
        holds[hold_id].table_ids += (table_id,)
    placements.extend(holds.values())
    placements.sort(key=lambda p: (p.starts_at, p.kind))
    return DayPlan(
        restaurant=restaurant,
        local_date=local_date,
        tz=restaurant.tz,
        tables=tables,
        placements=placements,
        unassigned=unassigned,
        off_floor=off_floor,
        overrides=list(overrides_on(restaurant, local_date).values()),
        labels={t.pk: t.label for t in tables},
    )


def periods_of_day(restaurant: Restaurant, local_date: date) -> list[tuple[datetime, datetime]]:
    """Return the opening and closing instants of each service period on the day."""
    return [
        (
            local_datetime(restaurant, local_date, p.opens),
            local_datetime(restaurant, local_date, p.closes),
        )
        for p in ServicePeriod.objects.filter(restaurant=restaurant, weekday=local_date.weekday())
    ]


def floor_times(restaurant: Restaurant, weekday: int | None = None) -> list[time]:
    """Return the times the floor plan can be looked at: the slot grid from opening to closing.

    Wider than the bookable starts on purpose: after last seating the floor is still full.
    """
    periods = ServicePeriod.objects.filter(restaurant=restaurant)
    if weekday is not None:
        periods = periods.filter(weekday=weekday)
    spans = list(periods.values_list("opens", "closes"))
    if not spans:
        spans = [DEFAULT_HOURS]
    step = restaurant.slot_interval_minutes
    times: set[time] = set()
    for opens, closes in spans:
        minutes = opens.hour * 60 + opens.minute
        while minutes < closes.hour * 60 + closes.minute:
            times.add(time(minutes // 60, minutes % 60))
            minutes += step
    return sorted(times)


def bookable_times(restaurant: Restaurant) -> list[time]:
    """Return the start times admission accepts on some weekday: the slot grid to last seating.

    Read from the configuration admission judges by (``resolve_slot``), and every weekday's,
    because the move panel lets staff pick another date as well as a time.
    """
    config = config_for(restaurant.pk)
    step = config.restaurant.slot_interval_minutes
    return sorted(
        {
            start
            for periods in config.periods_by_weekday.values()
            for period in periods
            for start in slot_times(period, step)
        }
    )


def staff_booking(restaurant: Restaurant, booking_id: int) -> Booking | None:
    """Return the restaurant's booking with this id, if there is one."""
    return (
        Booking.objects.filter(restaurant=restaurant, pk=booking_id)
        .select_related("restaurant", "reminder")
        .first()
    )


def busy_table_ids(restaurant: Restaurant, booking: Booking, *, now: datetime) -> set[int]:
    """Return the tables another booking or a live hold takes during the booking's window."""
    return set(
        TableOccupancy.objects.active()
        .filter(restaurant=restaurant, during__overlap=Range(booking.starts_at, booking.ends_at, "[)"))
        .exclude(booking=booking)
        .exclude(kind=TableOccupancy.Kind.HOLD, expires_at__lte=now)
        .values_list("table_id", flat=True)
    )


def username_of(user_id: object) -> str | None:
    """Return the username of a user id, or None if it is not one (anymore)."""
    if not isinstance(user_id, int):
        return None
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return user.get_username() if user else None


@dataclass(frozen=True, slots=True)
class GuestHistory:
    """A guest's past no-shows and cancellations at one restaurant, over the last year."""

    no_shows: int
    cancellations: int
    completed: int
    confirmed_at: datetime | None  # the guest's answer to this booking's reminder


def guest_history(booking: Booking, *, now: datetime) -> GuestHistory:
    """Count the guest's other bookings by outcome, matched by email (any case) or phone digits.

    Scoped to the booking's restaurant and the last twelve months; one statement.
    """
    reminder = getattr(booking, "reminder", None)
    confirmed_at = reminder.confirmed_at if reminder is not None else None
    past = guest_past_bookings(
        booking.restaurant_id,
        email=booking.guest_email,
        phone=booking.guest_phone,
        now=now,
        exclude_pk=booking.pk,
    )
    if past is None:
        return GuestHistory(no_shows=0, cancellations=0, completed=0, confirmed_at=confirmed_at)
    counts = past.aggregate(
        no_shows=Count("pk", filter=Q(status=Booking.Status.NO_SHOW)),
        cancellations=Count("pk", filter=Q(status=Booking.Status.CANCELLED)),
        completed=Count("pk", filter=Q(status=Booking.Status.COMPLETED)),
    )
    return GuestHistory(confirmed_at=confirmed_at, **counts)


def waitlist_of_day(restaurant: Restaurant, local_date: date) -> list[WaitlistEntry]:
    """Return the day's waiting guests and open offers, in line order (first come, first served)."""
    return list(
        WaitlistEntry.objects.filter(
            restaurant=restaurant,
            date=local_date,
            status__in=[WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED],
        )
        .select_related("hold")
        .order_by("created_at", "pk")
    )
