"""Staff pages in the admin: the day timeline, the floor plan, and the booking actions behind them.

The pages only read; every change goes through ``bookings.services`` (``booking_move``,
``booking_set_status``, ``booking_cancel``), so staff meet the same constraints as guests — the
exclusion constraint, the capacity rules, the status machine — and a refusal comes back as the
domain error's own message. The pages are server-rendered and work without JavaScript.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from psycopg.types.range import Range

from bookings.errors import CapacityExceeded, DomainError
from bookings.models import Booking, CapacityOverride, Restaurant, ServicePeriod, Table, TableOccupancy
from bookings.selectors import bookings_of_day, tables_by_booking
from bookings.services.changes import booking_cancel, booking_move, booking_set_status
from bookings.slots import local_datetime
from bookings.snapshots import overrides_on

STATUS_ACTIONS: dict[str, list[tuple[str, str]]] = {
    Booking.Status.PENDING: [(Booking.Status.CANCELLED, "Cancel booking")],
    Booking.Status.CONFIRMED: [
        (Booking.Status.SEATED, "Mark seated"),
        (Booking.Status.NO_SHOW, "Mark no-show"),
        (Booking.Status.CANCELLED, "Cancel booking"),
    ],
    Booking.Status.SEATED: [(Booking.Status.COMPLETED, "Mark completed")],
}
STATUS_DONE: dict[str, str] = {
    Booking.Status.SEATED: "marked seated",
    Booking.Status.COMPLETED: "marked completed",
    Booking.Status.NO_SHOW: "marked as a no-show",
    Booking.Status.CANCELLED: "cancelled",
}
# Bookings whose tables, released when they left or did not come, still belong on the day's picture.
SHOWN_FROM_HISTORY = (Booking.Status.COMPLETED, Booking.Status.NO_SHOW)
OFF_THE_FLOOR = (Booking.Status.CANCELLED, Booking.Status.REJECTED)
DEFAULT_HOURS = (time(12), time(23))


def natural_key(label: str) -> tuple[Any, ...]:
    """Sort "D2" before "D10"."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", label))


def table_sort_key(table: Table) -> tuple[Any, ...]:
    return (table.section.lower(), natural_key(table.label))


def hhmm(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


# --- what is on the floor on one day -----------------------------------------------------------


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
    tz = restaurant.tz
    return (
        datetime.combine(local_date, time(0), tzinfo=tz),
        datetime.combine(local_date + timedelta(days=1), time(0), tzinfo=tz),
    )


def day_plan(restaurant: Restaurant, local_date: date, *, now: datetime) -> DayPlan:
    """Return the day's bookings and live holds placed on their tables, in four queries."""
    tz = restaurant.tz
    tables = sorted(Table.objects.filter(restaurant=restaurant), key=table_sort_key)
    bookings = list(bookings_of_day(restaurant, local_date))
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
    for hold_id, table_id, during, expires_at, party_size in TableOccupancy.objects.filter(
        restaurant=restaurant,
        kind=TableOccupancy.Kind.HOLD,
        released_at__isnull=True,
        expires_at__gt=now,
        during__overlap=Range(day_start, day_end, "[)"),
    ).values_list("hold_id", "table_id", "during", "expires_at", "hold__party_size"):
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
        tz=tz,
        tables=tables,
        placements=placements,
        unassigned=unassigned,
        off_floor=off_floor,
        overrides=list(overrides_on(restaurant, local_date).values()),
        labels={t.pk: t.label for t in tables},
    )


def placement_title(plan: DayPlan, placement: Placement) -> str:
    """Return the one-line description used for tooltips and screen readers."""
    when = f"{hhmm(placement.starts_at, plan.tz)}–{hhmm(placement.ends_at, plan.tz)}"
    tables = "+".join(plan.tables_of(placement))
    if placement.booking is None:
        expires = hhmm(placement.expires_at, plan.tz) if placement.expires_at else "?"
        return (
            f"Held for a guest booking now: party of {placement.party_size}, {when}, {tables} "
            f"(until {expires})"
        )
    booking = placement.booking
    flag = " · capacity override" if booking.capacity_override else ""
    return (
        f"{booking.guest_name}, party of {booking.party_size}, {when}, {tables} · "
        f"{booking.get_status_display()}{flag}"
    )


# --- the timeline ----------------------------------------------------------------------------------


