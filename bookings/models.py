"""The domain of ReserveX: restaurants, their floor and rules, and the bookings made against them.

The database carries the invariants that must never break (DESIGN §4): one exclusion constraint
keeps the active occupancy windows of a table from overlapping, whether they come from holds or
from assignments; check constraints keep times ordered and party sizes positive.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q, Value

from bookings.codes import CODE_CONSTRAINT, CODE_LENGTH, format_code, new_booking_code

DEFAULT_TURN_TIMES: list[list[int]] = [[2, 90], [4, 105], [6, 120], [0, 150]]
"""[max party size, minutes] in ascending order; the last entry (max 0) covers every larger party."""

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


def default_turn_times() -> list[list[int]]:
    return [list(entry) for entry in DEFAULT_TURN_TIMES]


def validate_turn_times(value: Any) -> None:
    """Reject turn-time tables a manager could not have meant."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Turn times must be a non-empty list of [max party size, minutes].")
    previous = 0
    for index, entry in enumerate(value):
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, int) for x in entry)):
            raise ValidationError(f"Entry {index + 1} must be [max party size, minutes].")
        max_party, minutes = entry
        is_last = index == len(value) - 1
        if minutes <= 0:
            raise ValidationError(f"Entry {index + 1}: minutes must be positive.")
        if is_last and max_party == 0:
            continue
        if max_party <= previous:
            raise ValidationError("Turn times must be listed by increasing party size.")
        previous = max_party


def validate_pacing(pacing_covers: int | None, max_covers: int | None) -> None:
    """Refuse a pacing limit that could never be reached because covers stop it first."""
    if pacing_covers is not None and max_covers is not None and pacing_covers > max_covers:
        raise ValidationError(
            {
                "pacing_covers": f"Pacing ({pacing_covers} guests starting per slot) cannot be more than "
                f"the guests seated at once ({max_covers}). Lower the pacing or raise the covers."
            }
        )


def new_booking_reference() -> str:
    """Return an unguessable booking reference (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


class RestaurantQuerySet(models.QuerySet["Restaurant"]):
    def managed_by(self, user: Any) -> RestaurantQuerySet:
        """Return the restaurants this user may manage: every one for a superuser, else their own."""
        if getattr(user, "is_superuser", False):
            return self.all()
        return self.filter(staff=user.pk)


class Restaurant(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="Europe/London")
    slot_interval_minutes = models.PositiveSmallIntegerField(default=15)
    booking_horizon_days = models.PositiveSmallIntegerField(default=90)
    hold_ttl_seconds = models.PositiveIntegerField(default=300)
    turn_times = models.JSONField(default=default_turn_times, validators=[validate_turn_times])
    phone = models.CharField(
        max_length=32, blank=True, help_text="Shown to guests whose party is too large to book online."
    )
    email = models.EmailField(blank=True, help_text="Shown with the phone number, for the same guests.")
    allow_staff_override = models.BooleanField(
        default=False,
        help_text="Let staff place a booking past capacity rules with an explicit, audited override.",
    )
    confirm_after_no_shows = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Hold a guest's own booking for staff confirmation when they have at least this many "
        "no-shows here in the last 12 months (matched by email or phone). Blank: never.",
    )
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="restaurants")
    created_at = models.DateTimeField(auto_now_add=True)
    config_version = models.PositiveBigIntegerField(
        default=0,
        editable=False,
        help_text="Bumped by a database trigger in the transaction of any change to the restaurant, "
        "its periods, rules, overrides, tables or adjacency (the key of the per-process cache).",
    )

    objects = RestaurantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(slot_interval_minutes__gte=5) & Q(slot_interval_minutes__lte=120),
                name="restaurant_slot_interval_range",
            ),
            models.CheckConstraint(condition=Q(hold_ttl_seconds__gte=30), name="restaurant_hold_ttl_min"),
            models.CheckConstraint(
                condition=Q(confirm_after_no_shows__isnull=True) | Q(confirm_after_no_shows__gte=1),
                name="restaurant_no_show_rule_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError({"timezone": f"Unknown time zone {self.timezone!r}."}) from None

    @property
    def tz(self) -> ZoneInfo:
        """The restaurant's time zone (its local days, service periods and slot grid)."""
        return ZoneInfo(self.timezone)

    def turn_time(self, party_size: int) -> timedelta:
        """Return how long a party of this size keeps its table."""
        for max_party, minutes in self.turn_times:
            if max_party == 0 or party_size <= max_party:
                return timedelta(minutes=minutes)
        return timedelta(minutes=self.turn_times[-1][1])


