"""What a rollout plan's steps measured, read from the telemetry already recorded (selectors).

The restaurants are split in two groups: those the latest applied step covers (before any
percentage step: those the first one will cover) and the rest. For each applied step, from its
approval until the next step (or the pull, or now), each group's figures come from:

- would-be refusals: ``booking.capacity_shadow_refusal`` events (shadow admitted what enforce
  would have refused);
- refusals: ``booking.capacity_exceeded`` events (enforcement, or no table, refused a booking);
- bookings: ``booking.created`` events;
- booking p95 and error rate: ``AllocationAttempt`` rows (total ms; outcome ``error`` / attempts);
- integrity violations: ``integrity.violation`` events (check_integrity reports them for the whole
  database, not per restaurant, so both groups show the same count; it must stay 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from flags.models import ChangeRequest, RolloutPlan
from flags.registry import format_value
from flags.selectors import restaurant_names
from flags.targeting import in_percentage
from observability.dashboard import Percentiles
from observability.models import AllocationAttempt, ObservabilityEvent

SHADOW_REFUSAL = "booking.capacity_shadow_refusal"
REFUSAL = "booking.capacity_exceeded"
CREATED = "booking.created"
INTEGRITY = "integrity.violation"


@dataclass
class GroupFigures:
    """One group of restaurants during one step."""

    label: str
    restaurants: int
    mode: str  # the value the group had: "shadow", "enforce", or "enforce for 3 of 10"
    bookings: int = 0
    would_refuse: int = 0
    refused: int = 0
    attempts: int = 0
    errors: int = 0
    p95_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.attempts if self.attempts else None

    @property
    def error_rate_text(self) -> str:
        rate = self.error_rate
        return "—" if rate is None else f"{rate * 100:.1f} %"


@dataclass
class StepRow:
    index: int
    label: str
    percentage: int
    change_request: ChangeRequest | None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    covered: int = 0
    groups: list[GroupFigures] = field(default_factory=list)
    integrity_violations: int | None = None

    @property
    def applied(self) -> bool:
        return self.starts_at is not None


@dataclass
class PlanReport:
    plan: RolloutPlan
    steps: list[StepRow]
    restaurants: dict[int, str]
    grouped_by_step: int
    in_group: list[int]
    next_step: int | None
    pending: ChangeRequest | None

    @property
    def current_step(self) -> StepRow | None:
        applied = [step for step in self.steps if step.applied]
        return applied[-1] if applied else None


def covered_by(plan: RolloutPlan, step: int, restaurant_ids: list[int]) -> list[int]:
    """Return the restaurants that get the plan's target value at this step."""
    percentage = plan.step_percentage(step)
    return [rid for rid in restaurant_ids if in_percentage(plan.key, rid, percentage)]


def _mode(plan: RolloutPlan, percentage: int, ids: list[int]) -> str:
    enforced = sum(1 for rid in ids if in_percentage(plan.key, rid, percentage))
    if enforced == 0:
        return format_value(plan.shadow_value)
    if enforced == len(ids):
        return format_value(plan.target_value)
    return f"{format_value(plan.target_value)} for {enforced} of {len(ids)}"


def _attempt_figures(figures: GroupFigures, attempts: Any) -> None:
    found = attempts.aggregate(
        attempts=Count("id"),
        errors=Count("id", filter=Q(outcome=AllocationAttempt.Outcome.ERROR)),
        percentiles=Percentiles("total_ms", fractions=(0.95,)),
    )
    figures.attempts, figures.errors = found["attempts"], found["errors"]
    figures.p95_ms = found["percentiles"][0] if found["percentiles"] else None


def _measure(plan: RolloutPlan, row: StepRow, groups: list[tuple[str, list[int], bool]]) -> None:
    """Fill one applied step's figures per group (three queries per group and one for the events)."""
    assert row.starts_at is not None and row.ends_at is not None
    window = Q(created_at__gte=row.starts_at, created_at__lt=row.ends_at)
    counts: dict[tuple[int | None, str], int] = {}
    for restaurant_id, event_type, n in (
        ObservabilityEvent.objects.filter(window, type__in=[SHADOW_REFUSAL, REFUSAL, CREATED])
        .values_list("restaurant_id", "type")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[(restaurant_id, event_type)] = n
    in_ids = set(groups[0][1])
    for label, ids, inside in groups:
        figures = GroupFigures(label=label, restaurants=len(ids), mode=_mode(plan, row.percentage, ids))

        def belongs(restaurant_id: int | None, inside: bool = inside) -> bool:
            # The rest is everything not in the step, restaurants unknown to us included.
            return (restaurant_id in in_ids) is inside

        for (restaurant_id, event_type), n in counts.items():
            if belongs(restaurant_id):
                if event_type == SHADOW_REFUSAL:
                    figures.would_refuse += n
                elif event_type == REFUSAL:
                    figures.refused += n
                else:
                    figures.bookings += n
        attempts = AllocationAttempt.objects.filter(window)
        attempts = (
            attempts.filter(restaurant_id__in=in_ids)
            if inside
            else attempts.exclude(restaurant_id__in=in_ids)
        )
        _attempt_figures(figures, attempts)
        row.groups.append(figures)
    row.integrity_violations = sum(
        int(context.get("count", 1)) if isinstance(context, dict) else 1
        for context in ObservabilityEvent.objects.filter(window, type=INTEGRITY).values_list(
            "context", flat=True
        )
    )


def plan_report(plan: RolloutPlan, *, now: datetime | None = None) -> PlanReport:
    """Return the plan's steps with what each applied step measured, per group of restaurants."""
    now = now or timezone.now()
    names = restaurant_names()
    all_ids = sorted(names)
    requests = list(
        plan.change_requests.exclude(status=ChangeRequest.Status.REJECTED)
        .select_related("proposed_by", "decided_by")
        .order_by("plan_step")
    )
    by_step = {request.plan_step: request for request in requests}
    approved = [r for r in requests if r.status == ChangeRequest.Status.APPROVED]
    pending = next((r for r in requests if r.status == ChangeRequest.Status.PENDING), None)
    next_step = len(approved) if len(approved) < plan.step_count() else None

    latest = len(approved) - 1
    grouped_by_step = max(latest, 1) if plan.step_count() > 1 else 0
    in_group = covered_by(plan, grouped_by_step, all_ids)
    in_set = set(in_group)
    out_group = [rid for rid in all_ids if rid not in in_set]
    groups = [
        (f"in step {grouped_by_step} ({plan.step_percentage(grouped_by_step)} %)", in_group, True),
        ("the rest", out_group, False),
    ]

    steps: list[StepRow] = []
    for index in range(plan.step_count()):
        request = by_step.get(index)
        row = StepRow(
            index=index,
            label=plan.step_label(index),
            percentage=plan.step_percentage(index),
            change_request=request,
            covered=len(covered_by(plan, index, all_ids)),
        )
        if request is not None and request.status == ChangeRequest.Status.APPROVED:
            row.starts_at = request.decided_at
            following = by_step.get(index + 1)
            if following is not None and following.status == ChangeRequest.Status.APPROVED:
                row.ends_at = following.decided_at
            else:
                row.ends_at = plan.pulled_at or now
            _measure(plan, row, groups)
        steps.append(row)
    return PlanReport(
        plan=plan,
        steps=steps,
        restaurants=names,
        grouped_by_step=grouped_by_step,
        in_group=in_group,
        next_step=next_step if plan.status == RolloutPlan.Status.ACTIVE else None,
        pending=pending,
    )
