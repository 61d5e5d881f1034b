"""Django admin for restaurant staff: each staff user sees and edits only their restaurants.

The restaurant admin also mounts the staff pages (bookings/staff/): the day timeline and
the floor plan, from which bookings are moved, assigned and marked through bookings.services.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import combinations
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ForeignKey, Prefetch, QuerySet
from django.forms import ModelChoiceField
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from bookings.codes import format_code, normalize_code
from bookings.config import config_for
from bookings.errors import DomainError
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
    WaitlistEntry,
)
from bookings.selectors import tables_by_booking
from bookings.services.changes import booking_cancel, booking_set_status
from bookings.services.staff_confirm import booking_staff_confirm, booking_staff_decline
from bookings.services.waitlist import (
    WaitlistRequest,
    waitlist_check,
    waitlist_decline,
    waitlist_join,
    waitlist_offer_run,
    waitlist_quoted_wait,
)
from bookings.services.waitlist_accept import waitlist_seat_walk_in
from bookings.text import strip_bidi
from observability.models import AllocationAttempt

admin.site.site_header = "ReserveX"
admin.site.site_title = "ReserveX staff"
admin.site.index_title = "Your restaurants"


class RestaurantScopedAdmin(admin.ModelAdmin):
    """Limit rows and foreign-key choices to the user's restaurants."""

    restaurant_path = "restaurant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.restaurant_path}__in": Restaurant.objects.managed_by(request.user)})

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser or not isinstance(field, ModelChoiceField):
            return field
        model = db_field.related_model
        if model is Restaurant:
            field.queryset = Restaurant.objects.managed_by(request.user)
        elif model in (Table, ServicePeriod, Booking, Hold) and field.queryset is not None:
            field.queryset = field.queryset.filter(restaurant__in=Restaurant.objects.managed_by(request.user))
        return field


class ServicePeriodInlineForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The formset checks overlaps across the whole submission instead (see below).
        self.instance.skip_overlap_check = True


class ServicePeriodFormSet(BaseInlineFormSet):
    """Refuse overlapping periods on one day, judged on the submitted values of every row at once.

    Checking each row against the database alone would refuse a valid edit that moves two periods
    together (lunch ends earlier and dinner opens earlier in one save).
    """

    def clean(self) -> None:
        super().clean()
        kept: list[ServicePeriod] = []
        kept_pks: set[int] = set()
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or form.errors:
                continue
            if self.can_delete and form.cleaned_data.get(DELETION_FIELD_NAME):
                if form.instance.pk:
                    kept_pks.add(form.instance.pk)  # being deleted: not in the database's picture
                continue
            kept.append(form.instance)
            if form.instance.pk:
                kept_pks.add(form.instance.pk)
        if self.instance.pk:
            kept += list(ServicePeriod.objects.filter(restaurant=self.instance).exclude(pk__in=kept_pks))
        kept = [p for p in kept if p.opens is not None and p.closes is not None and p.weekday is not None]
        kept.sort(key=lambda p: (p.weekday, p.opens))
        problems = [
            later.overlap_message(earlier)
            for earlier, later in combinations(kept, 2)
            if later.overlaps(earlier)
        ]
        if problems:
            raise ValidationError(problems)


class ServicePeriodInline(admin.TabularInline):
    model = ServicePeriod
    form = ServicePeriodInlineForm
    formset = ServicePeriodFormSet
    extra = 0


