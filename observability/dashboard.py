"""Read the telemetry dashboard's numbers with aggregate queries (selectors; no per-row Python).

Every figure is one GROUP BY over a time range of AllocationAttempt or ObservabilityEvent rows,
using ``date_trunc`` in the restaurant's time zone, ``count(*) FILTER (WHERE …)`` and
``percentile_cont``. The range predicates are served by the existing indexes (``created_at``;
``restaurant_id, created_at``; ``type, created_at``), and rows arrive in time order, so a range
reads few heap pages: on a year of seeded telemetry (946 k attempts, 2.8 M events, three busy
restaurants) a week across all restaurants takes about 100 ms, a day 30 ms. The cost is the
sort for the percentiles, proportional to the rows in the window, not to the table's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import ArrayField
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet
from django.db.models.functions import TruncHour

from observability.models import AllocationAttempt, ObservabilityEvent

Period = Literal["day", "week"]
PERCENTILES = (0.5, 0.95, 0.99)


class Percentiles(Aggregate):
    """``percentile_cont(ARRAY[…]) WITHIN GROUP (ORDER BY expr)``: several percentiles, one sort."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, fractions: Sequence[float] = PERCENTILES, **extra: Any) -> None:
        super().__init__(
            expression,
            fractions=", ".join(repr(float(f)) for f in fractions),
            output_field=ArrayField(FloatField()),
            **extra,
        )


@dataclass(frozen=True)
class Window:
    """The time range shown, in the zone whose hours the buckets follow."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    period: Period
    day: date

    @classmethod
    def ending_on(cls, day: date, period: Period, zone: ZoneInfo) -> Window:
        """Return the day ``day`` or the seven days ending with it, midnight to midnight in ``zone``."""
        first = day - timedelta(days=6) if period == "week" else day
        start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        return cls(start=start, end=end, zone=zone, period=period, day=day)

    def hours(self) -> list[datetime]:
        """Return the local hour starts of the window (23 or 25 on DST days), as buckets key them."""
        keys: list[datetime] = []
        instant = self.start.astimezone(ZoneInfo("UTC"))
        while instant < self.end:
            local = instant.astimezone(self.zone).replace(minute=0, second=0, microsecond=0)
            if not keys or keys[-1] != local:
                keys.append(local)
            instant += timedelta(hours=1)
        return keys


@dataclass
class HourRow:
    hour: datetime
    assigned: int = 0
    skipped: int = 0
    conflict: int = 0
    error: int = 0
    inline_assigned: int = 0
    background_assigned: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    retry_exhausted: int = 0

    @property
    def success_rate(self) -> float | None:
        judged = self.assigned + self.skipped
        return self.assigned / judged if judged else None


@dataclass
class Summary:
    attempts: int = 0
    assigned: int = 0
    skipped: int = 0
    conflict: int = 0
    error: int = 0
    inline_assigned: int = 0
    background_assigned: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    retry_exhausted: int = 0
    bookings: int = 0

    @property
    def success_rate(self) -> float | None:
        judged = self.assigned + self.skipped
        return self.assigned / judged if judged else None

    @property
    def inline_share(self) -> float | None:
        total = self.inline_assigned + self.background_assigned
        return self.inline_assigned / total if total else None


@dataclass
class RestaurantRow:
    restaurant_id: int
    summary: Summary


@dataclass
class DashboardData:
    window: Window
    hours: list[HourRow]
    summary: Summary
    taxonomy: list[tuple[str, str, int]]
    restaurants: list[RestaurantRow] = field(default_factory=list)
    # Waitlist and guest messages over the period: (label, event type, count), in GUEST_EVENTS order.
    guests: list[tuple[str, str, int]] = field(default_factory=list)


# What the waitlist and the guest messages did, read from their events (observability/events.py).
GUEST_EVENTS: tuple[tuple[str, str], ...] = (
    ("Joined a waitlist", "waitlist.joined"),
    ("Offers made", "waitlist.offered"),
    ("Offers accepted", "waitlist.accepted"),
    ("Offers declined", "waitlist.declined"),
    ("Offers expired", "waitlist.expired"),
    ("Messages sent", "message.sent"),
    ("Guests confirmed coming", "booking.guest_confirmed"),
)


_ATTEMPT_AGGREGATES: dict[str, Any] = {
    "attempts": Count("id"),
    "assigned": Count("id", filter=Q(outcome="assigned")),
    "skipped": Count("id", filter=Q(outcome="skipped")),
    "conflict": Count("id", filter=Q(outcome="conflict")),
    "error": Count("id", filter=Q(outcome="error")),
    # In the request: by the planner inline or by converting the guest's hold.
    "inline_assigned": Count("id", filter=Q(outcome="assigned", mode__in=["inline", "hold"])),
    "background_assigned": Count("id", filter=Q(outcome="assigned", mode="background")),
    "latency": Percentiles(F("total_ms")),
}


def _attempts(window: Window, restaurant_ids: Sequence[int] | None) -> QuerySet[AllocationAttempt]:
    queryset = AllocationAttempt.objects.filter(created_at__gte=window.start, created_at__lt=window.end)
    if restaurant_ids is not None:
        queryset = queryset.filter(restaurant_id__in=list(restaurant_ids))
    return queryset.order_by()


def _exhausted(window: Window, restaurant_ids: Sequence[int] | None) -> QuerySet[ObservabilityEvent]:
    queryset = ObservabilityEvent.objects.filter(
        type="allocation.retry_exhausted", created_at__gte=window.start, created_at__lt=window.end
    )
    if restaurant_ids is not None:
        queryset = queryset.filter(restaurant_id__in=list(restaurant_ids))
    return queryset.order_by()


def _guest_events(window: Window, restaurant_ids: Sequence[int] | None) -> list[tuple[str, str, int]]:
    queryset = ObservabilityEvent.objects.filter(
        type__in=[kind for _, kind in GUEST_EVENTS], created_at__gte=window.start, created_at__lt=window.end
    )
    if restaurant_ids is not None:
        queryset = queryset.filter(restaurant_id__in=list(restaurant_ids))
    counts = dict(queryset.order_by().values("type").annotate(n=Count("id")).values_list("type", "n"))
    return [(label, kind, counts.get(kind, 0)) for label, kind in GUEST_EVENTS]


def _rows(queryset: Any) -> list[dict[str, Any]]:
    """Return a values() queryset's rows (typed loosely: the stubs cannot see **aggregates)."""
    return cast(list[dict[str, Any]], list(queryset))


