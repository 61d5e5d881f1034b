"""Flag overrides in force, the change requests that propose them, and the audit trail.

Restaurants are referred to by plain id (``restaurant_id``, null = global) so that flags depends on
nothing else of ReserveX (DESIGN §2). Values are JSON: a flag's registry type (bool, int, str),
never null; a null ``new_value`` on a change request means "remove the override".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from flags.registry import format_value

PERM_PROPOSE = "flags.propose_change"
PERM_APPROVE = "flags.approve_change"
PERM_KILL_SWITCH = "flags.throw_kill_switch"


def scope_label(restaurant_id: int | None) -> str:
    """Return "global" or "restaurant <id>"."""
    return "global" if restaurant_id is None else f"restaurant {restaurant_id}"


class FlagOverride(models.Model):
    """A value in force that beats the environment default: one per (key, scope)."""

    key = models.CharField(max_length=100)
    restaurant_id = models.BigIntegerField(null=True, blank=True, help_text="Empty: every restaurant.")
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)
    last_change = models.ForeignKey(
        "AuditEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The audited change that set this value.",
    )

    class Meta:
        ordering = ["key", "restaurant_id"]
        constraints = [
            # Two partial indexes instead of one unique (key, restaurant_id): NULLs never collide
            # in a plain unique index, and a second global override of one key must be impossible.
            models.UniqueConstraint(
                fields=["key"], condition=Q(restaurant_id__isnull=True), name="flag_override_one_global"
            ),
            models.UniqueConstraint(
                fields=["key", "restaurant_id"],
                condition=Q(restaurant_id__isnull=False),
                name="flag_override_one_per_restaurant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} = {format_value(self.value)} ({scope_label(self.restaurant_id)})"


class ChangeRequest(models.Model):
    """A proposed change to one flag in one scope, waiting for a second person."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"

    key = models.CharField(max_length=100)
    restaurant_id = models.BigIntegerField(null=True, blank=True, help_text="Empty: every restaurant.")
    new_value = models.JSONField(null=True, blank=True, help_text="Empty: remove the override.")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flag_changes_proposed"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flag_changes_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        permissions = [
            ("propose_change", "Can propose a feature-flag change"),
            ("approve_change", "Can approve or reject another person's feature-flag change"),
            ("throw_kill_switch", "Can throw an emergency feature-flag kill switch"),
        ]
        constraints = [
            # The two-person rule holds in the database too, whatever path writes the row.
            models.CheckConstraint(
                condition=~Q(decided_by=F("proposed_by")), name="flag_change_decided_by_another"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_by__isnull=True, decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_by__isnull=False, decided_at__isnull=False)),
                name="flag_change_decided_iff_not_pending",
            ),
        ]
        indexes = [models.Index(fields=["status", "proposed_at"], name="flag_change_status")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.key} → {format_value(self.new_value)} ({scope_label(self.restaurant_id)})"


class AuditEntry(models.Model):
    """One applied change: who proposed it, who approved it, when, old → new and why."""

    class Kind(models.TextChoices):
        CHANGE = "change", "Approved change"
        KILL_SWITCH = "kill_switch", "Emergency kill switch"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=100)
    restaurant_id = models.BigIntegerField(null=True, blank=True)
    old_value = models.JSONField(null=True, blank=True, help_text="Empty: there was no override.")
    new_value = models.JSONField(null=True, blank=True, help_text="Empty: the override was removed.")
    reason = models.TextField()
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty only for a kill switch.",
    )
    applied_at = models.DateTimeField(auto_now_add=True, db_index=True)
    change_request = models.OneToOneField(
        ChangeRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_entry"
    )

    class Meta:
        ordering = ["-applied_at", "-pk"]
        verbose_name_plural = "audit entries"
        constraints = [
            # An approved change has a second person and its request; only a kill switch has neither.
            models.CheckConstraint(
                condition=Q(
                    kind="change",
                    approved_by__isnull=False,
                    change_request__isnull=False,
                )
                & ~Q(approved_by=F("proposed_by"))
                | Q(kind="kill_switch", approved_by__isnull=True, change_request__isnull=True),
                name="flag_audit_two_people_or_kill_switch",
            ),
        ]
        indexes = [models.Index(fields=["key", "applied_at"], name="flag_audit_key_applied")]

    def __str__(self) -> str:
        return (
            f"{self.key} ({scope_label(self.restaurant_id)}): "
            f"{format_value(self.old_value)} → {format_value(self.new_value)}"
        )
