"""Contradictions are reported at start-up (system check) and by flags.health."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command

from flags.health import contradictions
from flags.models import FlagOverride
from flags.registry import ENVIRONMENTS, REGISTRY
from flags.rules import contradictions_in
from flags.selectors import registry_default_problems

pytestmark = pytest.mark.django_db


def _flag_warnings() -> list[checks.CheckMessage]:
    messages = checks.run_checks(databases=["default"])
    return [message for message in messages if message.id and message.id.startswith("flags.")]


def test_the_registry_defaults_agree_in_every_environment() -> None:
    assert registry_default_problems() == []


def test_every_rule_sees_every_key_it_needs() -> None:
    for environment in ENVIRONMENTS:
        values = {key: flag.default_for(environment) for key, flag in REGISTRY.items()}
        assert contradictions_in(values, environment=environment) == []


def test_nothing_is_reported_when_all_is_well() -> None:
    assert _flag_warnings() == []
    assert contradictions() == []


def test_the_system_check_reports_a_contradiction_written_straight_into_the_db() -> None:
    FlagOverride.objects.create(key="allocator.require_adjacency", value=False)

    [warning] = _flag_warnings()
    assert warning.id == "flags.W001"
    assert warning.level == checks.WARNING
    assert "[global] allocator.merges_enabled is on while allocator.require_adjacency is off" in warning.msg
    assert warning.hint == "Turn allocator.require_adjacency on, or allocator.merges_enabled off."


def test_a_restaurant_scope_contradiction_names_the_restaurant() -> None:
    FlagOverride.objects.create(key="allocator.require_adjacency", value=False, restaurant_id=12)
    assert contradictions() == [
        "[restaurant 12] allocator.merges_enabled is on while allocator.require_adjacency is off: "
        "the planner could join tables that are not next to each other."
    ]


@pytest.mark.parametrize("value", [30_000, -1, "fast"])
def test_an_inline_timeout_out_of_bounds_in_the_db_is_reported(value: Any) -> None:
    FlagOverride.objects.create(key="allocator.inline_timeout_ms", value=value, restaurant_id=2)

    [warning] = _flag_warnings()
    assert warning.id == "flags.W002"
    assert "[restaurant 2] override allocator.inline_timeout_ms=" in warning.msg
    assert "is ignored" in warning.msg
    assert len(contradictions()) == 1


def test_the_inline_timeout_rule_holds_the_ceiling_whatever_the_registry_says() -> None:
    values = {key: flag.default_for("dev") for key, flag in REGISTRY.items()}
    values["allocator.inline_timeout_ms"] = 25_001
    [finding] = contradictions_in(values, environment="dev")
    assert "capped at 25 s" in finding.message


def test_capacity_off_in_prod_without_acknowledgement_is_reported(settings: Any) -> None:
    FlagOverride.objects.create(key="capacity.enforcement", value="off")
    assert contradictions() == []  # dev: allowed

    settings.RESERVEX_ENV = "prod"
    [problem] = contradictions()
    assert problem.startswith("[global] capacity.enforcement is off in prod without capacity.enforcement_off")

    FlagOverride.objects.create(key="capacity.enforcement_off_acknowledged", value=True)
    assert contradictions() == []


def test_an_override_of_a_flag_no_longer_in_the_registry_is_reported() -> None:
    FlagOverride.objects.create(key="allocator.retired_flag", value=True)
    assert contradictions() == [
        "[global] override allocator.retired_flag=true is ignored: allocator.retired_flag "
        "is not in the registry."
    ]


def test_manage_py_check_with_the_database_prints_the_warning(capsys: pytest.CaptureFixture[str]) -> None:
    FlagOverride.objects.create(key="allocator.require_adjacency", value=False)
    call_command("check")  # without --database: no query, as Django expects of plain checks
    assert "flags.W001" not in capsys.readouterr().err
    call_command("check", databases=["default"])
    assert "flags.W001" in capsys.readouterr().err
