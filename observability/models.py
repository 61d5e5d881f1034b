"""Telemetry: what happened (events) and how each allocation attempt went.

These models depend on nothing else of ReserveX: restaurants and bookings are referred to by id,
so telemetry outlives the rows it describes and never joins the hot tables.
"""

from __future__ import annotations

from django.db import models


class ObservabilityEvent(models.Model):
    type = models.CharField(max_length=64)
    restaurant_id = models.BigIntegerField(null=True, blank=True)
    booking_id = models.BigIntegerField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="Sanitised: never guest PII.")
    duration_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["type", "created_at"], name="event_type_created"),
            models.Index(fields=["restaurant_id", "created_at"], name="event_restaurant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class AllocationAttempt(models.Model):
    class Mode(models.TextChoices):
        INLINE = "inline", "Inline"
        BACKGROUND = "background", "Background"
        HOLD = "hold", "Hold converted"
        STAFF = "staff", "Staff assigned"

    class Outcome(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        SKIPPED = "skipped", "Skipped (no plan)"
        CONFLICT = "conflict", "Conflict (will retry)"
        ERROR = "error", "Error"

    restaurant_id = models.BigIntegerField()
    booking_id = models.BigIntegerField()
    mode = models.CharField(max_length=16, choices=Mode.choices)
    attempt = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    planner_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField()
    tables = models.JSONField(default=list, blank=True, help_text="Labels of the tables assigned.")
    seat_waste = models.IntegerField(null=True, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["booking_id"], name="attempt_booking"),
            models.Index(fields=["restaurant_id", "created_at"], name="attempt_restaurant_created"),
        ]

    def __str__(self) -> str:
        return f"booking {self.booking_id} {self.mode} #{self.attempt}: {self.outcome}"


class Dashboard(ObservabilityEvent):
    """No table: gives the telemetry dashboard a place (and a link) in the Django admin index."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


class AlertState(models.Model):
    """Hysteresis state of one in-app alert condition (see observability.detector).

    Kept in PostgreSQL rather than Redis: the detector must remember a bad check even while Redis,
    one of the things it watches, is down.
    """

    key = models.CharField(max_length=64, primary_key=True)
    bad_streak = models.PositiveIntegerField(default=0)
    good_streak = models.PositiveIntegerField(default=0)
    firing = models.BooleanField(default=False)
    last_value = models.FloatField(null=True, blank=True)
    last_detail = models.JSONField(default=dict, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        status = "FIRING" if self.firing else "ok"
        return f"{self.key}: {status} (bad {self.bad_streak}, good {self.good_streak})"
