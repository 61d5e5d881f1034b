"""Reads of the override state straight from the database (not the hot path: see flags.store)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from flags.models import ChangeRequest, CohortMember, FlagOverride, FlagTarget, scope_label
from flags.registry import ENVIRONMENTS, REGISTRY
from flags.rules import contradictions_in
from flags.targeting import Targets, resolve_all
from observability.scoping import restaurant_model

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
    targets: Targets = field(default_factory=Targets)
    memberships: dict[int, set[str]] = field(default_factory=dict)  # restaurant id -> cohort names
    restaurant_ids: list[int] = field(default_factory=list)  # every restaurant, for percentages

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[str, int | None, Any]],
        *,
        targets: Iterable[tuple[str, str | None, int | None, Any]] = (),
        members: Iterable[tuple[int, str]] = (),
        restaurant_ids: Iterable[int] = (),
    ) -> OverrideState:
        state = cls(restaurant_ids=sorted(restaurant_ids))
        for member_id, member_of in members:
            state.memberships.setdefault(member_id, set()).add(member_of)
        for key, cohort_name, percentage, value in sorted(targets, key=lambda row: (row[0], row[1] or "")):
            error = override_error(key, value)
            if error is not None:
                state.invalid.append(
                    Problem(
                        "invalid_override",
                        scope_label(None, cohort_name, percentage),
                        f"target {key}={json.dumps(value, default=str)} is ignored: {error}.",
                        "Propose a valid value (or removing the target) through a change request.",
                    )
                )
            elif cohort_name is not None:
                state.targets.cohorts.setdefault(key, []).append((cohort_name, value))
            elif percentage is not None:
                state.targets.percentages[key] = (percentage, value)
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

    def target(self, key: str, *, cohort_name: str | None = None, percentage: bool = False) -> Any:
        """Return the value of a cohort target (or of the percentage target), or None."""
        if percentage:
            found = self.targets.percentages.get(key)
            return None if found is None else found[1]
        return dict(self.targets.cohorts.get(key, [])).get(cohort_name or "")

    def copy(self) -> OverrideState:
        return OverrideState(
            dict(self.global_values),
            {rid: dict(values) for rid, values in self.restaurant_values.items()},
            list(self.invalid),
            Targets(
                {key: list(pairs) for key, pairs in self.targets.cohorts.items()},
                dict(self.targets.percentages),
            ),
            {rid: set(names) for rid, names in self.memberships.items()},
            list(self.restaurant_ids),
        )

    def with_change(
        self,
        key: str,
        restaurant_id: int | None,
        value: Any,
        *,
        cohort_name: str | None = None,
        percentage: int | None = None,
    ) -> OverrideState:
        """Return a copy with one override or target set (or removed when value is None)."""
        copy = self.copy()
        if cohort_name is not None:
            pairs = [pair for pair in copy.targets.cohorts.get(key, []) if pair[0] != cohort_name]
            if value is not None:
                pairs = sorted([*pairs, (cohort_name, value)])
            copy.targets.cohorts[key] = pairs
            if not pairs:
                del copy.targets.cohorts[key]
        elif percentage is not None:
            if value is None:
                copy.targets.percentages.pop(key, None)
            else:
                copy.targets.percentages[key] = (percentage, value)
        else:
            target = copy.scope(restaurant_id)
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        return copy

    def effective(self, restaurant_id: int | None, environment: str) -> dict[str, Any]:
        """Return every flag's value in force, by the precedence of flags.targeting."""
        return resolve_all(
            defaults={key: flag.default_for(environment) for key, flag in REGISTRY.items()},
            global_overrides=self.global_values,
            targets=self.targets,
            restaurant_id=restaurant_id,
            restaurant_overrides=self.restaurant_values.get(restaurant_id, {})
            if restaurant_id is not None
            else {},
            cohorts_of_restaurant=self.memberships.get(restaurant_id, ())
            if restaurant_id is not None
            else (),
        )

    def restaurants_to_check(self) -> list[int]:
        """Return the restaurants whose values may differ from the global ones."""
        ids = set(self.restaurant_values)
        targeted_cohorts = {name for pairs in self.targets.cohorts.values() for name, _ in pairs}
        ids.update(rid for rid, names in self.memberships.items() if names & targeted_cohorts)
        if self.targets.percentages:
            ids.update(self.restaurant_ids)
        return sorted(ids)

    def contradictions(self, environment: str) -> list[Problem]:
        """Return the contradictions in force, globally and for each restaurant with overrides.

        A restaurant that only inherits a global contradiction is not reported again.
        """
        problems: list[Problem] = []
        global_messages: set[str] = set()
        for finding in contradictions_in(self.effective(None, environment), environment=environment):
            global_messages.add(finding.message)
            problems.append(Problem("contradiction", "global", finding.message, finding.hint))
        for restaurant_id in self.restaurants_to_check():
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


def restaurant_names() -> dict[int, str]:
    """Return every restaurant's name by id (the model behind ``user.restaurants``; DESIGN §2)."""
    return dict(restaurant_model()._default_manager.order_by("pk").values_list("pk", "name"))


def override_state() -> OverrideState:
    """Load every override, target and cohort membership, and the restaurant ids, from the database."""
    return OverrideState.from_rows(
        FlagOverride.objects.values_list("key", "restaurant_id", "value"),
        targets=FlagTarget.objects.values_list("key", "cohort__name", "percentage", "value"),
        members=CohortMember.objects.values_list("restaurant_id", "cohort__name"),
        restaurant_ids=restaurant_model()._default_manager.values_list("pk", flat=True),
    )


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
