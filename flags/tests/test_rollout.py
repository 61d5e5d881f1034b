"""Rollout plans: steps are two-person change requests, the plan page reads telemetry, the pull."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

import flags
from bookings.tests.factories import RestaurantFactory
from flags.models import AuditEntry, ChangeRequest, Cohort, FlagOverride, FlagTarget, RolloutPlan
from flags.rollout import plan_report
from flags.services import (
    FlagPermissionDenied,
    RolloutRefused,
    SelfApprovalRefused,
    change_approve,
    change_propose,
    cohort_members_set,
    rollout_plan_create,
    rollout_pull,
    rollout_step_propose,
)
from flags.targeting import in_percentage
from observability.models import AllocationAttempt, ObservabilityEvent

pytestmark = pytest.mark.django_db

KEY = "capacity.enforcement"


@pytest.fixture
def restaurants() -> list[int]:
    return [RestaurantFactory().pk for _ in range(40)]


def _plan(carol: Any) -> RolloutPlan:
    return rollout_plan_create(
        user=carol, key=KEY, shadow_value="shadow", target_value="enforce", reason="new capacity engine"
    )


def _step(plan: RolloutPlan, carol: Any, dave: Any) -> ChangeRequest:
    return change_approve(change_request=rollout_step_propose(plan=plan, proposer=carol), approver=dave)


def test_a_step_does_not_apply_without_a_second_approver(
    carol: Any, dave: Any, restaurants: list[int]
) -> None:
    plan = _plan(carol)
    step = rollout_step_propose(plan=plan, proposer=carol)

    with pytest.raises(SelfApprovalRefused):
        change_approve(change_request=step, approver=carol)

    assert (step.plan_step, step.new_value, step.percentage) == (0, "shadow", None)
    assert not FlagOverride.objects.exists()
    assert flags.get(KEY, restaurants[0]) == "enforce"
    with pytest.raises(RolloutRefused, match="already waiting"):
        rollout_step_propose(plan=plan, proposer=dave)


def test_the_steps_go_shadow_everywhere_then_ten_then_fifty_then_all(
    carol: Any, dave: Any, restaurants: list[int]
) -> None:
    plan = _plan(carol)

    _step(plan, carol, dave)
    assert {flags.get(KEY, rid) for rid in restaurants} == {"shadow"}

    _step(plan, carol, dave)
    at_ten = {rid for rid in restaurants if flags.get(KEY, rid) == "enforce"}
    assert at_ten == {rid for rid in restaurants if in_percentage(KEY, rid, 10)}

    _step(plan, carol, dave)
    at_fifty = {rid for rid in restaurants if flags.get(KEY, rid) == "enforce"}
    assert at_ten <= at_fifty
    assert at_fifty == {rid for rid in restaurants if in_percentage(KEY, rid, 50)}

    _step(plan, carol, dave)
    assert {flags.get(KEY, rid) for rid in restaurants} == {"enforce"}
    plan.refresh_from_db()
    assert plan.status == RolloutPlan.Status.COMPLETED
    audit = AuditEntry.objects.filter(plan=plan).order_by("applied_at", "pk")
    assert [entry.change_text for entry in audit] == [
        "— → shadow",
        "— → enforce @ 10 %",
        "enforce @ 10 % → enforce @ 50 %",
        "enforce @ 50 % → enforce @ 100 %",
    ]
    assert all(entry.approved_by == dave and entry.proposed_by == carol for entry in audit)


def test_a_plan_needs_the_propose_permission_and_rising_percentages(carol: Any, erin: Any) -> None:
    with pytest.raises(FlagPermissionDenied):
        rollout_plan_create(user=erin, key=KEY, shadow_value="shadow", target_value="enforce", reason="r")
    with pytest.raises(Exception, match="rise step by step"):
        rollout_plan_create(
            user=carol,
            key=KEY,
            shadow_value="shadow",
            target_value="enforce",
            reason="r",
            percentages=[50, 10],
        )
    _plan(carol)
    with pytest.raises(RolloutRefused, match="already has an active rollout plan"):
        _plan(carol)


def test_the_pull_returns_every_restaurant_to_the_shadow_value_audited(
    carol: Any,
    dave: Any,
    restaurants: list[int],
    alerts: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    plan = _plan(carol)
    for _ in range(3):  # shadow, 10 %, 50 %
        _step(plan, carol, dave)
    beta = Cohort.objects.create(name="beta-partners")
    cohort_members_set(cohort=beta, restaurant_ids=restaurants[:3])
    change_approve(
        change_request=change_propose(proposer=carol, key=KEY, value="enforce", cohort=beta, reason="beta"),
        approver=dave,
    )
    change_approve(
        change_request=change_propose(
            proposer=carol, key=KEY, value="enforce", restaurant_id=restaurants[5], reason="asked for it"
        ),
        approver=dave,
    )
    pending = rollout_step_propose(plan=plan, proposer=carol)  # the 100 % step, never approved
    assert any(flags.get(KEY, rid) == "enforce" for rid in restaurants)

    with django_capture_on_commit_callbacks(execute=True):
        entries = rollout_pull(plan=plan, user=dave, reason="overbooking seen at step 2, INC-7")

    assert {flags.get(KEY, rid) for rid in restaurants} == {"shadow"}
    assert not FlagTarget.objects.filter(key=KEY).exists()
    plan.refresh_from_db()
    assert (plan.status, plan.pulled_by, plan.pulled_reason) == (
        "pulled",
        dave,
        "overbooking seen at step 2, INC-7",
    )
    assert {entry.kind for entry in entries} == {"kill_switch"}
    assert len(entries) == 3  # percentage target, cohort target, restaurant override; global already shadow
    assert ObservabilityEvent.objects.filter(type="flags.kill_switch").count() == 3
    assert len(alerts) == 1 and "Kill switch thrown" in alerts[0]["title"]
    with pytest.raises(RolloutRefused, match="pulled"):
        change_approve(change_request=pending, approver=dave)


def test_the_pull_needs_the_kill_switch_permission(carol: Any, erin: Any) -> None:
    plan = _plan(carol)
    with pytest.raises(FlagPermissionDenied):
        rollout_pull(plan=plan, user=erin, reason="r")


def test_a_global_kill_switch_also_removes_targets_and_pulls_the_plan(
    carol: Any, dave: Any, restaurants: list[int], alerts: list[dict[str, Any]]
) -> None:
    from flags.services import kill_switch_throw

    plan = _plan(carol)
    for _ in range(3):
        _step(plan, carol, dave)

    kill_switch_throw(user=dave, key=KEY, value="shadow", reason="INC-8")

    assert {flags.get(KEY, rid) for rid in restaurants} == {"shadow"}
    plan.refresh_from_db()
    assert plan.status == RolloutPlan.Status.PULLED


def _seed_telemetry(
    restaurant_ids: list[int], *, shadow: int = 0, refused: int = 0, ms: float = 40.0
) -> None:
    for rid in restaurant_ids:
        ObservabilityEvent.objects.bulk_create(
            [ObservabilityEvent(type="booking.created", restaurant_id=rid, context={}) for _ in range(4)]
            + [
                ObservabilityEvent(type="booking.capacity_shadow_refusal", restaurant_id=rid, context={})
                for _ in range(shadow)
            ]
            + [
                ObservabilityEvent(type="booking.capacity_exceeded", restaurant_id=rid, context={})
                for _ in range(refused)
            ]
        )
        AllocationAttempt.objects.bulk_create(
            [
                AllocationAttempt(
                    restaurant_id=rid, booking_id=n, mode="inline", attempt=1, outcome="assigned", total_ms=ms
                )
                for n in range(4)
            ]
        )


def test_the_plan_page_shows_shadow_refusals_then_enforced_refusals(
    client: Client, carol: Any, dave: Any, restaurants: list[int]
) -> None:
    plan = _plan(carol)
    _step(plan, carol, dave)  # step 0: shadow everywhere
    in_ten = [rid for rid in restaurants if in_percentage(KEY, rid, 10)]
    rest = [rid for rid in restaurants if rid not in in_ten]
    assert in_ten and rest
    _seed_telemetry(in_ten, shadow=3)  # shadow admitted what enforcement would have refused
    _seed_telemetry(rest, shadow=1)
    _step(plan, carol, dave)  # step 1: enforce for 10 %
    _seed_telemetry(in_ten, refused=2, ms=80.0)
    _seed_telemetry(rest, shadow=1)

    report = plan_report(plan)

    shadow_in, shadow_out = report.steps[0].groups
    assert (shadow_in.would_refuse, shadow_in.refused) == (3 * len(in_ten), 0)
    assert (shadow_out.would_refuse, shadow_out.mode) == (len(rest), "shadow")
    enforced_in, enforced_out = report.steps[1].groups
    assert (enforced_out.would_refuse, enforced_out.mode) == (len(rest), "shadow")
    assert (enforced_in.would_refuse, enforced_in.refused, enforced_in.mode) == (
        0,
        2 * len(in_ten),
        "enforce",
    )
    assert enforced_in.p95_ms == pytest.approx(80.0)
    assert enforced_in.error_rate == 0
    assert report.steps[1].integrity_violations == 0
    assert not report.steps[2].applied

    client.force_login(carol)
    page = client.get(f"/admin/flags/rolloutplan/{plan.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'<td class="num would-refuse">{3 * len(in_ten)}</td>' in html
    assert f'<td class="num refused">{2 * len(in_ten)}</td>' in html
    assert "Propose step 2" in html


def test_the_plan_page_walks_the_two_person_rule_with_its_buttons(
    client: Client, carol: Any, dave: Any
) -> None:
    plan = _plan(carol)
    client.force_login(carol)
    client.post(f"/admin/flags/rolloutplan/{plan.pk}/propose/", {"reason": "shadow first"})
    pending = ChangeRequest.objects.get(plan=plan)

    refused = client.post(
        f"/admin/flags/rolloutplan/{plan.pk}/decide/",
        {"change_request": pending.pk, "decision": "approve"},
        follow=True,
    )
    assert "different person must approve" in refused.content.decode()
    assert ChangeRequest.objects.get(pk=pending.pk).status == "pending"

    client.force_login(dave)
    client.post(
        f"/admin/flags/rolloutplan/{plan.pk}/decide/", {"change_request": pending.pk, "decision": "approve"}
    )
    assert ChangeRequest.objects.get(pk=pending.pk).status == "approved"
    assert flags.get(KEY) == "shadow"