@admin.register(Restaurant)
class RestaurantAdmin(RestaurantScopedAdmin):
    restaurant_path = "pk"
    list_display = ["name", "slug", "timezone", "slot_interval_minutes", "hold_ttl_seconds", "staff_pages"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["staff"]
    inlines = [ServicePeriodInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return queryset.managed_by(request.user)  # type: ignore[attr-defined]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Only superusers decide who works where.
        return [] if request.user.is_superuser else ["staff", "slug"]

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        # A read-only slug cannot be prepopulated (the change page would fail for staff).
        return dict(self.prepopulated_fields) if request.user.is_superuser else {}

    def get_urls(self) -> list[URLPattern]:
        from bookings.staff.views import StaffPages

        return [*StaffPages(self).urls(), *super().get_urls()]

    @admin.display(description="Staff pages")
    def staff_pages(self, obj: Restaurant) -> str:
        return format_html(
            '<a href="{}">Timeline</a> · <a href="{}">New booking</a> · <a href="{}">Floor plan</a> · '
            '<a href="{}">Widget</a>',
            reverse("admin:bookings_restaurant_timeline", args=[obj.pk]),
            reverse("admin:bookings_restaurant_booking_new", args=[obj.pk]),
            reverse("admin:bookings_restaurant_floor", args=[obj.pk]),
            reverse("widget", args=[obj.slug]),
        )


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
            field.queryset = field.queryset.filter(restaurant__in=Restaurant.objects.managed_by(request.user))
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


def _apply_to_each(
    modeladmin: BookingAdmin,
    request: HttpRequest,
    bookings: QuerySet[Booking],
    apply: Callable[[Booking, int], None],
    done: str,
) -> None:
    """Apply a change to each selected booking; say how many changed and why any was refused."""
    changed, refused = 0, []
    actor = int(request.user.pk or 0)
    for booking in bookings:
        try:
            apply(booking, actor)
            changed += 1
        except DomainError as exc:
            refused.append(f"{booking.guest_name}: {exc.message}")
    if changed:
        modeladmin.message_user(request, f"{changed} booking(s) {done}.", messages.SUCCESS)
    for text in refused:
        modeladmin.message_user(request, text, messages.ERROR)


def _booking_action(status: str, done: str) -> Any:
    """Build a changelist action that moves the selected bookings along their status machine."""

    def move(booking: Booking, actor_id: int) -> None:
        if status == Booking.Status.CANCELLED:
            booking_cancel(booking=booking)
        else:
            booking_set_status(booking=booking, status=status, actor_id=actor_id)

    def action(modeladmin: BookingAdmin, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        _apply_to_each(modeladmin, request, queryset.select_related("restaurant"), move, done)

    action.__name__ = f"mark_{status}"
    return admin.action(
        description=f"Mark selected bookings {Booking.Status(status).label.lower()}"
        if status != Booking.Status.CANCELLED
        else "Cancel selected bookings",
        permissions=["change"],
    )(action)


def _staff_decision(decide: Any, done: str, description: str) -> Any:
    """Build a changelist action that confirms or declines bookings the no-show rule held."""

    def apply(booking: Booking, actor_id: int) -> None:
        decide(booking=booking, actor_id=actor_id)

    def action(modeladmin: BookingAdmin, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        _apply_to_each(modeladmin, request, queryset, apply, done)

    action.__name__ = f"staff_{decide.__name__.rsplit('_', 1)[-1]}"
    return admin.action(description=description, permissions=["change"])(action)


class AwaitingStaffFilter(admin.SimpleListFilter):
    """The bookings the no-show rule holds until staff confirm or decline them."""

    title = "staff confirmation"
    parameter_name = "awaiting_staff"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Awaiting staff confirmation")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(status=Booking.Status.PENDING, awaiting_staff=True)
        return queryset


class BookingForm(forms.ModelForm):
    """The guest's details as staff edit them: cleaned like every other input of a name or notes."""

    class Meta:
        model = Booking
        fields = ["guest_name", "guest_email", "guest_phone", "notes"]

    def clean_guest_name(self) -> str:
        name = strip_bidi(self.cleaned_data["guest_name"]).strip()
        if not name:
            raise ValidationError("Give the guest's name.")
        return name

    def clean_notes(self) -> str:
        return strip_bidi(self.cleaned_data["notes"])


@admin.register(Booking)
class BookingAdmin(RestaurantScopedAdmin):
    form = BookingForm
    # What staff look for at 1 280 px without scrolling sideways (beside the admin's menu and the
    # filters): who, how many, when, how it stands and where they sit. The source is a filter, and
    # with the reference on the change page.
    list_display = ["code_column", "guest", "party", "when_column", "status", "tables"]
    list_display_links = ["code_column", "guest"]
    list_filter = [
        "status",
        AwaitingStaffFilter,
        "source",
        "restaurant",
        ("starts_at", admin.DateFieldListFilter),
    ]
    date_hierarchy = "starts_at"
    search_fields = ["code", "reference", "guest_name", "guest_email"]
    search_help_text = "Booking code (any case, spaces and dashes ignored), guest name, email or reference."
    list_select_related = ["restaurant"]
    actions = [
        _booking_action(Booking.Status.SEATED, "marked seated"),
        _booking_action(Booking.Status.COMPLETED, "marked completed"),
        _booking_action(Booking.Status.NO_SHOW, "marked as no-shows"),
        _booking_action(Booking.Status.CANCELLED, "cancelled"),
        _staff_decision(
            booking_staff_confirm, "confirmed", "Confirm selected bookings awaiting staff (no-show rule)"
        ),
        _staff_decision(
            booking_staff_decline,
            "declined (cancelled; their tables go to the waitlist)",
            "Decline selected bookings awaiting staff (no-show rule)",
        ),
    ]
    # Times, party size and status change only through bookings.services (the timeline and the
    # actions above), so a booking can never be edited past its tables or the capacity rules here.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code_display",
                    "reference",
                    "restaurant",
                    "status",
                    "status_reason",
                    "when",
                    "party_size",
                    "tables_now",
                    "on_timeline",
                ]
            },
        ),
        ("Guest", {"fields": ["guest_name", "guest_email", "guest_phone", "notes"]}),
        ("Why these tables?", {"fields": ["why_these_tables", "allocation_attempts"]}),
        (
            "Record",
            {
                "fields": [
                    "source",
                    "capacity_override",
                    "awaiting_staff",
                    "created_at",
                    "confirmed_at",
                    "allocation_enqueued_at",
                ]
            },
        ),
    ]
    readonly_fields = [
        "code_display",
        "reference",
        "restaurant",
        "status",
        "status_reason",
        "when",
        "party_size",
        "tables_now",
        "on_timeline",
        "why_these_tables",
        "allocation_attempts",
        "source",
        "capacity_override",
        "awaiting_staff",
        "created_at",
        "confirmed_at",
        "allocation_enqueued_at",
    ]

    class Media:
        css = {"all": ["bookings/admin/staff.css"]}

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Not a raw model form: "Add" leads to the staff form, which admits the booking like a guest's
        # (capacity rules, tables, idempotency) — for the user's restaurant, or a choice of them.
        if not self.has_add_permission(request):
            raise PermissionDenied
        restaurants = list(Restaurant.objects.managed_by(request.user)[:2])
        if len(restaurants) == 1:
            return HttpResponseRedirect(
                reverse("admin:bookings_restaurant_booking_new", args=[restaurants[0].pk])
            )
        messages.info(request, "Choose the restaurant: “New booking” is next to its timeline.")
        return HttpResponseRedirect(reverse("admin:bookings_restaurant_changelist"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "occupancies",
                    queryset=TableOccupancy.objects.active().select_related("table").order_by("table__label"),
                    to_attr="active_occupancies",
                )
            )
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "staff_restaurants": list(Restaurant.objects.managed_by(request.user)[:3]),
        }
        return super().changelist_view(request, extra_context)

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if Restaurant.objects.managed_by(request.user)[:2].count() > 1:
            columns.insert(1, "restaurant")  # only staff of several restaurants need to tell them apart
        return columns

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Find a booking by its code as staff type it ("k7m 4qpx", "K7M-4QPX"), besides the usual."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = normalize_code(search_term)
        if code is not None:
            results = results | queryset.filter(code=code)
        return results, may_have_duplicates

    @admin.display(description="Code", ordering="code")
    def code_column(self, obj: Booking) -> str:
        return format_html('<span class="rx-code">{}</span>', format_code(obj.code))

    @admin.display(description="Booking code")
    def code_display(self, obj: Booking) -> str:
        return format_html(
            '<span class="rx-code rx-code-big">{}</span> <span class="help">read it to the guest; '
            "staff search finds it in any case, with or without the dash</span>",
            format_code(obj.code),
        )

    @admin.display(description="Guest", ordering="guest_name")
    def guest(self, obj: Booking) -> str:
        # A very long name is cut with an ellipsis; the full name shows on hover.
        return format_html('<span class="rx-guest" title="{}">{}</span>', obj.guest_name, obj.guest_name)

    @admin.display(description="Party", ordering="party_size")
    def party(self, obj: Booking) -> int:
        return obj.party_size

    @admin.display(description="Time", ordering="starts_at")
    def when_column(self, obj: Booking) -> str:
        # The year is in the date filter above the list; a short time keeps every column in view.
        local = obj.starts_at.astimezone(obj.restaurant.tz)
        return format_html('<span class="rx-when-cell">{}</span>', f"{local:%a %-d %b, %H:%M}")

    @admin.display(description="Tables")
    def tables(self, obj: Booking) -> str:
        return "+".join(o.table.label for o in getattr(obj, "active_occupancies", [])) or "—"

    @admin.display(description="Tables now")
    def tables_now(self, obj: Booking) -> str:
        return self.tables(obj)

    @admin.display(description="When")
    def when(self, obj: Booking) -> str:
        tz = obj.restaurant.tz
        start, end = obj.starts_at.astimezone(tz), obj.ends_at.astimezone(tz)
        return f"{start:%a %-d %b %Y, %H:%M}–{end:%H:%M} ({obj.restaurant.timezone})"

    @admin.display(description="Staff pages")
    def on_timeline(self, obj: Booking) -> str:
        tz = obj.restaurant.tz
        local = obj.starts_at.astimezone(tz)
        timeline = reverse("admin:bookings_restaurant_timeline", args=[obj.restaurant_id])
        floor = reverse("admin:bookings_restaurant_floor", args=[obj.restaurant_id])
        day = {"date": local.date().isoformat(), "booking": obj.pk}
        return format_html(
            '<a href="{}#panel">Open on the timeline</a> · <a href="{}#panel">on the floor plan</a> '
            "— move it, assign tables, change its status",
            f"{timeline}?{urlencode(day)}",
            f"{floor}?{urlencode({**day, 'time': local.strftime('%H:%M')})}",
        )

    @admin.display(description="Planner's reason")
    def why_these_tables(self, obj: Booking) -> SafeString:
        from bookings.staff.presenters import explain_allocation

        explanation = explain_allocation(obj.allocation_reason)
        raw = json.dumps(obj.allocation_reason, indent=2, sort_keys=True) if obj.allocation_reason else ""
        return mark_safe(  # noqa: S308 - a template rendered with autoescape
            render_to_string("bookings/admin/why_tables.html", {"why": explanation, "raw": raw})
        )

    @admin.display(description="Allocation attempts")
    def allocation_attempts(self, obj: Booking) -> SafeString:
        from bookings.staff.presenters import failure_words

        tz = obj.restaurant.tz
        attempts = list(AllocationAttempt.objects.filter(booking_id=obj.pk).order_by("created_at", "attempt"))
        rows = [
            {
                "attempt": a,
                "at": a.created_at.astimezone(tz),
                "failure": failure_words(a.failure_reason),
            }
            for a in attempts
        ]
        return mark_safe(  # noqa: S308 - a template rendered with autoescape
            render_to_string("bookings/admin/attempts.html", {"rows": rows, "now": timezone.now()})
        )


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


