"""The overbooking detector: check DESIGN §4 invariants 1–4 against the live database."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection

from allocator.capacity import Seating, usage_at
from bookings.models import (
    Booking,
    CapacityOverride,
    Hold,
    Restaurant,
    ServicePeriod,
    TableAdjacency,
)
from bookings.snapshots import limits_for, overrides_on, period_for, periods_on

KINDS = ("overlap", "over_capacity", "unseated_confirmed", "stale_pending")


@dataclass
class IntegrityReport:
    violations: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    checked_bookings: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in self.violations.items()}

    def render(self) -> str:
        lines = [f"ReserveX integrity check: {self.checked_bookings} bookings checked"]
        for kind in KINDS:
            items = self.violations[kind]
            lines.append(f"  {kind}: {len(items)}")
            lines.extend(f"    - {item}" for item in items[:50])
            if len(items) > 50:
                lines.append(f"    … and {len(items) - 50} more")
        lines.append("OK" if self.ok else "VIOLATIONS FOUND")
        return "\n".join(lines)


def check_integrity(
    *, now: datetime, since: datetime | None = None, stale_after: timedelta
) -> IntegrityReport:
    """Return every broken invariant among bookings that end after ``since`` (default: all)."""
    report = IntegrityReport()
    _check_overlaps(report)
    bookings = Booking.objects.filter(status__in=Booking.HOLDING_CAPACITY)
    if since is not None:
        bookings = bookings.filter(ends_at__gt=since)
    report.checked_bookings = bookings.count()
    _check_capacity(report, bookings, now=now)
    _check_seating(report, since=since)
    # Bookings held for staff by the no-show rule wait for a person, not for the allocator.
    for reference, created in (
        Booking.objects.waiting_for_tables()
        .filter(created_at__lt=now - stale_after)
        .values_list("reference", "created_at")
    ):
        report.violations["stale_pending"].append(
            f"booking {reference} pending since {created:%Y-%m-%d %H:%M:%S}"
        )
    return report


def _check_overlaps(report: IntegrityReport) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = 'occupancy_no_overlap'")
        if cursor.fetchone() is None:
            report.violations["overlap"].append("the exclusion constraint occupancy_no_overlap is missing")
        cursor.execute(
            """
            SELECT a.table_id, a.id, b.id, lower(a.during), lower(b.during)
            FROM bookings_tableoccupancy a
            JOIN bookings_tableoccupancy b
              ON a.table_id = b.table_id AND a.id < b.id AND a.during && b.during
            WHERE a.released_at IS NULL AND b.released_at IS NULL
            """
        )
        for table_id, first, second, first_start, second_start in cursor.fetchall():
            report.violations["overlap"].append(
                f"table {table_id}: windows {first} ({first_start:%Y-%m-%d %H:%M}) and "
                f"{second} ({second_start:%Y-%m-%d %H:%M}) overlap"
            )


def _check_capacity(report: IntegrityReport, bookings: object, *, now: datetime) -> None:
    """Check covers, parties and pacing at the start of every booking against its period's limits."""
    by_restaurant: dict[int, list[tuple[datetime, datetime, int, bool, str]]] = defaultdict(list)
    for row in bookings.values_list(  # type: ignore[attr-defined]
        "restaurant_id", "starts_at", "ends_at", "party_size", "capacity_override", "reference"
    ):
        by_restaurant[row[0]].append(row[1:])
    for restaurant in Restaurant.objects.filter(pk__in=by_restaurant):
        rows = by_restaurant[restaurant.pk]
        if not rows:
            continue
        first = min(r[0] for r in rows)
        last = max(r[1] for r in rows)
        # Staff overrides are allowed past the rules; they are audited, not violations.
        seatings = [Seating(s, e, p) for s, e, p, override, _ in rows if not override]
        seatings += [
            Seating(s, e, p)
            for s, e, p in Hold.objects.filter(
                restaurant=restaurant,
                released_at__isnull=True,
                booking__isnull=True,
                expires_at__gt=now,
                starts_at__lt=last,
                ends_at__gt=first,
            ).values_list("starts_at", "ends_at", "party_size")
        ]
        interval = timedelta(minutes=restaurant.slot_interval_minutes)
        tz = restaurant.tz
        # Sorted by start, so each booking is compared only with the seatings that can overlap it.
        seatings.sort(key=lambda seating: seating.starts_at)
        starts = [seating.starts_at for seating in seatings]
        longest = max((seating.ends_at - seating.starts_at for seating in seatings), default=timedelta(0))
        periods_by_day: dict[date, list[ServicePeriod]] = {}
        overrides_by_day: dict[date, dict[str, CapacityOverride]] = {}
        for starts_at, ends_at, _party, override, reference in rows:
            if override:
                continue
            local = starts_at.astimezone(tz)
            day = local.date()
            if day not in periods_by_day:
                periods_by_day[day] = periods_on(restaurant, day)
                overrides_by_day[day] = overrides_on(restaurant, day)
            period = period_for(periods_by_day[day], local.time().replace(tzinfo=None))
            if period is None:
                continue
            limits = limits_for(period, overrides_by_day[day])
            nearby = seatings[bisect_left(starts, starts_at - longest) : bisect_left(starts, ends_at)]
            covers, parties, pacing = usage_at(nearby, starts_at, ends_at, interval)
            broken = [
                f"{name} {value} > {limit}"
                for name, value, limit in (
                    ("covers", covers, limits.max_covers),
                    ("parties", parties, limits.max_parties),
                    ("pacing", pacing, limits.pacing_covers),
                )
                if limit is not None and value > limit
            ]
            if broken:
                report.violations["over_capacity"].append(
                    f"{restaurant.slug} {local:%Y-%m-%d %H:%M} (booking {reference}): {', '.join(broken)}"
                )


