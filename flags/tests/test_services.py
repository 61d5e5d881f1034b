"""The two-person change workflow: propose, approve or reject, audit, contradictions."""

from __future__ import annotations

from typing import Any

import pytest

import flags
from flags.models import AuditEntry, ChangeRequest, FlagOverride
from flags.services import (
    ChangeRequestNotPending,
    ContradictionRefused,
    FlagPermissionDenied,
    FlagReasonMissing,
    FlagUnknown,
    FlagValueInvalid,
    NothingToChange,
    SelfApprovalRefused,
    change_approve,
    change_propose,
    change_reject,
)
from observability.models import ObservabilityEvent

pytestmark = pytest.mark.django_db


def _approved(
    proposer: Any, approver: Any, key: str, value: Any, restaurant_id: int | None = None
) -> ChangeRequest:
    change = change_propose(
        proposer=proposer, key=key, value=value, reason="setup", restaurant_id=restaurant_id
    )
    return change_approve(change_request=change, approver=approver)


def test_an_unapproved_change_has_no_effect(carol: Any) -> None:
    change = change_propose(
        proposer=carol, key="holds.strict_conflicts", value=True, reason="try strict holds"
    )

    assert change.status == ChangeRequest.Status.PENDING
    assert flags.get("holds.strict_conflicts") is False
    assert not FlagOverride.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_proposer_cannot_approve_their_own_change(carol: Any) -> None:
    change = change_propose(
        proposer=carol, key="holds.strict_conflicts", value=True, reason="try strict holds"
    )

    with pytest.raises(SelfApprovalRefused, match="a different person must approve it"):
        change_approve(change_request=change, approver=carol)

    change.refresh_from_db()
    assert change.status == ChangeRequest.Status.PENDING
    assert flags.get("holds.strict_conflicts") is False


def test_a_proposer_cannot_reject_their_own_change(carol: Any) -> None:
    change = change_propose(
        proposer=carol, key="holds.strict_conflicts", value=True, reason="try strict holds"
    )
    with pytest.raises(SelfApprovalRefused, match="a different person must reject it"):
        change_reject(change_request=change, rejecter=carol)


def test_an_approved_change_applies_to_its_scope_only(carol: Any, dave: Any) -> None:
    _approved(carol, dave, "holds.strict_conflicts", True, restaurant_id=1)

    assert flags.get("holds.strict_conflicts", 1) is True
    assert flags.get("holds.strict_conflicts", 2) is False
    assert flags.get("holds.strict_conflicts") is False

    _approved(carol, dave, "holds.strict_conflicts", True)
    _approved(carol, dave, "holds.strict_conflicts", False, restaurant_id=2)

    assert flags.get("holds.strict_conflicts") is True
    assert flags.get("holds.strict_conflicts", 1) is True
    assert flags.get("holds.strict_conflicts", 2) is False


def test_approval_records_a_complete_audit_trail_and_event(carol: Any, dave: Any) -> None:
    _approved(carol, dave, "allocator.max_merge_tables", 4, restaurant_id=1)
    change = change_propose(
        proposer=carol,
        key="allocator.max_merge_tables",
        value=5,
        reason="big parties on Fridays",
        restaurant_id=1,
    )
    change_approve(change_request=change, approver=dave, note="ok for a month")

    entry = AuditEntry.objects.get(change_request=change)
    assert (entry.kind, entry.key, entry.restaurant_id) == ("change", "allocator.max_merge_tables", 1)
    assert (entry.old_value, entry.new_value) == (4, 5)
    assert entry.reason == "big parties on Fridays"
    assert (entry.proposed_by, entry.approved_by) == (carol, dave)
    assert entry.proposed_at == change.proposed_at
    assert entry.applied_at >= entry.proposed_at
    change.refresh_from_db()
    assert (change.status, change.decided_by, change.decision_note) == ("approved", dave, "ok for a month")
    assert FlagOverride.objects.get(key="allocator.max_merge_tables", restaurant_id=1).last_change == entry

    event = ObservabilityEvent.objects.filter(type="flags.changed").first()
    assert event is not None and event.restaurant_id == 1
    assert event.context == {
        "flag_key": "allocator.max_merge_tables",
        "scope": "restaurant",
        "old_value": 4,
        "new_value": 5,
        "proposer_id": carol.pk,
        "approver_id": dave.pk,
        "reason": "big parties on Fridays",
    }


