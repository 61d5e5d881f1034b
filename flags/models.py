"""Flag overrides in force, cohorts and targets, rollout plans, change requests and the audit trail.

Restaurants are referred to by plain id (``restaurant_id``, null = global) so that flags depends on
nothing else of ReserveX (DESIGN §2). Values are JSON: a flag's registry type (bool, int, str),
never null; a null ``new_value`` on a change request means "remove the override" (or the target).

A change has one scope: global, one restaurant, one cohort, or a percentage of restaurants. The
scope columns (``restaurant_id``, ``cohort``, ``percentage``) are shared by change requests and
audit entries; at most one is set, none means global.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from flags.registry import format_value

PERM_PROPOSE = "flags.propose_change"
PERM_APPROVE = "flags.approve_change"
PERM_KILL_SWITCH = "flags.throw_kill_switch"


def scope_label(
    restaurant_id: int | None, cohort_name: str | None = None, percentage: int | None = None
) -> str:
    """Return "global", "restaurant <id>", "cohort <name>" or "<n> % of restaurants"."""
    if cohort_name is not None:
        return f"cohort {cohort_name}"
    if percentage is not None:
        return f"{percentage} % of restaurants"
    return "global" if restaurant_id is None else f"restaurant {restaurant_id}"


def _at_most_one_scope() -> Q:
    # Global (none set), one restaurant, one cohort, or a percentage: never two at once.
    return (
        Q(restaurant_id__isnull=True, cohort__isnull=True)
        | Q(restaurant_id__isnull=True, percentage__isnull=True)
        | Q(cohort__isnull=True, percentage__isnull=True)
    )


def _percentage_in_range(field: str = "percentage") -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": 100})


class Cohort(models.Model):
    """A named set of restaurants (e.g. ``beta-partners``) a flag value can be targeted at."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CohortMember(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="members")
    restaurant_id = models.BigIntegerField()

    class Meta:
        ordering = ["cohort", "restaurant_id"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "restaurant_id"], name="flag_cohort_member_once")
        ]
        indexes = [models.Index(fields=["restaurant_id"], name="flag_cohort_member_restaurant")]

    def __str__(self) -> str:
        return f"restaurant {self.restaurant_id} in {self.cohort_id}"


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


class FlagTarget(models.Model):
    """A value in force for a cohort, or for a percentage of restaurants (stable hash of key and id).

    Precedence: restaurant override > cohort target > percentage target > global override >
    environment default (see flags.targeting).
    """

    key = models.CharField(max_length=100)
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    percentage = models.PositiveSmallIntegerField(null=True, blank=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)
    last_change = models.ForeignKey(
        "AuditEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["key", "cohort", "percentage"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cohort__isnull=True, percentage__isnull=False)
                | Q(cohort__isnull=False, percentage__isnull=True),
                name="flag_target_cohort_xor_percentage",
            ),
            models.CheckConstraint(condition=_percentage_in_range(), name="flag_target_percentage_range"),
            models.UniqueConstraint(
                fields=["key", "cohort"], condition=Q(cohort__isnull=False), name="flag_target_one_per_cohort"
            ),
            models.UniqueConstraint(
                fields=["key"], condition=Q(percentage__isnull=False), name="flag_target_one_percentage"
            ),
        ]

    def __str__(self) -> str:
        where = scope_label(None, self.cohort.name if self.cohort is not None else None, self.percentage)
        return f"{self.key} = {format_value(self.value)} ({where})"


