"""What the staff pages show: floor geometry, timeline bars, the booking panel, and the words.

Plain functions over what ``bookings.staff.selectors`` read; the one read of their own is the name
of the staff member who chose tables, for "Why these tables?".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.urls import reverse

from bookings.codes import format_code
from bookings.models import Booking, Restaurant, Table
from bookings.slots import local_datetime
from bookings.staff.selectors import DEFAULT_HOURS, DayPlan, Placement, day_bounds, username_of

STATUS_ACTIONS: dict[str, list[tuple[str, str]]] = {
    Booking.Status.PENDING: [(Booking.Status.CANCELLED, "Cancel booking")],
    Booking.Status.CONFIRMED: [
        (Booking.Status.SEATED, "Mark seated"),
        (Booking.Status.NO_SHOW, "Mark no-show"),
        (Booking.Status.CANCELLED, "Cancel booking"),
    ],
    Booking.Status.SEATED: [(Booking.Status.COMPLETED, "Mark completed")],
}
# A booking the no-show rule held for staff (pending, its tables kept): staff confirm or decline it.
STAFF_CONFIRM, STAFF_DECLINE = "staff_confirm", "staff_decline"
HELD_FOR_STAFF_ACTIONS = [(STAFF_CONFIRM, "Confirm booking"), (STAFF_DECLINE, "Decline (cancel)")]
STATUS_DONE: dict[str, str] = {
    STAFF_CONFIRM: "confirmed",
    STAFF_DECLINE: "declined; the table goes to the waitlist",
    Booking.Status.SEATED: "marked seated",
    Booking.Status.COMPLETED: "marked completed",
    Booking.Status.NO_SHOW: "marked as a no-show",
    Booking.Status.CANCELLED: "cancelled",
}
LEGEND = [
    ("pending", "Pending"),
    ("confirmed", "Confirmed"),
    ("seated", "Seated"),
    ("completed", "Completed"),
    ("no_show", "No-show"),
    ("hold", "Held (guest booking now)"),
]


def hhmm(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def guest_confirmed(booking: Booking) -> bool:
    """Whether the guest said they are coming (the reminder's link); loaded with the day's bookings."""
    reminder = getattr(booking, "reminder", None)
    return reminder is not None and reminder.confirmed_at is not None


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
    reason = booking.allocation_reason
    if isinstance(reason, dict) and "reseated_by" in reason:
        flag += f" · {reason.get('message', 'Re-seated.').rstrip('.')}"
    if guest_confirmed(booking):
        flag += " · guest confirmed"
    return (
        f"{booking.guest_name}, party of {booking.party_size}, {when}, {tables} · "
        f"{booking.get_status_display()}{flag}"
    )


# --- the timeline ----------------------------------------------------------------------------------


def timeline_window(
    plan: DayPlan, periods: list[tuple[datetime, datetime]], *, whole_day: bool = False
) -> tuple[datetime, datetime, bool]:
    """Return whole hours covering the service periods in use (all of them with ``whole_day``).

    ``periods`` are the day's service periods as (opening, closing) instants. A period with no
    booking on it (lunch, on a busy evening) is left out unless asked for, so the bars that matter
    get the width; the third value says whether anything was left out.
    """
    restaurant = plan.restaurant
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
    mark = " ✓" if booking is not None and guest_confirmed(booking) else ""  # the guest is coming
    if booking is not None and booking.awaiting_staff and booking.status == Booking.Status.PENDING:
        mark += " · confirm?"  # held for staff by the no-show rule: the panel has Confirm / Decline
    return Bar(
        placement=placement,
        left=round(left, 3),
        width=round(max(right - left, 0.5), 3),
        title=placement_title(plan, placement),
        label=f"{placement.party_size} · {placement.name}{mark}",
        times=f"{hhmm(placement.starts_at, plan.tz)}–{hhmm(placement.ends_at, plan.tz)}",
        joined="+".join(tables) if len(tables) > 1 else "",
        url=url if booking else "",
        selected=booking is not None and booking.pk == selected,
    )


def timeline_context(
    plan: DayPlan,
    periods: list[tuple[datetime, datetime]],
    *,
    page_url: str,
    selected: int | None,
    now: datetime,
    whole_day: bool = False,
) -> dict[str, Any]:
    """Return rows (one per table, grouped by section) of positioned bars, and the hour ticks."""
    start, end, trimmed = timeline_window(plan, periods, whole_day=whole_day)
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


# --- the booking panel -----------------------------------------------------------------------------


def booking_panel(
    restaurant: Restaurant,
    booking: Booking,
    *,
    current: list[str],
    tables: list[Table],
    busy: set[int],
    times: list[time],
) -> dict[str, Any]:
    """Return what the side panel needs to show one booking and offer its actions.

    ``current`` are the labels of the booking's tables, ``tables`` all of the restaurant's in
    display order, ``busy`` the ids of those others take in its window, ``times`` the bookable
    start times (the booking's own is added if it is off the grid, so the form can keep it).
    """
    tz = restaurant.tz
    choices: list[dict[str, Any]] = []
    for table in tables:
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
        "status_actions": HELD_FOR_STAFF_ACTIONS
        if booking.awaiting_staff and booking.status == Booking.Status.PENDING
        else STATUS_ACTIONS.get(booking.status, []),
        "override_allowed": restaurant.allow_staff_override,
        "change_url": reverse("admin:bookings_booking_change", args=[booking.pk]),
        "code": format_code(booking.code),
    }


def staff_user_name(user_id: object) -> str:
    """Return the username of the staff member who chose tables, for "Why these tables?"."""
    name = username_of(user_id)
    return name if name is not None else f"user #{user_id}"


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
    "max_moves": "Most bookings moved to make room",
    "max_nodes": "Re-seating search steps at most",
    "max_targets": "Table sets considered for the new party at most",
    "time_budget_ms": "Re-seating time limit (ms)",
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
    if "reseated_by" in reason:
        before = reason.get("before")
        return {
            "headline": f"{reason.get('message', 'Re-seated.')} The allocator moved it at admission to make "
            "room for a new party: same time, same party, tables the planner allows. Bookings placed by "
            "staff, seated or starting soon are never moved.",
            "before": explain_allocation(before).get("headline") if before else None,
            "settings": [
                {"name": SETTING_WORDS.get(key, key), "value": value}
                for key, value in (reason.get("settings") or {}).items()
            ],
            "raw": reason,
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
    reseating = reason.get("reseating") or {}
    return {
        "headline": headline,
        "reseating": reseating.get("message"),
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