def timeline_window(plan: DayPlan, *, whole_day: bool = False) -> tuple[datetime, datetime, bool]:
    """Return whole hours covering the service periods in use (all of them with ``whole_day``).

    A period with no booking on it (lunch, on a busy evening) is left out unless asked for, so the
    bars that matter get the width; the third value says whether anything was left out.
    """
    restaurant = plan.restaurant
    periods = [
        (
            local_datetime(restaurant, plan.local_date, p.opens),
            local_datetime(restaurant, plan.local_date, p.closes),
        )
        for p in ServicePeriod.objects.filter(restaurant=restaurant, weekday=plan.local_date.weekday())
    ]
    windows = [(p.starts_at, p.ends_at) for p in plan.placements] + [
        (b.starts_at, b.ends_at) for b in plan.unassigned
    ]
    used = [p for p in periods if any(start < p[1] and p[0] < end for start, end in windows)]
    shown = periods if whole_day or not used else used
    spans = shown + windows
    if not spans:
        return (
            local_datetime(restaurant, plan.local_date, DEFAULT_HOURS[0]),
            local_datetime(restaurant, plan.local_date, DEFAULT_HOURS[1]),
            False,
        )
    day_start, day_end = day_bounds(restaurant, plan.local_date)
    first = min(s for s, _ in spans).astimezone(plan.tz).replace(minute=0, second=0, microsecond=0)
    last = max(e for _, e in spans).astimezone(plan.tz)
    if last.minute or last.second:
        last = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return max(first, day_start), min(last, day_end), len(shown) < len(periods)


@dataclass
class Bar:
    placement: Placement
    left: float  # percent of the timeline
    width: float
    title: str
    label: str
    times: str
    joined: str  # "D5+D6" when the party spans tables, else ""
    url: str
    selected: bool
    lane: int = 0  # in the "waiting for a table" row, bars that overlap in time stack in lanes


def _bar(
    plan: DayPlan, placement: Placement, window: tuple[datetime, datetime], url: str, selected: int | None
) -> Bar:
    start, end = window
    span = (end - start).total_seconds()
    left = max(0.0, (placement.starts_at - start).total_seconds() / span * 100)
    right = min(100.0, (placement.ends_at - start).total_seconds() / span * 100)
    tables = plan.tables_of(placement)
    booking = placement.booking
    return Bar(
        placement=placement,
        left=round(left, 3),
        width=round(max(right - left, 0.5), 3),
        title=placement_title(plan, placement),
        label=f"{placement.party_size} · {placement.name}",
        times=f"{hhmm(placement.starts_at, plan.tz)}–{hhmm(placement.ends_at, plan.tz)}",
        joined="+".join(tables) if len(tables) > 1 else "",
        url=url if booking else "",
        selected=booking is not None and booking.pk == selected,
    )


def timeline_context(
    plan: DayPlan, *, page_url: str, selected: int | None, now: datetime, whole_day: bool = False
) -> dict[str, Any]:
    """Return rows (one per table, grouped by section) of positioned bars, and the hour ticks."""
    start, end, trimmed = timeline_window(plan, whole_day=whole_day)
    window = (start, end)
    span = (end - start).total_seconds()

    def link(booking: Booking) -> str:
        return f"{page_url}&booking={booking.pk}#panel"

    bars_by_table: dict[int, list[Bar]] = defaultdict(list)
    for placement in plan.placements:
        url = link(placement.booking) if placement.booking else ""
        for table_id in placement.table_ids:
            bars_by_table[table_id].append(_bar(plan, placement, window, url, selected))
    sections: list[dict[str, Any]] = []
    for table in plan.tables:
        if not sections or sections[-1]["name"] != (table.section or "Tables"):
            sections.append({"name": table.section or "Tables", "rows": []})
        sections[-1]["rows"].append({"table": table, "bars": bars_by_table.get(table.pk, [])})
    unassigned = [
        _bar(
            plan,
            Placement(
                kind="booking",
                status=b.status,
                party_size=b.party_size,
                starts_at=b.starts_at,
                ends_at=b.ends_at,
                table_ids=(),
                booking=b,
            ),
            window,
            link(b),
            selected,
        )
        for b in plan.unassigned
    ]
    lane_ends: list[datetime] = []
    for bar in unassigned:  # already in start order
        free = next((i for i, ends in enumerate(lane_ends) if ends <= bar.placement.starts_at), None)
        if free is None:
            lane_ends.append(bar.placement.ends_at)
            bar.lane = len(lane_ends) - 1
        else:
            lane_ends[free] = bar.placement.ends_at
            bar.lane = free
    ticks = []
    moment = start
    while moment <= end:
        ticks.append(
            {
                "label": hhmm(moment, plan.tz),
                "left": round((moment - start).total_seconds() / span * 100, 3),
                "hour": moment.astimezone(plan.tz).minute == 0,
            }
        )
        moment += timedelta(minutes=30)
    now_left = (now - start).total_seconds() / span * 100 if start <= now <= end else None
    return {
        "sections": sections,
        "unassigned_bars": unassigned,
        "unassigned_lanes": max(1, len(lane_ends)),
        "ticks": ticks,
        "now_left": round(now_left, 3) if now_left is not None else None,
        "now_label": hhmm(now, plan.tz),
        "trimmed": trimmed,
        "whole_day": whole_day,
    }