class RolloutPlan(models.Model):
    """A staged rollout of one flag: step 0 puts ``shadow_value`` everywhere (a global override),
    then each step puts ``target_value`` on a larger percentage of restaurants.

    Every step is a change request a second person approves; ``rollout_pull`` (the kill switch)
    returns every restaurant to ``shadow_value`` at once and marks the plan pulled.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        PULLED = "pulled", "Pulled (kill switch)"

    key = models.CharField(max_length=100)
    shadow_value = models.JSONField(
        help_text="Step 0 everywhere, and the safe value the kill switch restores."
    )
    target_value = models.JSONField(help_text="The value rolled out, step by step.")
    percentages = models.JSONField(
        default=list, help_text="Percentages of restaurants, rising, ending at 100."
    )
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    pulled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pulled_at = models.DateTimeField(null=True, blank=True)
    pulled_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(status="active"), name="flag_rollout_one_active_per_key"
            ),
            models.CheckConstraint(
                condition=Q(status="pulled", pulled_by__isnull=False, pulled_at__isnull=False)
                | (~Q(status="pulled") & Q(pulled_by__isnull=True, pulled_at__isnull=True)),
                name="flag_rollout_pulled_iff_pulled_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {format_value(self.shadow_value)} → {format_value(self.target_value)}"

    def step_count(self) -> int:
        """Return the number of steps, step 0 (shadow everywhere) included."""
        return 1 + len(self.percentages)

    def step_label(self, step: int) -> str:
        if step == 0:
            return f"{format_value(self.shadow_value)} everywhere"
        return f"{format_value(self.target_value)} for {self.percentages[step - 1]} % of restaurants"

    def step_percentage(self, step: int) -> int:
        """Return the percentage of restaurants that get ``target_value`` at this step."""
        return 0 if step == 0 else int(self.percentages[step - 1])


class ChangeRequest(models.Model):
    """A proposed change to one flag in one scope, waiting for a second person."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"

    key = models.CharField(max_length=100)
    restaurant_id = models.BigIntegerField(null=True, blank=True, help_text="Empty: every restaurant.")
    cohort = models.ForeignKey(
        Cohort,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Target a cohort.",
    )
    percentage = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Target this percentage of restaurants (0–100)."
    )
    new_value = models.JSONField(null=True, blank=True, help_text="Empty: remove the override.")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    plan = models.ForeignKey(
        RolloutPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="change_requests"
    )
    plan_step = models.PositiveSmallIntegerField(null=True, blank=True)
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
            models.CheckConstraint(condition=_at_most_one_scope(), name="flag_change_one_scope"),
            models.CheckConstraint(condition=_percentage_in_range(), name="flag_change_percentage_range"),
            models.CheckConstraint(
                condition=Q(plan__isnull=True, plan_step__isnull=True)
                | Q(plan__isnull=False, plan_step__isnull=False),
                name="flag_change_plan_step",
            ),
            # One pending or approved request per step of a plan: a step is applied once.
            models.UniqueConstraint(
                fields=["plan", "plan_step"],
                condition=Q(plan__isnull=False) & ~Q(status="rejected"),
                name="flag_change_one_live_per_step",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_by__isnull=True, decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_by__isnull=False, decided_at__isnull=False)),
                name="flag_change_decided_iff_not_pending",
            ),
        ]
        indexes = [models.Index(fields=["status", "proposed_at"], name="flag_change_status")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.key} → {format_value(self.new_value)} ({self.scope})"

    @property
    def scope(self) -> str:
        cohort_name = self.cohort.name if self.cohort is not None else None
        return scope_label(self.restaurant_id, cohort_name, self.percentage)


class AuditEntry(models.Model):
    """One applied change: who proposed it, who approved it, when, old → new and why."""

    class Kind(models.TextChoices):
        CHANGE = "change", "Approved change"
        KILL_SWITCH = "kill_switch", "Emergency kill switch"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=100)
    restaurant_id = models.BigIntegerField(null=True, blank=True)
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    percentage = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The percentage targeted after the change."
    )
    old_percentage = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The percentage targeted before the change (empty: none)."
    )
    plan = models.ForeignKey(RolloutPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
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
        return f"{self.key} ({self.scope}): {self.change_text}"

    @property
    def scope(self) -> str:
        if self.percentage is not None or self.old_percentage is not None:
            return "percentage of restaurants"
        return scope_label(self.restaurant_id, self.cohort.name if self.cohort is not None else None)

    @property
    def change_text(self) -> str:
        """Return "old → new", with the percentages for a percentage target ("enforce @ 10 %")."""

        def side(value: object, percentage: int | None) -> str:
            text = format_value(value)
            return text if percentage is None or value is None else f"{text} @ {percentage} %"

        return f"{side(self.old_value, self.old_percentage)} → {side(self.new_value, self.percentage)}"


class FlagsVersion(models.Model):
    """One row whose value changes in the transaction of every change to what decides a flag's
    value (overrides, targets, cohort membership), however it is written: database triggers take
    the next value of a sequence, so a value is never reused. Readers that have it (the booking
    path reads it with the restaurant's versions) keep flag values per process by it
    (``flags.get_all(restaurant, version=...)``)."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "flags version"

    def __str__(self) -> str:
        return f"flags version {self.value}"