def _check_seating(report: IntegrityReport, *, since: datetime | None) -> None:
    """Every confirmed or seated booking has active, own tables that seat its party."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT b.id, b.reference, b.party_size, b.restaurant_id, b.source,
                   count(o.id), coalesce(sum(t.max_party), 0),
                   coalesce(bool_and(t.active), true),
                   coalesce(bool_and(t.restaurant_id = b.restaurant_id), true),
                   coalesce(array_agg(t.id) FILTER (WHERE t.id IS NOT NULL), '{}'),
                   coalesce(min(t.min_party), 1)
            FROM bookings_booking b
            LEFT JOIN bookings_tableoccupancy o
              ON o.booking_id = b.id AND o.released_at IS NULL AND o.kind = 'assignment'
            LEFT JOIN bookings_table t ON t.id = o.table_id
            WHERE b.status IN ('confirmed', 'seated')
              AND (%s::timestamptz IS NULL OR b.ends_at > %s::timestamptz)
            GROUP BY b.id
            """,
            [since, since],
        )
        rows = cursor.fetchall()
    edges: dict[int, set[tuple[int, int]]] = defaultdict(set)
    multi = {row[3] for row in rows if row[5] > 1}
    for restaurant_id, a, b in TableAdjacency.objects.filter(restaurant_id__in=multi).values_list(
        "restaurant_id", "table_a_id", "table_b_id"
    ):
        edges[restaurant_id].add((a, b))
    for (
        _id,
        reference,
        party,
        restaurant_id,
        source,
        tables,
        seats,
        active,
        own,
        table_ids,
        min_party,
    ) in rows:
        problem = None
        if tables == 0:
            # Staff walk-ins and imported bookings may exist without a table.
            if source != Booking.Source.STAFF:
                problem = "confirmed without tables"
        elif seats < party:
            problem = f"{seats} seats for a party of {party}"
        elif not own:
            problem = "uses another restaurant's table"
        elif not active:
            problem = "uses an inactive table"
        elif tables == 1 and min_party > party:
            problem = f"table minimum {min_party} above party of {party}"
        elif tables > 1 and not tables_connected(list(table_ids), edges[restaurant_id]):
            problem = "joined tables are not adjacent"
        if problem:
            report.violations["unseated_confirmed"].append(f"booking {reference}: {problem}")


def tables_connected(table_ids: list[int], edges: set[tuple[int, int]]) -> bool:
    """Return whether the tables form one connected group through the given adjacency edges."""
    members = set(table_ids)
    seen = {table_ids[0]}
    frontier = [table_ids[0]]
    while frontier:
        current = frontier.pop()
        for a, b in edges:
            for here, there in ((a, b), (b, a)):
                if here == current and there in members and there not in seen:
                    seen.add(there)
                    frontier.append(there)
    return seen == members