class ServicePeriod(models.Model):
    class Kind(models.TextChoices):
        LUNCH = "lunch", "Lunch"
        DINNER = "dinner", "Dinner"
        DRINKS = "drinks", "Drinks"

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="periods")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens = models.TimeField()
    closes = models.TimeField()
    last_seating = models.TimeField(help_text="Latest time a booking may start.")

    class Meta:
        ordering = ["restaurant", "weekday", "opens"]
        constraints = [
            models.UniqueConstraint(
                fields=["restaurant", "weekday", "kind"], name="period_unique_kind_per_day"
            ),
            models.CheckConstraint(condition=Q(opens__lt=F("closes")), name="period_opens_before_closes"),
            models.CheckConstraint(
                condition=Q(last_seating__gte=F("opens")) & Q(last_seating__lte=F("closes")),
                name="period_last_seating_within",
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="period_weekday_range"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"
        )

    # Set by the admin's inline formset, which checks the whole submitted day at once: the rows in
    # the database may be about to change in the same submission.
    skip_overlap_check = False

    def overlaps(self, other: ServicePeriod) -> bool:
        """Return whether the two periods share any time on the same weekday."""
        return self.weekday == other.weekday and self.opens < other.closes and other.opens < self.closes

    def overlap_message(self, other: ServicePeriod) -> str:
        return (
            f"{self.get_kind_display()} on {self.get_weekday_display()} ({self.opens:%H:%M}–"
            f"{self.closes:%H:%M}) overlaps {other.get_kind_display().lower()} ({other.opens:%H:%M}–"
            f"{other.closes:%H:%M}). Periods of one day must not overlap: end one before the next opens."
        )

    def clean(self) -> None:
        """Refuse hours a guest could not book against, with messages a manager understands."""
        if self.opens is None or self.closes is None:
            return  # the missing field reports itself
        # Keyed by field: Django then skips the database constraint on that field and shows only
        # this message, not "Constraint … is violated".
        if self.opens >= self.closes:
            raise ValidationError(
                {
                    "closes": f"Closing time ({self.closes:%H:%M}) must be after opening time "
                    f"({self.opens:%H:%M}). A service past midnight is not supported: close at 23:59."
                }
            )
        if self.last_seating is not None and not self.opens <= self.last_seating <= self.closes:
            when = "before opening" if self.last_seating < self.opens else "after closing"
            raise ValidationError(
                {
                    "last_seating": f"Last seating ({self.last_seating:%H:%M}) is {when}: it must fall "
                    f"within opening hours, {self.opens:%H:%M}–{self.closes:%H:%M}."
                }
            )
        if self.skip_overlap_check or self.restaurant_id is None or self.weekday is None:
            return
        others = ServicePeriod.objects.filter(restaurant_id=self.restaurant_id, weekday=self.weekday)
        if self.pk is not None:
            others = others.exclude(pk=self.pk)
        for other in others.order_by("opens"):
            if self.overlaps(other):
                raise ValidationError(self.overlap_message(other))


class CapacityRule(models.Model):
    """Limits for one service period. A null limit means no limit."""

    period = models.OneToOneField(ServicePeriod, on_delete=models.CASCADE, related_name="capacity_rule")
    max_covers = models.PositiveIntegerField(null=True, blank=True, help_text="Guests seated at once.")
    max_parties = models.PositiveIntegerField(null=True, blank=True, help_text="Parties seated at once.")
    pacing_covers = models.PositiveIntegerField(
        null=True, blank=True, help_text="Guests starting within one slot interval."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(pacing_covers__isnull=True)
                | Q(max_covers__isnull=True)
                | Q(pacing_covers__lte=F("max_covers")),
                name="rule_pacing_within_covers",
            ),
        ]

    def __str__(self) -> str:
        return f"Rule for {self.period}"

    def clean(self) -> None:
        validate_pacing(self.pacing_covers, self.max_covers)


