"""Reads of the override state straight from the database (not the hot path: see flags.store)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from flags.models import ChangeRequest, FlagOverride, scope_label
from flags.registry import ENVIRONMENTS, REGISTRY
from flags.rules import contradictions_in

ProblemKind = Literal["contradiction", "invalid_override"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with the flags in force, in one scope."""

    kind: ProblemKind
    scope: str  # "global", "restaurant 12"
    message: str
    hint: str

    def __str__(self) -> str:
        return f"[{self.scope}] {self.message}"


def override_error(key: str, value: Any) -> str | None:
    """Return why an override row cannot be used (unknown key, wrong type or range), or None."""
    flag = REGISTRY.get(key)
    if flag is None:
        return f"{key} is not in the registry"
    try:
        flag.validate(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(slots=True)
class OverrideState:
    """Every override row, split into usable values per scope and rows that cannot be used."""

    global_values: dict[str, Any] = field(default_factory=dict)
    restaurant_values: dict[int, dict[str, Any]] = field(default_factory=dict)
    invalid: list[Problem] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, int | None, Any]]) -> OverrideState:
        state = cls()
        for key, restaurant_id, value in rows:
            error = override_error(key, value)
            if error is not None:
                state.invalid.append(
                    Problem(
                        "invalid_override",
                        scope_label(restaurant_id),
                        f"override {key}={json.dumps(value, default=str)} is ignored: {error}.",
                        "Propose a valid value (or removing the override) through a change request.",
                    )
                )
                continue
            state.scope(restaurant_id)[key] = value
        return state

    def scope(self, restaurant_id: int | None) -> dict[str, Any]:
        """Return the (mutable) overrides of one scope."""
        if restaurant_id is None:
            return self.global_values
        return self.restaurant_values.setdefault(restaurant_id, {})

    def override(self, key: str, restaurant_id: int | None) -> Any:
        """Return the override of exactly this scope, or None when there is none."""
        if restaurant_id is None:
            return self.global_values.get(key)
        return self.restaurant_values.get(restaurant_id, {}).get(key)

    def with_change(self, key: str, restaurant_id: int | None, value: Any) -> OverrideState:
        """Return a copy with one override set (or removed when value is None)."""
        copy = OverrideState(
            dict(self.global_values),
            {rid: dict(values) for rid, values in self.restaurant_values.items()},
            list(self.invalid),
        )
        target = copy.scope(restaurant_id)
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
        return copy

    def effective(self, restaurant_id: int | None, environment: str) -> dict[str, Any]:
        """Return every flag's value in force: restaurant override > global override > default."""
        values = {key: flag.default_for(environment) for key, flag in REGISTRY.items()}
        values.update(self.global_values)
        if restaurant_id is not None:
            values.update(self.restaurant_values.get(restaurant_id, {}))
        return values

    def contradictions(self, environment: str) -> list[Problem]:
        """Return the contradictions in force, globally and for each restaurant with overrides.

        A restaurant that only inherits a global contradiction is not reported again.
        """
        problems: list[Problem] = []
        global_messages: set[str] = set()
        for finding in contradictions_in(self.effective(None, environment), environment=environment):
            global_messages.add(finding.message)
            problems.append(Problem("contradiction", "global", finding.message, finding.hint))
        for restaurant_id in sorted(self.restaurant_values):
            values = self.effective(restaurant_id, environment)
            for finding in contradictions_in(values, environment=environment):
                if finding.message not in global_messages:
                    problems.append(
                        Problem("contradiction", scope_label(restaurant_id), finding.message, finding.hint)
                    )
        return problems

    def problems(self, environment: str) -> list[Problem]:
        """Return the unusable rows, then the contradictions."""
        return [*self.invalid, *self.contradictions(environment)]


def override_state() -> OverrideState:
    """Load every override row from the database."""
    return OverrideState.from_rows(FlagOverride.objects.values_list("key", "restaurant_id", "value"))


def problems_in_force(environment: str) -> list[Problem]:
    """Return what is wrong with the flags in force in this environment (reads the database)."""
    return override_state().problems(environment)


def registry_default_problems() -> list[Problem]:
    """Return contradictions among the registry's own defaults, in every environment."""
    problems = []
    for environment in ENVIRONMENTS:
        for finding in contradictions_in(
            OverrideState().effective(None, environment), environment=environment
        ):
            problems.append(
                Problem("contradiction", f"defaults ({environment})", finding.message, finding.hint)
            )
    return problems


def pending_change_requests() -> list[ChangeRequest]:
    """Return the change requests waiting for a second person, oldest first."""
    return list(
        ChangeRequest.objects.filter(status=ChangeRequest.Status.PENDING)
        .select_related("proposed_by")
        .order_by("proposed_at")
    )