def test_removing_an_override_goes_back_to_the_inherited_value(carol: Any, dave: Any) -> None:
    _approved(carol, dave, "holds.strict_conflicts", True, restaurant_id=1)
    _approved(carol, dave, "holds.strict_conflicts", None, restaurant_id=1)

    assert flags.get("holds.strict_conflicts", 1) is False
    assert not FlagOverride.objects.exists()
    last = AuditEntry.objects.first()
    assert last is not None and (last.old_value, last.new_value) == (True, None)


def test_a_rejected_change_is_recorded_and_not_applied(carol: Any, dave: Any) -> None:
    change = change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="try it")
    change_reject(change_request=change, rejecter=dave, note="not during the holidays")

    change.refresh_from_db()
    assert (change.status, change.decided_by, change.decision_note) == (
        "rejected",
        dave,
        "not during the holidays",
    )
    assert flags.get("holds.strict_conflicts") is False
    with pytest.raises(ChangeRequestNotPending, match="already rejected"):
        change_approve(change_request=change, approver=dave)


def test_a_change_is_applied_once(carol: Any, dave: Any) -> None:
    change = _approved(carol, dave, "holds.strict_conflicts", True)
    with pytest.raises(ChangeRequestNotPending, match="already approved"):
        change_approve(change_request=change.pk, approver=dave)
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"key": "no.such.flag", "value": True}, FlagUnknown, "is not a feature flag"),
        ({"key": "allocator.max_merge_tables", "value": 9}, FlagValueInvalid, "must be at most 6"),
        ({"key": "allocator.inline_timeout_ms", "value": 30_000}, FlagValueInvalid, "at most 25000"),
        ({"key": "allocator.inline_timeout_ms", "value": -1}, FlagValueInvalid, "at least 0"),
        ({"key": "holds.strict_conflicts", "value": 1}, FlagValueInvalid, "true or false"),
        ({"key": "capacity.enforcement", "value": "maybe"}, FlagValueInvalid, "must be one of"),
        ({"key": "holds.strict_conflicts", "value": True, "reason": "  "}, FlagReasonMissing, "reason"),
        ({"key": "holds.strict_conflicts", "value": None}, NothingToChange, "no global override to remove"),
        ({"key": "holds.strict_conflicts", "value": True, "restaurant_id": 0}, FlagValueInvalid, "positive"),
    ],
)
def test_it_refuses_bad_proposals(
    carol: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        change_propose(proposer=carol, **{"reason": "because", **kwargs})
    assert not ChangeRequest.objects.exists()


def test_staff_without_the_permission_can_neither_propose_nor_approve(carol: Any, erin: Any) -> None:
    with pytest.raises(FlagPermissionDenied, match=r"flags\.propose_change"):
        change_propose(proposer=erin, key="holds.strict_conflicts", value=True, reason="r")
    change = change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="r")
    with pytest.raises(FlagPermissionDenied, match=r"flags\.approve_change"):
        change_approve(change_request=change, approver=erin)


def test_a_contradictory_proposal_is_refused_with_a_clear_message(carol: Any) -> None:
    with pytest.raises(ContradictionRefused) as refused:
        change_propose(proposer=carol, key="allocator.require_adjacency", value=False, reason="r")

    message = str(refused.value)
    assert "allocator.merges_enabled is on while allocator.require_adjacency is off" in message
    assert "Turn allocator.require_adjacency on, or allocator.merges_enabled off" in message
    assert not ChangeRequest.objects.exists()


def test_a_restaurant_override_that_would_contradict_the_global_values_is_refused(
    carol: Any, dave: Any
) -> None:
    _approved(carol, dave, "allocator.merges_enabled", False)
    _approved(carol, dave, "allocator.require_adjacency", False)  # fine: merges are off

    with pytest.raises(ContradictionRefused, match=r"\[restaurant 4\] allocator.merges_enabled is on"):
        change_propose(
            proposer=carol, key="allocator.merges_enabled", value=True, reason="r", restaurant_id=4
        )