class CapacityOverride(models.Model):
    """Different numbers, or a closure, for one date (optionally one period of it)."""

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="overrides")
    date = models.DateField()
    period_kind = models.CharField(
        max_length=16, choices=ServicePeriod.Kind.choices, blank=True, help_text="Blank: the whole day."
    )
    closed = models.BooleanField(default=False)
    max_covers = models.PositiveIntegerField(null=True, blank=True)
    max_parties = models.PositiveIntegerField(null=True, blank=True)
    pacing_covers = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["restaurant", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["restaurant", "date", "period_kind"], name="override_unique_per_period"
            ),
            models.CheckConstraint(
                condition=Q(pacing_covers__isnull=True)
                | Q(max_covers__isnull=True)
                | Q(pacing_covers__lte=F("max_covers")),
                name="override_pacing_within_covers",
            ),
        ]

    def __str__(self) -> str:
        scope = self.get_period_kind_display() if self.period_kind else "all day"
        return f"{self.date} {scope}{' (closed)' if self.closed else ''}"

    def clean(self) -> None:
        validate_pacing(self.pacing_covers, self.max_covers)


class Table(models.Model):
    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="tables")
    label = models.CharField(max_length=32)
    section = models.CharField(max_length=64, blank=True)
    min_party = models.PositiveSmallIntegerField(default=1)
    max_party = models.PositiveSmallIntegerField()
    active = models.BooleanField(default=True)
    combinable = models.BooleanField(default=True, help_text="May be joined with adjacent tables.")
    x = models.IntegerField(default=0, help_text="Floor-plan position.")
    y = models.IntegerField(default=0)

    class Meta:
        ordering = ["restaurant", "label"]
        constraints = [
            models.UniqueConstraint(fields=["restaurant", "label"], name="table_unique_label"),
            models.CheckConstraint(condition=Q(min_party__gte=1), name="table_min_party_positive"),
            models.CheckConstraint(condition=Q(min_party__lte=F("max_party")), name="table_min_le_max"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.max_party})"

    def clean(self) -> None:
        if self.max_party is not None and self.max_party < 1:
            raise ValidationError({"max_party": "A table must seat at least one guest."})
        if self.min_party is not None and self.max_party is not None and self.min_party > self.max_party:
            raise ValidationError(
                {
                    "min_party": f"The smallest party ({self.min_party}) is larger than the table seats "
                    f"({self.max_party}): no party could ever sit here. Lower the minimum or raise "
                    "the seats."
                }
            )


