"""Read-only telemetry for staff and operators."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from observability.models import AllocationAttempt, ObservabilityEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