def test_a_global_change_that_would_contradict_a_restaurant_override_is_refused(
    carol: Any, dave: Any
) -> None:
    _approved(carol, dave, "allocator.merges_enabled", True, restaurant_id=6)
    _approved(carol, dave, "allocator.merges_enabled", False)

    with pytest.raises(ContradictionRefused, match=r"\[restaurant 6\] allocator.merges_enabled is on"):
        change_propose(proposer=carol, key="allocator.require_adjacency", value=False, reason="r")


def test_approval_rechecks_contradictions_against_the_world_as_it_is_now(carol: Any, dave: Any) -> None:
    _approved(carol, dave, "allocator.merges_enabled", False)
    # Proposed while adjacency is required: consistent at proposal time.
    merges_for_one = change_propose(
        proposer=carol, key="allocator.merges_enabled", value=True, reason="r", restaurant_id=1
    )
    # Meanwhile adjacency is turned off globally (consistent: merges are off everywhere).
    _approved(carol, dave, "allocator.require_adjacency", False)

    with pytest.raises(ContradictionRefused, match=r"Refused at approval.*\[restaurant 1\]"):
        change_approve(change_request=merges_for_one, approver=dave)

    merges_for_one.refresh_from_db()
    assert merges_for_one.status == ChangeRequest.Status.PENDING
    assert flags.get("allocator.merges_enabled", 1) is False


def test_capacity_enforcement_off_in_prod_needs_an_acknowledgement(
    settings: Any, carol: Any, dave: Any
) -> None:
    settings.RESERVEX_ENV = "prod"
    with pytest.raises(ContradictionRefused, match=r"capacity\.enforcement is off in prod"):
        change_propose(proposer=carol, key="capacity.enforcement", value="off", reason="r")
    # shadow is the safe way to stop refusing, and needs no acknowledgement
    _approved(carol, dave, "capacity.enforcement", "shadow")

    _approved(carol, dave, "capacity.enforcement_off_acknowledged", True)
    _approved(carol, dave, "capacity.enforcement", "off")
    assert flags.get("capacity.enforcement") == "off"
    # the acknowledgement cannot be withdrawn while enforcement is off
    with pytest.raises(ContradictionRefused):
        change_propose(proposer=carol, key="capacity.enforcement_off_acknowledged", value=None, reason="r")


def test_capacity_enforcement_off_needs_no_acknowledgement_outside_prod(carol: Any, dave: Any) -> None:
    _approved(carol, dave, "capacity.enforcement", "off")
    assert flags.get("capacity.enforcement") == "off"


def test_a_fix_is_accepted_while_a_contradiction_is_in_force(carol: Any) -> None:
    FlagOverride.objects.create(key="allocator.require_adjacency", value=False)  # behind the services' back
    change_propose(proposer=carol, key="allocator.require_adjacency", value=True, reason="fix it")
    change_propose(proposer=carol, key="allocator.max_merge_tables", value=4, reason="unrelated")


def test_rows_written_behind_the_services_back_can_be_removed_the_audited_way(carol: Any, dave: Any) -> None:
    FlagOverride.objects.create(key="allocator.inline_timeout_ms", value=60_000)
    FlagOverride.objects.create(key="allocator.retired_flag", value=True, restaurant_id=3)

    for key, restaurant_id in [("allocator.inline_timeout_ms", None), ("allocator.retired_flag", 3)]:
        _approved(carol, dave, key, None, restaurant_id=restaurant_id)

    assert not FlagOverride.objects.exists()
    assert list(AuditEntry.objects.order_by("pk").values_list("key", "old_value", "new_value")) == [
        ("allocator.inline_timeout_ms", 60_000, None),
        ("allocator.retired_flag", True, None),
    ]
    with pytest.raises(FlagUnknown):
        change_propose(proposer=carol, key="allocator.retired_flag", value=None, reason="r", restaurant_id=3)
