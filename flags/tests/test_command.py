"""manage.py flags: the audit matrix and the shell workflow (same refusals as the services)."""

from __future__ import annotations

import csv
import io
import sys
import types
from typing import Any

import pytest
from django.core.management import CommandError, call_command

import flags
from flags.models import ChangeRequest, FlagOverride
from flags.registry import ENVIRONMENTS, REGISTRY, format_value
from flags.services import change_approve, change_propose

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("flags", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def overrides(carol: Any, dave: Any) -> None:
    for key, value, restaurant_id in [
        ("allocator.max_merge_tables", 4, None),
        ("allocator.max_merge_tables", 5, 1),
        ("allocator.max_merge_tables", 2, 2),
        ("holds.strict_conflicts", True, 2),
    ]:
        change = change_propose(proposer=carol, key=key, value=value, reason="r", restaurant_id=restaurant_id)
        change_approve(change_request=change, approver=dave)


@pytest.mark.usefixtures("overrides")
def test_audit_csv_lists_every_flag_with_its_defaults_and_overrides() -> None:
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(run("audit", "--format", "csv")))}

    assert list(rows) == list(REGISTRY)
    for key, flag in REGISTRY.items():
        row = rows[key]
        assert row["type"] == flag.type.__name__
        assert row["owner"] == flag.owner
        assert row["kill switch"] == ("yes" if flag.kill_switch else "no")
        for environment in ENVIRONMENTS:
            assert row[f"default {environment}"] == format_value(flag.default_for(environment))
    assert rows["allocator.max_merge_tables"]["global override"] == "4"
    assert rows["allocator.max_merge_tables"]["restaurant overrides"] == "1=5; 2=2"
    assert rows["allocator.max_merge_tables"]["in force here"] == "4"
    assert rows["holds.strict_conflicts"]["global override"] == ""
    assert rows["holds.strict_conflicts"]["restaurant overrides"] == "2=true"
    assert rows["capacity.enforcement"]["default prod"] == "enforce"
    assert rows["debug.capacity_profiling"]["default dev"] == "true"
    assert rows["debug.capacity_profiling"]["default prod"] == "false"