class WaitlistJoinForm(forms.ModelForm):
    """Staff put a guest on a day's waitlist (a phone call, a walk-in waiting at the door)."""

    class Meta:
        model = WaitlistEntry
        fields = [
            "restaurant",
            "date",
            "earliest_time",
            "latest_time",
            "party_size",
            "guest_name",
            "guest_email",
            "guest_phone",
            "notes",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            waitlist_check(config_for(data["restaurant"].pk), self.waitlist_request(data), now=timezone.now())
        except DomainError as exc:
            raise ValidationError(exc.message) from exc
        return data

    @staticmethod
    def waitlist_request(data: dict[str, Any]) -> WaitlistRequest:
        return WaitlistRequest(
            local_date=data["date"],
            earliest_time=data["earliest_time"],
            latest_time=data["latest_time"],
            party_size=data["party_size"],
            guest_name=data["guest_name"],
            guest_email=data.get("guest_email", ""),
            guest_phone=data.get("guest_phone", ""),
            notes=data.get("notes", ""),
            source=WaitlistEntry.Source.STAFF,
        )


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(RestaurantScopedAdmin):
    """The waitlist in line order; entries join through the waitlist service, then only its services
    change them (offers, accept, decline, expiry)."""

    list_display = [
        "date",
        "window",
        "party_size",
        "guest_name",
        "status",
        "created_at",
        "offer_expires_at",
        "booking",
        "restaurant",
    ]
    list_filter = ["restaurant", "status", "date"]
    list_select_related = ["restaurant", "booking"]
    ordering = ["date", "created_at", "pk"]
    search_fields = ["guest_name", "guest_email", "guest_phone"]
    actions = ["seat_now", "offer_free_tables", "take_off_the_list"]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Not in admin's wrapping transaction: the waitlist service owns its (durable) one.
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = WaitlistJoinForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in WaitlistEntry._meta.fields] if obj is not None else []

    @admin.display(description="Window")
    def window(self, entry: WaitlistEntry) -> str:
        return f"{entry.earliest_time:%H:%M}–{entry.latest_time:%H:%M}"

    def save_model(self, request: HttpRequest, obj: WaitlistEntry, form: Any, change: bool) -> None:
        if change:
            return  # nothing is edited here: the services own every change
        # Checked by the form's clean(); the service checks again and enqueues the offer run.
        entry = waitlist_join(
            config=config_for(obj.restaurant_id), request=WaitlistJoinForm.waitlist_request(form.cleaned_data)
        )
        assert isinstance(entry, WaitlistEntry)  # no Idempotency-Key: never a stored answer
        obj.pk, obj.token, obj.created_at = entry.pk, entry.token, entry.created_at
        config = config_for(entry.restaurant_id)
        now = timezone.now()
        if entry.date == now.astimezone(config.tz).date():  # a guest at the door: what to tell them
            quote = waitlist_quoted_wait(config=config, party_size=entry.party_size, now=now)
            if quote is None:
                text = f"No table for {entry.party_size} frees up today as things stand."
            else:
                at = quote.starts_at.astimezone(config.tz)
                table = f"a table for {entry.party_size} at {at:%H:%M}"
                text = f"Quoted wait: about {quote.minutes} minutes ({table})."
            self.message_user(request, text, messages.INFO)

    @admin.action(description="Seat now (a guest waiting at the door)")
    def seat_now(self, request: HttpRequest, queryset: QuerySet[WaitlistEntry]) -> None:
        for entry in queryset.select_related("restaurant"):
            try:
                booking = waitlist_seat_walk_in(entry=entry, actor_id=int(request.user.pk or 0))
            except DomainError as exc:
                self.message_user(request, f"{entry.guest_name}: {exc.message}", messages.ERROR)
                continue
            tables = " + ".join(tables_by_booking([booking.pk]).get(booking.pk, [])) or "no table yet"
            self.message_user(
                request,
                f"Seated {entry.guest_name} (party of {entry.party_size}) at {tables}.",
                messages.SUCCESS,
            )

    @admin.action(description="Offer free tables to these days' waiting guests now")
    def offer_free_tables(self, request: HttpRequest, queryset: QuerySet[WaitlistEntry]) -> None:
        offered = 0
        for restaurant_id, local_date in queryset.values_list("restaurant_id", "date").distinct():
            try:
                offered += len(waitlist_offer_run(restaurant_id=restaurant_id, local_date=local_date))
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{offered} offer(s) sent.", messages.SUCCESS)

    @admin.action(description="Take off the waitlist (releases an open offer)")
    def take_off_the_list(self, request: HttpRequest, queryset: QuerySet[WaitlistEntry]) -> None:
        for token in queryset.values_list("token", flat=True):
            try:
                waitlist_decline(token=token)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.WARNING)
