"""Django admin for restaurant staff: each staff user sees and edits only their restaurants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from bookings.models import (
    Booking,
    CapacityOverride,
    CapacityRule,
    Hold,
    Restaurant,
    ServicePeriod,
    Table,
    TableAdjacency,
    TableOccupancy,
)


def restaurants_of(request: HttpRequest) -> QuerySet[Restaurant]:
    """Return the restaurants this user may manage (all of them for superusers)."""
    if request.user.is_superuser:
        return Restaurant.objects.all()
    return Restaurant.objects.filter(staff=request.user.pk)


class RestaurantScopedAdmin(admin.ModelAdmin):
    """Limit rows and foreign-key choices to the user's restaurants."""

    restaurant_path = "restaurant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.restaurant_path}__in": restaurants_of(request)})

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser or not isinstance(field, ModelChoiceField):
            return field
        model = db_field.related_model
        if model is Restaurant:
            field.queryset = restaurants_of(request)
        elif model in (Table, ServicePeriod, Booking, Hold) and field.queryset is not None:
            field.queryset = field.queryset.filter(restaurant__in=restaurants_of(request))
        return field


class ServicePeriodInline(admin.TabularInline):
    model = ServicePeriod
    extra = 0


@admin.register(Restaurant)
class RestaurantAdmin(RestaurantScopedAdmin):
    restaurant_path = "pk"
    list_display = ["name", "slug", "timezone", "slot_interval_minutes", "hold_ttl_seconds"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["staff"]
    inlines = [ServicePeriodInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return queryset if request.user.is_superuser else queryset.filter(staff=request.user.pk)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Only superusers decide who works where.
        return [] if request.user.is_superuser else ["staff", "slug"]


class CapacityRuleInline(admin.StackedInline):
    model = CapacityRule
    extra = 0


@admin.register(ServicePeriod)
class ServicePeriodAdmin(RestaurantScopedAdmin):
    list_display = ["restaurant", "kind", "weekday", "opens", "closes", "last_seating"]
    list_filter = ["restaurant", "kind", "weekday"]
    inlines = [CapacityRuleInline]


@admin.register(CapacityRule)
class CapacityRuleAdmin(RestaurantScopedAdmin):
    restaurant_path = "period__restaurant"
    list_display = ["period", "max_covers", "max_parties", "pacing_covers"]
    list_filter = ["period__restaurant", "period__kind"]


@admin.register(CapacityOverride)
class CapacityOverrideAdmin(RestaurantScopedAdmin):
    list_display = ["restaurant", "date", "period_kind", "closed", "max_covers", "max_parties", "reason"]
    list_filter = ["restaurant", "closed"]
    date_hierarchy = "date"


class AdjacencyInline(admin.TabularInline):
    model = TableAdjacency
    fk_name = "table_a"
    extra = 0
    fields = ["table_b"]
    verbose_name = "joins with"
    verbose_name_plural = "joins with (tables with a higher id)"

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if (
            not request.user.is_superuser
            and isinstance(field, ModelChoiceField)
            and field.queryset is not None
        ):
            field.queryset = field.queryset.filter(restaurant__in=restaurants_of(request))
        return field


@admin.register(Table)
class TableAdmin(RestaurantScopedAdmin):
    list_display = ["label", "restaurant", "section", "min_party", "max_party", "combinable", "active"]
    list_filter = ["restaurant", "section", "active", "combinable"]
    list_editable = ["active"]
    search_fields = ["label"]


@admin.register(TableAdjacency)
class TableAdjacencyAdmin(RestaurantScopedAdmin):
    list_display = ["__str__", "restaurant"]
    list_filter = ["restaurant"]


@admin.register(Booking)
class BookingAdmin(RestaurantScopedAdmin):
    list_display = ["reference", "restaurant", "starts_at", "party_size", "guest_name", "status", "source"]
    list_filter = ["status", "source", "restaurant", ("starts_at", admin.DateFieldListFilter)]
    date_hierarchy = "starts_at"
    search_fields = ["reference", "guest_name", "guest_email"]
    readonly_fields = [
        "reference",
        "status",
        "status_reason",
        "allocation_reason",
        "created_at",
        "confirmed_at",
    ]
    list_select_related = ["restaurant"]


@admin.register(Hold)
class HoldAdmin(RestaurantScopedAdmin):
    list_display = ["id", "restaurant", "starts_at", "party_size", "expires_at", "released_at", "booking"]
    list_filter = ["restaurant"]
    readonly_fields = [f.name for f in Hold._meta.fields]


@admin.register(TableOccupancy)
class TableOccupancyAdmin(RestaurantScopedAdmin):
    list_display = ["table", "during", "kind", "booking", "hold", "expires_at", "released_at"]
    list_filter = ["restaurant", "kind"]
    list_select_related = ["table", "booking"]
    readonly_fields = [f.name for f in TableOccupancy._meta.fields]