def day_summary(plan: DayPlan) -> dict[str, int]:
    counted = [p for p in plan.placements if p.booking is not None] + [
        Placement("booking", b.status, b.party_size, b.starts_at, b.ends_at, (), b) for b in plan.unassigned
    ]
    live = [
        p for p in counted if p.status in Booking.HOLDING_CAPACITY or p.status == Booking.Status.COMPLETED
    ]
    return {
        "bookings": len(live),
        "covers": sum(p.party_size for p in live),
        "pending": sum(1 for p in counted if p.status == Booking.Status.PENDING),
        "holds": sum(1 for p in plan.placements if p.kind == "hold"),
        "cancelled": len(plan.off_floor),
    }


# --- the floor plan --------------------------------------------------------------------------------

# Table footprint in floor-plan units (the unit of Table.x / Table.y) by seats.
PAD = 14
LABEL_ROOM = 22


def table_size(seats: int) -> tuple[int, int]:
    width = 36 + 8 * min(seats, 10)
    return width, 44 if seats <= 2 else 54


def floor_context(plan: DayPlan, instant: datetime, *, page_url: str, selected: int | None) -> dict[str, Any]:
    """Return every table at its position, occupied or free at ``instant``, plus the sections.

    Tables whose positions were never set (all at 0, 0, or two in one place) are drawn in a grid,
    one row of up to eight per section, rather than piled on top of each other.
    """
    positions = {(t.x, t.y) for t in plan.tables}
    placed = len(positions) == len(plan.tables)
    boxes = []
    column, row, section = 0, -1, None
    for table in plan.tables:
        width, height = table_size(table.max_party)
        if placed:
            boxes.append((table, table.x, table.y, width, height))
            continue
        if table.section != section or column == 8:
            section, column, row = table.section, 0, row + 1
        boxes.append((table, column * 120, row * (90 + LABEL_ROOM), width, height))
        column += 1
    if not boxes:
        return {"tables": [], "sections": [], "aspect": "1 / 1", "busy": 0, "free": 0, "guests": 0}
    min_x = min(b[1] for b in boxes) - PAD
    min_y = min(b[2] for b in boxes) - PAD - LABEL_ROOM
    max_x = max(b[1] + b[3] for b in boxes) + PAD
    max_y = max(b[2] + b[4] for b in boxes) + PAD
    extent_x, extent_y = max_x - min_x, max_y - min_y

    def pct_x(value: float) -> float:
        return round((value - min_x) / extent_x * 100, 3)

    def pct_y(value: float) -> float:
        return round((value - min_y) / extent_y * 100, 3)

    by_table: dict[int, list[Placement]] = defaultdict(list)
    for placement in plan.placements:
        for table_id in placement.table_ids:
            by_table[table_id].append(placement)
    tables = []
    busy = guests = 0
    seen: set[int] = set()
    for table, x, y, width, height in boxes:
        here = by_table.get(table.pk, [])
        # A party that has left (completed) or never came (no-show) has freed its table.
        current = next((p for p in here if p.covers(instant) and not p.from_history), None)
        upcoming = sorted(
            (p for p in here if p.starts_at > instant and not p.from_history), key=lambda p: p.starts_at
        )
        state = "free"
        if current is not None:
            state = current.status
            busy += 1
            if id(current) not in seen and current.booking is not None:
                seen.add(id(current))  # a party on joined tables counts once
                guests += current.party_size
        tables.append(
            {
                "table": table,
                "left": pct_x(x),
                "top": pct_y(y),
                "width": round(width / extent_x * 100, 3),
                "height": round(height / extent_y * 100, 3),
                "state": state,
                "placement": current,
                "title": placement_title(plan, current) if current else "",
                "until": hhmm(current.ends_at, plan.tz) if current else "",
                "next": hhmm(upcoming[0].starts_at, plan.tz) if upcoming else "",
                "url": f"{page_url}&booking={current.booking.pk}#panel"
                if current is not None and current.booking is not None
                else "",
                "selected": current is not None
                and current.booking is not None
                and current.booking.pk == selected,
            }
        )
    sections = []
    for name in dict.fromkeys(t.section for t, *_ in boxes):
        members = [b for b in boxes if b[0].section == name]
        left = min(b[1] for b in members) - PAD
        top = min(b[2] for b in members) - PAD - LABEL_ROOM
        right = max(b[1] + b[3] for b in members) + PAD
        bottom = max(b[2] + b[4] for b in members) + PAD
        sections.append(
            {
                "name": name or "Tables",
                "left": pct_x(left),
                "top": pct_y(top),
                "width": round((right - left) / extent_x * 100, 3),
                "height": round((bottom - top) / extent_y * 100, 3),
            }
        )
    return {
        "tables": tables,
        "sections": sections,
        "aspect": f"{extent_x} / {extent_y}",
        "placed": placed,
        "busy": busy,
        "free": sum(1 for table, *_ in boxes if table.active) - busy,
        "guests": guests,
    }


