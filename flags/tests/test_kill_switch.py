"""The emergency kill switch: immediate, audited, alerted, and only for kill-switch flags."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import flags
from flags.models import AuditEntry, FlagOverride
from flags.services import (
    ContradictionRefused,
    FlagPermissionDenied,
    NotAKillSwitch,
    change_approve,
    change_propose,
    kill_switch_throw,
)
from observability.models import ObservabilityEvent

pytestmark = pytest.mark.django_db


def test_it_applies_at_once_audits_emits_and_alerts(
    carol: Any, alerts: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    assert flags.get("allocator.merges_enabled", 3) is True  # cached before the switch

    with django_capture_on_commit_callbacks(execute=True):
        entry = kill_switch_throw(
            user=carol,
            key="allocator.merges_enabled",
            value=False,
            reason="planner loops on joins",
            restaurant_id=3,
        )

    assert flags.get("allocator.merges_enabled", 3) is False
    assert flags.get("allocator.merges_enabled") is True
    assert (entry.kind, entry.key, entry.restaurant_id) == ("kill_switch", "allocator.merges_enabled", 3)
    assert (entry.old_value, entry.new_value, entry.reason) == (None, False, "planner loops on joins")
    assert (entry.proposed_by, entry.approved_by, entry.change_request) == (carol, None, None)

    event = ObservabilityEvent.objects.get(type="flags.kill_switch")
    assert event.restaurant_id == 3
    assert event.context["flag_key"] == "allocator.merges_enabled"
    assert (event.context["old_value"], event.context["new_value"]) == (None, False)
    assert (event.context["proposer_id"], event.context["approver_id"]) == (carol.pk, None)

    assert len(alerts) == 1
    assert alerts[0]["severity"] == "P1"
    assert "allocator.merges_enabled = false (restaurant 3)" in alerts[0]["title"]
    assert "carol" in alerts[0]["text"] and "planner loops on joins" in alerts[0]["text"]
    assert "flags propose allocator.merges_enabled --remove --restaurant 3" in alerts[0]["text"]


def test_the_alert_goes_out_only_after_commit(carol: Any, alerts: list[dict[str, Any]]) -> None:
    # No on-commit capture: the test's transaction never commits, so no alert may have gone out.
    kill_switch_throw(user=carol, key="capacity.enforcement", value="shadow", reason="capacity bug")
    assert alerts == []
    assert flags.get("capacity.enforcement") == "shadow"


def test_a_failing_alert_does_not_undo_the_switch(
    carol: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    def broken(title: str, text: str, *, severity: str) -> bool:
        raise RuntimeError("webhook down")

    monkeypatch.setitem(sys.modules, "observability.alerts", types.SimpleNamespace(send_alert=broken))
    with django_capture_on_commit_callbacks(execute=True):
        kill_switch_throw(user=carol, key="allocator.merges_enabled", value=False, reason="r")
    assert flags.get("allocator.merges_enabled") is False


def test_it_is_refused_for_a_flag_that_is_not_a_kill_switch(carol: Any, alerts: list[dict[str, Any]]) -> None:
    with pytest.raises(NotAKillSwitch, match="is not a kill switch; propose the change"):
        kill_switch_throw(user=carol, key="allocator.require_adjacency", value=False, reason="r")
    assert not FlagOverride.objects.exists()
    assert not AuditEntry.objects.exists()


def test_it_needs_the_kill_switch_permission(erin: Any) -> None:
    with pytest.raises(FlagPermissionDenied, match=r"flags\.throw_kill_switch"):
        kill_switch_throw(user=erin, key="allocator.merges_enabled", value=False, reason="r")


def test_it_cannot_create_a_contradiction(settings: Any, carol: Any) -> None:
    settings.RESERVEX_ENV = "prod"
    with pytest.raises(ContradictionRefused, match=r"Use capacity\.enforcement=shadow"):
        kill_switch_throw(user=carol, key="capacity.enforcement", value="off", reason="r")


def test_undoing_it_takes_two_people(carol: Any, dave: Any) -> None:
    kill_switch_throw(user=carol, key="allocator.merges_enabled", value=False, reason="incident 42")
    undo = change_propose(
        proposer=carol, key="allocator.merges_enabled", value=None, reason="incident 42 over"
    )
    change_approve(change_request=undo, approver=dave)

    assert flags.get("allocator.merges_enabled") is True
    assert list(AuditEntry.objects.order_by("pk").values_list("kind", "old_value", "new_value")) == [
        ("kill_switch", None, False),
        ("change", False, None),
    ]
