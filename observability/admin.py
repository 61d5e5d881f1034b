"""Read-only telemetry for staff and operators, and the telemetry dashboard page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from observability import charts
from observability.charts import PALETTE, Series
from observability.dashboard import DashboardData, Period, Summary, Window, dashboard_data
from observability.models import AllocationAttempt, Dashboard, ObservabilityEvent
from observability.scoping import RestaurantRef, visible_restaurants


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Telemetry of other restaurants stays out of sight, like their bookings do.
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(restaurant_id__in=[r.id for r in visible_restaurants(request.user)])


@admin.register(ObservabilityEvent)
class ObservabilityEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "restaurant_id", "booking_id", "duration_ms"]
    list_filter = ["type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=booking_id", "=restaurant_id"]
    date_hierarchy = "created_at"


@admin.register(AllocationAttempt)
class AllocationAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "booking_id",
        "mode",
        "attempt",
        "outcome",
        "planner_ms",
        "total_ms",
        "seat_waste",
    ]
    list_filter = ["mode", "outcome", "failure_reason", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=booking_id"]
    date_hierarchy = "created_at"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _percent(value: float) -> str:
    return f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _figures(summary: Summary) -> dict[str, str]:
    """Return a summary's figures as display strings ("–" where there is no data)."""

    def show(value: float | None, fmt: Any) -> str:
        return "–" if value is None else str(fmt(value))

    return {
        "bookings": f"{summary.bookings:,}",
        "attempts": f"{summary.attempts:,}",
        "success_rate": show(summary.success_rate, _percent),
        "p50": show(summary.p50, _ms),
        "p95": show(summary.p95, _ms),
        "p99": show(summary.p99, _ms),
        "inline_share": show(summary.inline_share, _percent),
        "conflicts": f"{summary.conflict:,}",
        "errors": f"{summary.error:,}",
        "retry_exhausted": f"{summary.retry_exhausted:,}",
    }


def dashboard_charts(data: DashboardData) -> dict[str, str]:
    """Return the dashboard's SVG charts keyed by name."""
    week = data.window.period == "week"
    categories = [f"{row.hour:%a %d %b %H:%M}" for row in data.hours]
    if week:
        ticks = [(i, f"{row.hour:%a %d}") for i, row in enumerate(data.hours) if row.hour.hour == 0]
    else:
        ticks = [(i, f"{row.hour:%H:%M}") for i, row in enumerate(data.hours) if row.hour.hour % 3 == 0]
    rates = [row.success_rate for row in data.hours]
    known = [rate for rate in rates if rate is not None]
    # Success rates live near 100 %: start the axis at the decade below the worst hour.
    floor = min(0.9, int(min(known) * 10) / 10) if known else 0.0
    return {
        "success": charts.line_chart(
            label="Assignment success rate per hour",
            series=[Series("assigned / (assigned + skipped)", rates, PALETTE["green"])],
            fmt=_percent,
            y_min=floor,
            y_max=1.0,
            categories=categories,
            ticks=ticks,
        ),
        "latency": charts.line_chart(
            label="Allocation attempt latency per hour",
            series=[
                Series("p50", [row.p50 for row in data.hours], PALETTE["blue"]),
                Series("p95", [row.p95 for row in data.hours], PALETTE["orange"]),
                Series("p99", [row.p99 for row in data.hours], PALETTE["red"]),
            ],
            fmt=_ms,
            categories=categories,
            ticks=ticks,
        ),
        "mode": charts.bar_chart(
            label="Assignments per hour, inline vs background",
            series=[
                Series("inline", [row.inline_assigned for row in data.hours], PALETTE["blue"]),
                Series("background", [row.background_assigned for row in data.hours], PALETTE["purple"]),
            ],
            categories=categories,
            ticks=ticks,
        ),
        "outcomes": charts.bar_chart(
            label="Attempts that did not assign, per hour",
            series=[
                Series("conflict (retried)", [row.conflict for row in data.hours], PALETTE["orange"]),
                Series("skipped (no plan)", [row.skipped for row in data.hours], PALETTE["grey"]),
                Series("error", [row.error for row in data.hours], PALETTE["red"]),
            ],
            categories=categories,
            ticks=ticks,
        ),
        "exhausted": charts.bar_chart(
            label="Retry exhaustion per hour",
            series=[
                Series("allocation.retry_exhausted", [row.retry_exhausted for row in data.hours], "#7f0000")
            ],
            categories=categories,
            ticks=ticks,
        ),
        "taxonomy": charts.hbar_chart(
            label="Error taxonomy",
            items=[
                (outcome if reason == outcome else f"{outcome}: {reason}", count)
                for outcome, reason, count in data.taxonomy
            ],
        ),
    }


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """The telemetry dashboard, listed in the admin index under Observability for all staff."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.dashboard_view)
        return [path("", view, name="observability_dashboard_changelist")]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Show the charts for one restaurant (or all the user may see) over a day or a week."""
        restaurants = visible_restaurants(request.user)
        chosen: RestaurantRef | None = None
        if (wanted := request.GET.get("restaurant", "all")) != "all":
            chosen = next((r for r in restaurants if str(r.id) == wanted), None)
        period: Period = "week" if request.GET.get("period") == "week" else "day"
        zone = _zone(chosen.timezone if chosen else (restaurants[0].timezone if restaurants else "UTC"))
        try:
            day = date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = timezone.now().astimezone(zone).date()
        # Keep a week's window and the day after inside what dates can represent.
        day = min(max(day, date.min + timedelta(days=7)), date.max - timedelta(days=1))
        window = Window.ending_on(day, period, zone)
        if chosen is not None:
            scope: list[int] | None = [chosen.id]
        elif request.user.is_superuser:
            scope = None  # every restaurant, including telemetry of ones since deleted
        else:
            scope = [r.id for r in restaurants]
        data = dashboard_data(window, scope, per_restaurant=chosen is None)
        names = {r.id: r.name for r in restaurants}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Telemetry dashboard",
            "restaurants": restaurants,
            "chosen": chosen,
            "period": period,
            "day": day,
            "window": window,
            "generated_at": datetime.now(zone),
            "data": data,
            "figures": _figures(data.summary),
            "charts": dashboard_charts(data),
            "per_restaurant": [
                (names.get(row.restaurant_id, f"#{row.restaurant_id}"), _figures(row.summary))
                for row in data.restaurants
            ],
            "no_restaurants": not restaurants and not request.user.is_superuser,
        }
        return TemplateResponse(request, "observability/dashboard.html", context)