def slot_grid(restaurant: Restaurant, weekday: int | None = None) -> list[time]:
    """Return the start times staff may pick: the slot grid over the restaurant's service hours."""
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


# --- the booking panel -----------------------------------------------------------------------------


def booking_panel(restaurant: Restaurant, booking: Booking, *, now: datetime) -> dict[str, Any]:
    """Return what the side panel needs to show one booking and offer its actions."""
    tz = restaurant.tz
    current = tables_by_booking([booking.pk]).get(booking.pk, [])
    busy = set(
        TableOccupancy.objects.filter(
            restaurant=restaurant,
            released_at__isnull=True,
            during__overlap=Range(booking.starts_at, booking.ends_at, "[)"),
        )
        .exclude(booking=booking)
        .exclude(kind=TableOccupancy.Kind.HOLD, expires_at__lte=now)
        .values_list("table_id", flat=True)
    )
    choices: list[dict[str, Any]] = []
    for table in sorted(Table.objects.filter(restaurant=restaurant), key=table_sort_key):
        if not choices or choices[-1]["section"] != (table.section or "Tables"):
            choices.append({"section": table.section or "Tables", "tables": []})
        choices[-1]["tables"].append(
            {
                "label": table.label,
                "seats": table.max_party,
                "checked": table.label in current,
                "busy": table.pk in busy,
                "inactive": not table.active,
            }
        )
    local = booking.starts_at.astimezone(tz)
    times = slot_grid(restaurant)
    start_time = local.time().replace(tzinfo=None, second=0, microsecond=0)
    if start_time not in times:
        times = sorted([*times, start_time])
    return {
        "booking": booking,
        "tables": current,
        "local_start": local,
        "local_end": booking.ends_at.astimezone(tz),
        "date": local.date().isoformat(),
        "time": start_time.strftime("%H:%M"),
        "time_options": [t.strftime("%H:%M") for t in times],
        "table_choices": choices,
        "can_move": booking.status in Booking.HOLDING_CAPACITY,
        "status_actions": STATUS_ACTIONS.get(booking.status, []),
        "override_allowed": restaurant.allow_staff_override,
        "change_url": reverse("admin:bookings_booking_change", args=[booking.pk]),
    }


# --- the views -------------------------------------------------------------------------------------


def _parse_date(value: str | None, default: date) -> date:
    try:
        parsed = date.fromisoformat(value) if value else default
    except ValueError:
        return default
    # The pages step a day either side: stay inside what dates can represent.
    return min(max(parsed, date.min + timedelta(days=1)), date.max - timedelta(days=1))