class TableAdjacency(models.Model):
    """Two tables that may be joined: an undirected edge, stored once with the lower id first."""

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="adjacencies")
    table_a = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="+")
    table_b = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name_plural = "table adjacencies"
        constraints = [
            models.UniqueConstraint(fields=["table_a", "table_b"], name="adjacency_unique_pair"),
            models.CheckConstraint(condition=Q(table_a__lt=F("table_b")), name="adjacency_ordered_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.table_a.label} ↔ {self.table_b.label}"

    def clean(self) -> None:
        """Refuse a join of a table with itself or with another restaurant's table; order the pair."""
        if not (self.table_a_id and self.table_b_id):
            return
        if self.table_a_id == self.table_b_id:
            raise ValidationError(
                {"table_b": "A table cannot be joined to itself: pick two different tables."}
            )
        tables = {t.pk: t for t in Table.objects.filter(pk__in=[self.table_a_id, self.table_b_id])}
        if self.restaurant_id is None and self.table_a_id in tables:
            self.restaurant_id = tables[self.table_a_id].restaurant_id
        strangers = [t for t in tables.values() if t.restaurant_id != self.restaurant_id]
        if strangers:
            names = dict(
                Restaurant.objects.filter(pk__in=[t.restaurant_id for t in strangers]).values_list(
                    "pk", "name"
                )
            )
            detail = ", ".join(
                f"{t.label} belongs to {names.get(t.restaurant_id, 'another restaurant')}" for t in strangers
            )
            raise ValidationError(
                {"table_b": f"Only tables of the same restaurant can be joined ({detail})."}
            )
        if self.table_a_id > self.table_b_id:
            # The pair is stored once, lower id first (the adjacency_ordered_pair constraint).
            self.table_a_id, self.table_b_id = self.table_b_id, self.table_a_id


class BookingQuerySet(models.QuerySet["Booking"]):
    def waiting_for_tables(self) -> BookingQuerySet:
        """Pending bookings the allocator still owes tables (not those held for staff confirmation)."""
        return self.filter(status=Booking.Status.PENDING, awaiting_staff=False)

    def awaiting_staff_confirmation(self) -> BookingQuerySet:
        """Pending bookings the no-show rule held for staff: their tables are theirs until staff decide."""
        return self.filter(status=Booking.Status.PENDING, awaiting_staff=True)


class Booking(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        SEATED = "seated", "Seated"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    class Source(models.TextChoices):
        WIDGET = "widget", "Widget"
        STAFF = "staff", "Staff"
        API = "api", "API"

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.CONFIRMED, Status.REJECTED, Status.CANCELLED}),
        Status.CONFIRMED: frozenset({Status.SEATED, Status.CANCELLED, Status.NO_SHOW}),
        Status.SEATED: frozenset({Status.COMPLETED}),
        Status.COMPLETED: frozenset(),
        Status.REJECTED: frozenset(),
        Status.CANCELLED: frozenset(),
        Status.NO_SHOW: frozenset(),
    }
    # Statuses whose covers count against capacity.
    HOLDING_CAPACITY = (Status.PENDING, Status.CONFIRMED, Status.SEATED)

    reference = models.CharField(max_length=32, unique=True, default=new_booking_reference, editable=False)
    # For people (read over the phone, typed into the admin search); unique per restaurant.
    code = models.CharField(max_length=CODE_LENGTH, default=new_booking_code, editable=False)
    restaurant = models.ForeignKey(Restaurant, on_delete=models.PROTECT, related_name="bookings")
    party_size = models.PositiveSmallIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    guest_name = models.CharField(max_length=200)
    guest_email = models.EmailField(blank=True)
    guest_phone = models.CharField(max_length=32, blank=True)
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WIDGET)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=64, blank=True)
    capacity_override = models.BooleanField(
        default=False, help_text="Placed by staff past the capacity rules, with an explicit override."
    )
    # The restaurant's no-show rule held this guest's booking for staff: it keeps its tables but
    # stays pending until staff confirm or decline it (decision 0017). db_default: raw inserts too.
    awaiting_staff = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Pending until staff confirm it (the guest's past no-shows), its tables held.",
    )
    allocation_reason = models.JSONField(
        null=True, blank=True, help_text="The planner's explanation of the chosen tables."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    allocation_enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the background job was last enqueued (the sweeper's clock)."
    )

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["restaurant", "starts_at"], name="booking_restaurant_start"),
            models.Index(fields=["status", "updated_at"], name="booking_status_updated"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(party_size__gte=1), name="booking_party_positive"),
            models.CheckConstraint(
                condition=Q(starts_at__lt=F("ends_at")), name="booking_starts_before_ends"
            ),
            models.UniqueConstraint(fields=["restaurant", "code"], name=CODE_CONSTRAINT),
        ]

    def __str__(self) -> str:
        # The code staff read and search for (admin titles, breadcrumbs, history), not the URL's key.
        return f"{format_code(self.code)} · {self.party_size} · {self.starts_at:%Y-%m-%d %H:%M}"

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.status]


class HoldQuerySet(models.QuerySet["Hold"]):
    def live(self, now: Any) -> HoldQuerySet:
        """Holds that still count against capacity: not released, not converted, not expired."""
        return self.filter(released_at__isnull=True, booking__isnull=True, expires_at__gt=now)

    def expired(self, now: Any) -> HoldQuerySet:
        """Holds past their time that nobody released or converted (the sweeper's work)."""
        return self.filter(released_at__isnull=True, booking__isnull=True, expires_at__lte=now)