def _fill(target: Any, row: dict[str, Any]) -> None:
    for name in ("assigned", "skipped", "conflict", "error", "inline_assigned", "background_assigned"):
        setattr(target, name, row[name])
    latency = row["latency"] or [None, None, None]
    target.p50, target.p95, target.p99 = latency


def dashboard_data(
    window: Window, restaurant_ids: Sequence[int] | None, *, per_restaurant: bool = True
) -> DashboardData:
    """Return the dashboard for ``window`` over ``restaurant_ids`` (None: every restaurant)."""
    bucket = TruncHour("created_at", tzinfo=window.zone)
    by_hour = {hour: HourRow(hour=hour) for hour in window.hours()}
    hourly = (
        _attempts(window, restaurant_ids)
        .annotate(hour=bucket)
        .values("hour")
        .annotate(**_ATTEMPT_AGGREGATES)
        .order_by("hour")
    )
    for row in _rows(hourly):
        hour_row = by_hour.setdefault(row["hour"], HourRow(hour=row["hour"]))
        _fill(hour_row, row)
    exhausted = (
        _exhausted(window, restaurant_ids).annotate(hour=bucket).values("hour").annotate(n=Count("id"))
    )
    for row in _rows(exhausted):
        by_hour.setdefault(row["hour"], HourRow(hour=row["hour"])).retry_exhausted = row["n"]

    summary = Summary()
    totals = _attempts(window, restaurant_ids).aggregate(
        bookings=Count("booking_id", distinct=True), **_ATTEMPT_AGGREGATES
    )
    _fill(summary, totals)
    summary.attempts, summary.bookings = totals["attempts"], totals["bookings"]
    summary.retry_exhausted = _exhausted(window, restaurant_ids).count()

    taxonomy = [
        (row["outcome"], row["failure_reason"] or "(none)", row["n"])
        for row in _attempts(window, restaurant_ids)
        .exclude(outcome="assigned")
        .values("outcome", "failure_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "outcome", "failure_reason")[:12]
    ]

    restaurants: list[RestaurantRow] = []
    if per_restaurant:
        exhausted_by_restaurant = dict(
            _exhausted(window, restaurant_ids)
            .values("restaurant_id")
            .annotate(n=Count("id"))
            .values_list("restaurant_id", "n")
        )
        for row in _rows(
            _attempts(window, restaurant_ids)
            .values("restaurant_id")
            .annotate(bookings=Count("booking_id", distinct=True), **_ATTEMPT_AGGREGATES)
            .order_by("restaurant_id")
        ):
            per = Summary(attempts=row["attempts"], bookings=row["bookings"])
            _fill(per, row)
            per.retry_exhausted = exhausted_by_restaurant.get(row["restaurant_id"], 0)
            restaurants.append(RestaurantRow(restaurant_id=row["restaurant_id"], summary=per))

    return DashboardData(
        window=window,
        hours=[by_hour[hour] for hour in sorted(by_hour)],
        summary=summary,
        taxonomy=taxonomy,
        restaurants=restaurants,
        guests=_guest_events(window, restaurant_ids),
    )
