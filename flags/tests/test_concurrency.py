"""Two approvals at once cannot together create a contradiction (the flag write lock).

Change A (merges on for restaurant 1) and change B (adjacency off globally) are each consistent
alone and contradictory together. A is held just after its contradiction check while B is approved
from another connection. With the lock disabled (the control) B slips through and the contradiction
lands; with the lock, B waits, re-reads the state A committed, and is refused.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from flags import services
from flags.health import contradictions
from flags.models import ChangeRequest
from flags.services import ContradictionRefused, change_approve, change_propose

pytestmark = pytest.mark.django_db(transaction=True)


def _race(carol: Any, dave: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    change_approve(
        change_request=change_propose(
            proposer=carol, key="allocator.merges_enabled", value=False, reason="r"
        ),
        approver=dave,
    )
    merges_for_one = change_propose(
        proposer=carol, key="allocator.merges_enabled", value=True, reason="A", restaurant_id=1
    )
    adjacency_off = change_propose(proposer=carol, key="allocator.require_adjacency", value=False, reason="B")

    a_checked, release_a = threading.Event(), threading.Event()
    real_check = services._refuse_new_contradictions

    def check_then_hold_a(before: Any, after: Any, **kwargs: Any) -> None:
        real_check(before, after, **kwargs)
        if 1 in after.restaurant_values and 1 not in before.restaurant_values:  # A's change
            a_checked.set()
            release_a.wait(timeout=10)

    monkeypatch.setattr(services, "_refuse_new_contradictions", check_then_hold_a)
    outcome: dict[str, Any] = {}

    def approve(name: str, change: ChangeRequest) -> None:
        try:
            change_approve(change_request=change.pk, approver=dave)
            outcome[name] = "applied"
        except ContradictionRefused as exc:
            outcome[name] = exc
        finally:
            connection.close()

    thread_a = threading.Thread(target=approve, args=("A", merges_for_one))
    thread_b = threading.Thread(target=approve, args=("B", adjacency_off))
    thread_a.start()
    assert a_checked.wait(timeout=10)
    thread_b.start()
    thread_b.join(timeout=0.5)  # without the lock B finishes here; with it, B waits for A
    release_a.set()
    thread_a.join(timeout=10)
    thread_b.join(timeout=10)
    return outcome


def test_control_without_the_lock_two_approvals_create_a_contradiction(
    carol: Any, dave: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "_lock_flag_writes", lambda: None)
    outcome = _race(carol, dave, monkeypatch)
    assert outcome == {"A": "applied", "B": "applied"}
    assert any("[restaurant 1] allocator.merges_enabled is on" in problem for problem in contradictions())


def test_with_the_lock_the_second_approval_sees_the_first_and_is_refused(
    carol: Any, dave: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = _race(carol, dave, monkeypatch)
    assert outcome["A"] == "applied"
    assert isinstance(outcome["B"], ContradictionRefused)
    assert "[restaurant 1]" in str(outcome["B"])
    assert contradictions() == []