def _parse_time(value: str | None) -> time | None:
    try:
        return time.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class StaffPages:
    """The timeline, floor plan and booking actions of one restaurant, mounted under its admin URL."""

    def __init__(self, model_admin: admin.ModelAdmin[Restaurant]) -> None:
        self.model_admin = model_admin

    def urls(self) -> list[URLPattern]:
        wrap = self.model_admin.admin_site.admin_view
        return [
            path("<int:restaurant_id>/timeline/", wrap(self.timeline), name="bookings_restaurant_timeline"),
            path("<int:restaurant_id>/floor/", wrap(self.floor), name="bookings_restaurant_floor"),
            path(
                "<int:restaurant_id>/bookings/<int:booking_id>/move/",
                wrap(self.move),
                name="bookings_restaurant_booking_move",
            ),
            path(
                "<int:restaurant_id>/bookings/<int:booking_id>/status/",
                wrap(self.status),
                name="bookings_restaurant_booking_status",
            ),
        ]

    # -- helpers

    def restaurant(self, request: HttpRequest, restaurant_id: int, *, perm: str) -> Restaurant:
        """Return the restaurant if this user works there and may do this; 404 / 403 otherwise."""
        restaurant = get_object_or_404(Restaurant.objects.managed_by(request.user), pk=restaurant_id)
        if not request.user.has_perm(f"bookings.{perm}_booking"):
            raise PermissionDenied
        return restaurant

    def today(self, restaurant: Restaurant) -> date:
        return timezone.now().astimezone(restaurant.tz).date()

    def context(self, request: HttpRequest, restaurant: Restaurant, title: str) -> dict[str, Any]:
        return {
            **self.model_admin.admin_site.each_context(request),
            "opts": Restaurant._meta,
            "restaurant": restaurant,
            "title": title,
            "subtitle": restaurant.name,
        }

    def selected_panel(
        self, request: HttpRequest, restaurant: Restaurant, view: str, extra: dict[str, str]
    ) -> dict[str, Any] | None:
        booking_id = _int(request.GET.get("booking"))
        if booking_id is None:
            return None
        booking = (
            Booking.objects.filter(restaurant=restaurant, pk=booking_id).select_related("restaurant").first()
        )
        if booking is None:
            return None
        panel = booking_panel(restaurant, booking, now=timezone.now())
        panel.update(
            {
                "view": view,
                "return_to": request.get_full_path(),
                "can_change": request.user.has_perm("bookings.change_booking"),
                "day_url": reverse("admin:bookings_restaurant_timeline", args=[restaurant.pk])
                + "?"
                + urlencode({"date": panel["date"], "booking": booking.pk}),
                **extra,
            }
        )
        return panel

    # -- pages

    @staticmethod
    def _nav(restaurant: Restaurant, local_date: date, name: str, extra: dict[str, str]) -> dict[str, str]:
        base = reverse(f"admin:bookings_restaurant_{name}", args=[restaurant.pk])

        def url(day: date) -> str:
            return f"{base}?{urlencode({'date': day.isoformat(), **extra})}"

        return {
            "prev_url": url(local_date - timedelta(days=1)),
            "next_url": url(local_date + timedelta(days=1)),
            "timeline_url": reverse("admin:bookings_restaurant_timeline", args=[restaurant.pk])
            + f"?date={local_date.isoformat()}",
            "floor_url": reverse("admin:bookings_restaurant_floor", args=[restaurant.pk])
            + f"?date={local_date.isoformat()}"
            + (f"&time={extra['time']}" if "time" in extra else ""),
        }

    @staticmethod
    def _page_url(restaurant: Restaurant, name: str, params: dict[str, str]) -> str:
        return reverse(f"admin:bookings_restaurant_{name}", args=[restaurant.pk]) + "?" + urlencode(params)

    def timeline(self, request: HttpRequest, restaurant_id: int) -> HttpResponse:
        """One row per table, time across; bookings and holds as bars coloured by status."""
        if request.method != "GET":
            return HttpResponse(status=405)
        restaurant = self.restaurant(request, restaurant_id, perm="view")
        now = timezone.now()
        local_date = _parse_date(request.GET.get("date"), self.today(restaurant))
        plan = day_plan(restaurant, local_date, now=now)
        whole_day = request.GET.get("span") == "day"
        params = {"date": local_date.isoformat(), **({"span": "day"} if whole_day else {})}
        page_url = self._page_url(restaurant, "timeline", params)
        selected = _int(request.GET.get("booking"))
        context = self.context(request, restaurant, f"Timeline · {local_date:%A %-d %B %Y}")
        context.update(
            {
                "view": "timeline",
                "plan": plan,
                "local_date": local_date,
                "is_today": local_date == self.today(restaurant),
                "summary": day_summary(plan),
                "off_floor": plan.off_floor,
                "panel": self.selected_panel(request, restaurant, "timeline", {}),
                "statuses": LEGEND,
                **timeline_context(plan, page_url=page_url, selected=selected, now=now, whole_day=whole_day),
                "span_url": self._page_url(
                    restaurant,
                    "timeline",
                    {"date": local_date.isoformat(), **({} if whole_day else {"span": "day"})},
                ),
                **self._nav(restaurant, local_date, "timeline", {}),
            }
        )
        return TemplateResponse(request, "bookings/admin/timeline.html", context)

    def floor(self, request: HttpRequest, restaurant_id: int) -> HttpResponse:
        """Tables at their positions, occupied or free at the chosen time."""
        if request.method != "GET":
            return HttpResponse(status=405)
        restaurant = self.restaurant(request, restaurant_id, perm="view")
        now = timezone.now()
        tz = restaurant.tz
        today = self.today(restaurant)
        local_date = _parse_date(request.GET.get("date"), today)
        grid = slot_grid(restaurant, local_date.weekday()) or slot_grid(restaurant)
        local_time = _parse_time(request.GET.get("time"))
        if local_time is None:
            local_time = self.default_time(grid, local_date == today, now.astimezone(tz))
        instant = local_datetime(restaurant, local_date, local_time)
        plan = day_plan(restaurant, local_date, now=now)
        time_text = local_time.strftime("%H:%M")
        page_url = self._page_url(restaurant, "floor", {"date": local_date.isoformat(), "time": time_text})
        selected = _int(request.GET.get("booking"))
        options = [t.strftime("%H:%M") for t in grid]
        if time_text not in options:
            options = sorted([*options, time_text])
        index = options.index(time_text)
        base = reverse("admin:bookings_restaurant_floor", args=[restaurant.pk])
        step = {
            "earlier_url": f"{base}?{urlencode({'date': local_date.isoformat(), 'time': options[index - 1]})}"
            if index > 0
            else "",
            "later_url": f"{base}?{urlencode({'date': local_date.isoformat(), 'time': options[index + 1]})}"
            if index + 1 < len(options)
            else "",
        }
        context = self.context(request, restaurant, f"Floor plan · {local_date:%A %-d %B %Y}, {time_text}")
        context.update(
            {
                "view": "floor",
                "plan": plan,
                "local_date": local_date,
                "local_time": time_text,
                "time_options": options,
                "is_today": local_date == today,
                "panel": self.selected_panel(request, restaurant, "floor", {"floor_time": time_text}),
                "floor": floor_context(plan, instant, page_url=page_url, selected=selected),
                "statuses": LEGEND,
                **step,
                **self._nav(restaurant, local_date, "floor", {"time": time_text}),
            }
        )
        return TemplateResponse(request, "bookings/admin/floor.html", context)

    @staticmethod
    def default_time(grid: list[time], is_today: bool, local_now: datetime) -> time:
        """Now (on the slot grid) for today; otherwise the evening rush, or the first opening."""
        if not grid:
            return time(19)
        if is_today:
            now_time = local_now.time().replace(tzinfo=None)
            earlier = [t for t in grid if t <= now_time]
            return earlier[-1] if earlier else grid[0]
        return time(19) if time(19) in grid else grid[0]

    # -- actions (POST, CSRF-protected by admin_view)

    def _after(self, request: HttpRequest, restaurant: Restaurant, booking: Booking) -> HttpResponseRedirect:
        """Return to the page the action came from, on the booking's (possibly new) day, panel open."""
        view = "floor" if request.POST.get("view") == "floor" else "timeline"
        tz = restaurant.tz
        params = {"date": booking.starts_at.astimezone(tz).date().isoformat()}
        floor_time = _parse_time(request.POST.get("floor_time"))
        if view == "floor" and floor_time is not None:
            params["time"] = floor_time.strftime("%H:%M")
        params["booking"] = str(booking.pk)
        url = self._page_url(restaurant, view, params) + "#panel"
        return HttpResponseRedirect(url)

    def _return_to(self, request: HttpRequest, fallback: HttpResponseRedirect) -> HttpResponseRedirect:
        target = request.POST.get("return_to", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return HttpResponseRedirect(target + ("" if "#" in target else "#panel"))
        return fallback

    def move(self, request: HttpRequest, restaurant_id: int, booking_id: int) -> HttpResponse:
        """Move a booking to other tables and/or another time, or assign it, via booking_move."""
        if request.method != "POST":
            return HttpResponse(status=405)
        restaurant = self.restaurant(request, restaurant_id, perm="change")
        booking = get_object_or_404(
            Booking.objects.select_related("restaurant"), pk=booking_id, restaurant=restaurant
        )
        stay = self._return_to(request, self._after(request, restaurant, booking))
        new_date = _parse_date(request.POST.get("date"), date.min)
        new_time = _parse_time(request.POST.get("time"))
        if new_date == date.min or new_time is None:
            messages.error(request, "Choose a date and a time.")
            return stay
        starts_at: datetime | None = local_datetime(restaurant, new_date, new_time)
        if starts_at == booking.starts_at:
            starts_at = None
        labels = sorted({label.strip() for label in request.POST.getlist("tables") if label.strip()})
        current = tables_by_booking([booking.pk]).get(booking.pk, [])
        if starts_at is None and labels and labels == sorted(current):
            messages.info(request, "Nothing to change: that is already the booking's time and tables.")
            return stay
        override = request.POST.get("override") == "on"
        user_id = request.user.pk
        assert user_id is not None  # admin_view let only signed-in staff through
        try:
            moved = booking_move(
                booking=booking,
                actor_id=int(user_id),
                starts_at=starts_at,
                table_labels=labels or None,
                override=override,
            )
        except DomainError as exc:
            message = exc.message
            if isinstance(exc, CapacityExceeded) and restaurant.allow_staff_override and not override:
                message += " Tick “Override capacity rules” to place it anyway (recorded)."
            messages.error(request, message)
            return stay
        tables = tables_by_booking([moved.pk]).get(moved.pk, [])
        tz = restaurant.tz
        verb = "Assigned" if not current else "Moved"
        text = (
            f"{verb} {moved.guest_name} (party of {moved.party_size}) to {', '.join(tables) or 'no table'} "
            f"at {moved.starts_at.astimezone(tz):%H:%M} on {moved.starts_at.astimezone(tz):%a %-d %b}."
        )
        if moved.capacity_override and override:
            text += " Capacity override recorded."
        messages.success(request, text)
        return self._after(request, restaurant, moved)

    def status(self, request: HttpRequest, restaurant_id: int, booking_id: int) -> HttpResponse:
        """Mark a booking seated, completed or no-show, or cancel it."""
        if request.method != "POST":
            return HttpResponse(status=405)
        restaurant = self.restaurant(request, restaurant_id, perm="change")
        booking = get_object_or_404(
            Booking.objects.select_related("restaurant"), pk=booking_id, restaurant=restaurant
        )
        stay = self._return_to(request, self._after(request, restaurant, booking))
        status = request.POST.get("status", "")
        if status not in STATUS_DONE:
            messages.error(request, "Choose seated, completed, no-show or cancelled.")
            return stay
        user_id = request.user.pk
        assert user_id is not None
        try:
            if status == Booking.Status.CANCELLED:
                updated = booking_cancel(booking=booking)
            else:
                updated = booking_set_status(booking=booking, status=status, actor_id=int(user_id))
        except DomainError as exc:
            messages.error(request, exc.message)
            return stay
        messages.success(
            request, f"{updated.guest_name} (party of {updated.party_size}) {STATUS_DONE[status]}."
        )
        return stay


LEGEND = [
    ("pending", "Pending"),
    ("confirmed", "Confirmed"),
    ("seated", "Seated"),
    ("completed", "Completed"),
    ("no_show", "No-show"),
    ("hold", "Held (guest booking now)"),
]


def staff_user_name(user_id: object) -> str:
    """Return the username of the staff member who chose tables, for "Why these tables?"."""
    user = get_user_model()._default_manager.filter(pk=user_id).first() if isinstance(user_id, int) else None
    return user.get_username() if user else f"user #{user_id}"


# --- "Why these tables?" -------------------------------------------------------------------------

RANKING_WORDS = {
    "seat_waste": "fewest empty seats",
    "tables": "fewest tables joined",
    "value": "keeps the most flexibility for later parties (smaller tables, fewer joins broken)",
    "section_mismatch": "in the preferred section",
    "table_ids": "table order, as a last tie-break",
}
FAILURE_WORDS = {
    "invalid_request": "The request was not valid (party size or times).",
    "no_usable_tables": "The restaurant has no active tables.",
    "no_table_fits_party": "No table, and no allowed join of tables, seats a party this size.",
    "all_tables_busy": "Every table that could seat the party was taken at that time.",
    "enumeration_timeout": "The search ran out of time before it found a plan.",
    "conflict": "Another booking took those tables at the same moment; tried again with a fresh floor.",
    "no_plan": "No table plan was found.",
    "no_table_free": "No table was free for the party at that time.",
}
SETTING_WORDS = {
    "merges_enabled": "Joining tables allowed",
    "require_adjacency": "Joined tables must be next to each other",
    "max_merge_tables": "Most tables joined for one party",
    "enumeration_timeout_ms": "Search time limit (ms)",
}


def failure_words(code: str | None) -> str:
    if not code:
        return ""
    return FAILURE_WORDS.get(code, code.replace("_", " ").capitalize() + ".")


def _plural(count: float, word: str) -> str:
    number = int(count) if float(count).is_integer() else count
    return f"{number} {word}{'' if number == 1 else 's'}"


def _why_lost(runner: dict[str, Any], chosen: dict[str, Any]) -> str:
    """Say in words which ranking step put the runner-up behind the chosen plan."""
    mine, best = runner.get("score_parts") or {}, chosen.get("score_parts") or {}
    for part in ("seat_waste", "tables", "value", "section_mismatch"):
        a, b = mine.get(part), best.get(part)
        if a is None or b is None or a == b:
            continue
        if part == "seat_waste":
            return f"{_plural(a - b, 'more empty seat')}" if a > b else "fewer empty seats, but ranked lower"
        if part == "tables":
            return f"joins {_plural(a, 'table')} instead of {int(b)}"
        if part == "value":
            return f"uses more flexibility ({a:g} against {b:g})"
        return "outside the preferred section"
    return "a tie, settled by table order"


def explain_allocation(reason: dict[str, Any] | None) -> dict[str, Any]:
    """Turn a stored allocation reason (planner Decision.as_reason, hold, or staff choice) into prose."""
    if not reason:
        return {
            "headline": "No explanation recorded: the booking has not been through the planner "
            "(it is pending, or was imported or added by hand).",
        }
    if "chosen_by_staff" in reason:
        tables = ", ".join(str(label) for label in reason.get("tables") or [])
        return {
            "headline": f"Chosen by {staff_user_name(reason['chosen_by_staff'])} from the staff timeline: "
            f"{tables}. Staff picks skip the planner but not the rules: the tables had to be free, "
            "active, big enough and joinable.",
            "raw": reason,
        }
    plan = reason.get("plan")
    rows: list[dict[str, Any]] = []
    if plan:
        rows.append({**plan, "chosen": True, "why_lost": "chosen"})
        rows += [
            {**r, "chosen": False, "why_lost": _why_lost(r, plan)} for r in reason.get("runners_up") or []
        ]
        for row in rows:
            parts = row.get("score_parts") or {}
            row["tables_joined"] = int(parts.get("tables", len(row.get("labels") or [])))
            row["value"] = parts.get("value")
            row["section_mismatch"] = int(parts.get("section_mismatch", 0))
        headline = (
            f"Tables {'+'.join(plan.get('labels') or [])}: {plan.get('seats')} seats for a party of "
            f"{reason.get('party_size')}, {_plural(plan.get('seat_waste', 0), 'empty seat')}. Best of "
            f"{_plural(reason.get('candidates_considered', 0), 'table set')} that could seat the party."
        )
    else:
        headline = f"No plan. {failure_words(reason.get('failure_reason'))}"
    settings = reason.get("settings") or {}
    return {
        "headline": headline,
        "from_hold": reason.get("converted_from_hold"),
        "rows": rows,
        "ranking": [RANKING_WORDS.get(step, step) for step in reason.get("ranking") or []],
        "value_formula": reason.get("value_formula"),
        "settings": [
            {"name": SETTING_WORDS.get(key, key), "value": value} for key, value in settings.items()
        ],
        "search": {
            "tables_usable": reason.get("tables_usable"),
            "tables_free": reason.get("tables_free"),
            "candidates": reason.get("candidates_considered"),
            "subsets": reason.get("subsets_explored"),
            "planner_ms": reason.get("planner_ms"),
            "truncated": reason.get("truncated"),
        },
        "raw": reason,
    }