class Hold(models.Model):
    """Tables set aside for a guest who is filling in the form; counts against capacity until it expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="holds")
    party_size = models.PositiveSmallIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    booking = models.OneToOneField(
        Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="from_hold"
    )
    allocation_reason = models.JSONField(
        null=True, blank=True, help_text="Why the planner chose these tables."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = HoldQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["restaurant", "starts_at"], name="hold_restaurant_start")]
        constraints = [
            models.CheckConstraint(condition=Q(party_size__gte=1), name="hold_party_positive"),
            models.CheckConstraint(condition=Q(starts_at__lt=F("ends_at")), name="hold_starts_before_ends"),
        ]

    def __str__(self) -> str:
        return f"Hold {self.party_size} at {self.starts_at:%Y-%m-%d %H:%M}"


class TableOccupancyQuerySet(models.QuerySet["TableOccupancy"]):
    def active(self) -> TableOccupancyQuerySet:
        """Windows that still block their table (released ones stay for history only)."""
        return self.filter(released_at__isnull=True)


class TableOccupancy(models.Model):
    """One table taken for one window, by a hold or by a booking's assignment.

    Holds and assignments share this table so that a single exclusion constraint covers both. A
    hold becomes an assignment by updating its rows in place. Released rows (cancelled bookings,
    released or purged holds) stay for history and no longer block.
    """

    class Kind(models.TextChoices):
        HOLD = "hold", "Hold"
        ASSIGNMENT = "assignment", "Assignment"

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="+")
    table = models.ForeignKey(Table, on_delete=models.PROTECT, related_name="occupancies")
    during = DateTimeRangeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.CASCADE, related_name="occupancies"
    )
    hold = models.ForeignKey(
        Hold, null=True, blank=True, on_delete=models.CASCADE, related_name="occupancies"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Holds only.")
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TableOccupancyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "table occupancies"
        indexes = [models.Index(fields=["restaurant", "kind"], name="occupancy_restaurant_kind")]
        constraints = [
            # int8range(x, x, '[]') turns equality into overlap, which GiST supports without the
            # btree_gist extension. The restaurant term adds nothing to the rule (a table belongs to
            # one restaurant) but leads the index, so a restaurant's windows around a time are
            # found without visiting every other restaurant's (bookings/snapshots.py); decision 0001.
            ExclusionConstraint(
                name="occupancy_no_overlap",
                index_type="gist",
                expressions=[
                    (
                        Func(F("restaurant_id"), F("restaurant_id"), Value("[]"), function="int8range"),
                        RangeOperators.OVERLAPS,
                    ),
                    (
                        Func(F("table_id"), F("table_id"), Value("[]"), function="int8range"),
                        RangeOperators.OVERLAPS,
                    ),
                    ("during", RangeOperators.OVERLAPS),
                ],
                condition=Q(released_at__isnull=True),
            ),
            models.CheckConstraint(
                # start < end, both finite: an empty or unbounded window is never meant.
                condition=Q(during__isempty=False, during__lower_inf=False, during__upper_inf=False),
                name="occupancy_during_bounded",
            ),
            models.CheckConstraint(
                condition=(Q(kind="hold", hold__isnull=False, expires_at__isnull=False))
                | Q(kind="assignment", booking__isnull=False),
                name="occupancy_kind_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.table_id} {self.kind} {self.during}"


class IdempotencyKey(models.Model):
    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires")]
        constraints = [
            models.UniqueConstraint(fields=["restaurant", "key"], name="idempotency_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class DayVersion(models.Model):
    """A counter per restaurant and local service day, bumped whenever its bookings or holds change.

    Written only by a deferred database trigger (migration 0003) at the commit of any transaction
    that inserts, updates or deletes a booking or hold of that day, whatever wrote it (API, worker,
    admin, a bulk update). Cached availability answers are keyed by it, so none outlives a change.
    """

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["restaurant", "day"], name="dayversion_unique_day")]

    def __str__(self) -> str:
        return f"{self.day} v{self.version}"


def new_waitlist_token() -> str:
    return secrets.token_urlsafe(24)


class WaitlistEntryQuerySet(models.QuerySet["WaitlistEntry"]):
    def waiting(self) -> WaitlistEntryQuerySet:
        """Entries still in line, first come first served."""
        return self.filter(status=WaitlistEntry.Status.WAITING).order_by("created_at", "pk")

    def offer_overdue(self, now: Any) -> WaitlistEntryQuerySet:
        """Offers past their time that nobody accepted or declined (the sweeper's work)."""
        return self.filter(status=WaitlistEntry.Status.OFFERED, offer_expires_at__lte=now)


class WaitlistEntry(models.Model):
    """A guest waiting for a table on a day, within a window of start times (issue 17).

    While an offer is open the entry points at its hold: one field, so an entry can never hold
    two offers at once, and a hold belongs to one entry at most.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        WIDGET = "widget", "Widget"
        API = "api", "API"
        STAFF = "staff", "Staff"

    # The guest's secret: the status, accept and decline links carry it.
    token = models.CharField(max_length=64, unique=True, default=new_waitlist_token, editable=False)
    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="waitlist")
    date = models.DateField(help_text="The local service date the guest waits for.")
    earliest_time = models.TimeField()
    latest_time = models.TimeField()
    party_size = models.PositiveSmallIntegerField()
    guest_name = models.CharField(max_length=200)
    guest_email = models.EmailField(blank=True)
    guest_phone = models.CharField(max_length=32, blank=True)
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    hold = models.OneToOneField(
        Hold, null=True, blank=True, on_delete=models.SET_NULL, related_name="waitlist_entry"
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    offers_made = models.PositiveSmallIntegerField(default=0)
    freed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the capacity behind the current offer was freed."
    )
    booking = models.OneToOneField(
        Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="waitlist_entry"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WaitlistEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "waitlist entries"
        indexes = [
            models.Index(fields=["restaurant", "date", "status", "created_at"], name="waitlist_day_line"),
            models.Index(fields=["status", "offer_expires_at"], name="waitlist_offer_expiry"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(party_size__gte=1), name="waitlist_party_positive"),
            models.CheckConstraint(
                condition=Q(earliest_time__lte=F("latest_time")), name="waitlist_window_ordered"
            ),
            models.CheckConstraint(
                condition=~Q(guest_email="") | ~Q(guest_phone=""), name="waitlist_contact_required"
            ),
            # An open offer always has its hold and its deadline; no other status keeps a hold.
            models.CheckConstraint(
                condition=(
                    Q(status="offered", hold__isnull=False, offer_expires_at__isnull=False)
                    | (~Q(status="offered") & Q(hold__isnull=True))
                ),
                name="waitlist_offer_has_hold",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Waitlist {self.party_size} on {self.date} {self.earliest_time:%H:%M}-{self.latest_time:%H:%M}"
        )


class BookingReminder(models.Model):
    """The reminder of one booking (issue 17): queued once, sent, and the guest's answer.

    One row per booking (its primary key), so the beat task's INSERT … ON CONFLICT DO NOTHING
    queues each reminder once, however often or concurrently it runs.
    """

    booking = models.OneToOneField(
        Booking, primary_key=True, on_delete=models.CASCADE, related_name="reminder"
    )
    queued_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the guest said they are coming (the reminder's link)."
    )

    def __str__(self) -> str:
        return f"Reminder of booking {self.booking_id}"


class GuestMessage(models.Model):
    """A message about a booking queued for its guest (the confirmation), at most once per kind.

    The sweeper that sends confirmations inserts these with ON CONFLICT DO NOTHING, off the booking
    path: a booking costs no extra statement or Redis round trip for its confirmation.
    """

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="guest_messages")
    kind = models.CharField(max_length=32)
    queued_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["booking", "kind"], name="guestmessage_once_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} of booking {self.booking_id}"


__all__ = [
    "Booking",
    "BookingReminder",
    "CapacityOverride",
    "CapacityRule",
    "DayVersion",
    "GuestMessage",
    "Hold",
    "IdempotencyKey",
    "Restaurant",
    "ServicePeriod",
    "Table",
    "TableAdjacency",
    "TableOccupancy",
    "WaitlistEntry",
]