@pytest.mark.usefixtures("overrides")
def test_audit_markdown_is_a_table_of_every_flag() -> None:
    output = run("audit", "--format", "markdown")
    table = [line for line in output.splitlines() if line.startswith("| `")]

    assert len(table) == len(REGISTRY)
    for line, (key, flag) in zip(table, REGISTRY.items(), strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == f"`{key}`"
        assert cells[2:5] == [format_value(flag.default_for(env)) for env in ENVIRONMENTS]
    [merge_row] = [line for line in table if "`allocator.max_merge_tables`" in line]
    assert "| 4 | 1=5; 2=2 | — | — | 4 |" in merge_row
    assert "None: no contradictions" in output


def test_audit_shows_rows_written_behind_the_services_back_and_the_problem() -> None:
    FlagOverride.objects.create(key="allocator.inline_timeout_ms", value=99_999)
    output = run("audit")
    assert "99999 (ignored: invalid)" in output
    assert "[global] override allocator.inline_timeout_ms=99999 is ignored" in output


def test_the_shell_workflow_refuses_self_approval_and_applies_on_approval(carol: Any, dave: Any) -> None:
    output = run(
        "propose",
        "holds.strict_conflicts",
        "--value",
        "true",
        "--reason",
        "strict",
        "--user",
        "carol",
        "--restaurant",
        "7",
    )
    change = ChangeRequest.objects.get()
    assert f"#{change.pk}" in output and "no effect until a different person approves it" in output
    assert flags.get("holds.strict_conflicts", 7) is False

    with pytest.raises(CommandError, match="a different person must approve it"):
        run("approve", str(change.pk), "--user", "carol")
    assert flags.get("holds.strict_conflicts", 7) is False

    assert "Approved and applied" in run("approve", str(change.pk), "--user", "dave", "--note", "ok")
    assert flags.get("holds.strict_conflicts", 7) is True
    assert "holds.strict_conflicts = true  (restaurant 7 override)" in run("show", "--restaurant", "7")


def test_the_shell_reject_refuses_self_rejection(carol: Any, dave: Any) -> None:
    run("propose", "allocator.max_merge_tables", "--value", "4", "--reason", "r", "--user", "carol")
    change = ChangeRequest.objects.get()
    assert f"#{change.pk}" in run("pending")
    with pytest.raises(CommandError, match="a different person must reject it"):
        run("reject", str(change.pk), "--user", "carol")
    assert "Rejected" in run("reject", str(change.pk), "--user", "dave")
    assert "No change requests are waiting" in run("pending")


def test_the_shell_refuses_contradictions_bad_values_and_unknown_users(carol: Any) -> None:
    with pytest.raises(CommandError, match=r"allocator\.merges_enabled is on while"):
        run("propose", "allocator.require_adjacency", "--value", "off", "--reason", "r", "--user", "carol")
    with pytest.raises(CommandError, match="takes true or false"):
        run("propose", "holds.strict_conflicts", "--value", "perhaps", "--reason", "r", "--user", "carol")
    with pytest.raises(CommandError, match="There is no user 'mallory'"):
        run("propose", "holds.strict_conflicts", "--value", "true", "--reason", "r", "--user", "mallory")


def test_the_shell_kill_switch(
    carol: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[str] = []
    monkeypatch.setitem(
        sys.modules,
        "observability.alerts",
        types.SimpleNamespace(send_alert=lambda title, text, *, severity: sent.append(title) or True),
    )
    with django_capture_on_commit_callbacks(execute=True):
        output = run(
            "kill", "capacity.enforcement", "--value", "shadow", "--reason", "rules bug", "--user", "carol"
        )
    assert "Kill switch thrown" in output and "flags propose capacity.enforcement --remove" in output
    assert flags.get("capacity.enforcement") == "shadow"
    assert len(sent) == 1
    with pytest.raises(CommandError, match="is not a kill switch"):
        run("kill", "holds.strict_conflicts", "--value", "false", "--reason", "r", "--user", "carol")


def test_check_exits_non_zero_on_a_contradiction() -> None:
    assert "No contradictions" in run("check")
    FlagOverride.objects.create(key="allocator.require_adjacency", value=False)
    with pytest.raises(CommandError, match="1 flag problem"):
        run("check")


def test_audit_shows_cohorts_percentages_and_the_restaurants_each_step_covers(carol: Any, dave: Any) -> None:
    from bookings.tests.factories import RestaurantFactory
    from flags.models import Cohort
    from flags.services import cohort_members_set, rollout_plan_create, rollout_step_propose
    from flags.targeting import in_percentage

    ids = [RestaurantFactory(name=f"Pub {n}").pk for n in range(30)]
    beta = Cohort.objects.create(name="beta-partners")
    cohort_members_set(cohort=beta, restaurant_ids=ids[:2])
    run(
        "propose",
        "holds.strict_conflicts",
        "--value",
        "true",
        "--cohort",
        "beta-partners",
        "--reason",
        "r",
        "--user",
        "carol",
    )
    run("approve", str(ChangeRequest.objects.get(status="pending").pk), "--user", "dave")
    plan = rollout_plan_create(
        user=carol, key="capacity.enforcement", shadow_value="shadow", target_value="enforce", reason="r"
    )
    for _ in range(2):
        change_approve(change_request=rollout_step_propose(plan=plan, proposer=carol), approver=dave)

    output = run("audit")
    rows = list(csv.DictReader(io.StringIO(run("audit", "--format", "csv"))))

    [strict] = [row for row in rows if row["key"] == "holds.strict_conflicts"]
    assert strict["cohort targets"] == "beta-partners=true"
    [enforcement] = [row for row in rows if row["key"] == "capacity.enforcement"]
    assert enforcement["percentage target"] == "enforce for 10 %"
    assert f"**beta-partners** (2 restaurants: Pub 0 ({ids[0]}), Pub 1 ({ids[1]}))" in output
    covered = [rid for rid in ids if in_percentage("capacity.enforcement", rid, 10)]
    assert f"- step 1 (applied): enforce for 10 % of restaurants — {len(covered)} of 30:" in output
    assert all(f"({rid})" in output.split("- step 1")[1].split("\n")[0] for rid in covered)
    assert "- step 2 (not applied): enforce for 50 % of restaurants" in output
    shown = run("show", "--restaurant", str(ids[0]))
    assert "holds.strict_conflicts = true  (target: cohort beta-partners)" in shown
