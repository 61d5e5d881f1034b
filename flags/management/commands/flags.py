"""``manage.py flags``: the registry matrix, what is in force, and the change workflow for shells.

    flags audit [--format markdown|csv]      every flag: type, defaults per environment, owner,
                                             kill switch, live overrides (global, per restaurant),
                                             cohort and percentage targets; in markdown also the
                                             cohorts and the restaurants each rollout step covers
    flags show [--restaurant ID]             the value in force for each flag, and where it comes from
    flags pending                            change requests waiting for a second person
    flags check                              contradictions in force (exit 1 if any)
    flags propose KEY (--value V | --remove) --reason R --user U
                  [--restaurant ID | --cohort NAME | --percentage N]
    flags approve ID --user U [--note N]     (refused when U proposed it)
    flags reject ID --user U [--note N]      (refused when U proposed it)
    flags kill KEY --value V --reason R --user U [--restaurant ID]   kill-switch flags only

The write subcommands call flags.services, so they refuse exactly what admin refuses.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from flags.models import Cohort, FlagOverride, FlagTarget, RolloutPlan, scope_label
from flags.registry import ENVIRONMENTS, REGISTRY, Flag, format_value
from flags.rollout import covered_by
from flags.selectors import (
    override_error,
    override_state,
    pending_change_requests,
    problems_in_force,
    restaurant_names,
)
from flags.services import (
    FlagError,
    change_approve,
    change_propose,
    change_reject,
    kill_switch_throw,
    undo_hint,
)
from flags.targeting import targeted_value

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MATRIX_COLUMNS = [
    "key",
    "type",
    *(f"default {environment}" for environment in ENVIRONMENTS),
    "owner",
    "kill switch",
    "global override",
    "restaurant overrides",
    "cohort targets",
    "percentage target",
    "in force here",
]


def audit_rows(environment: str) -> list[dict[str, str]]:
    """Return one row per registry flag: defaults, owner, kill switch and the live overrides."""
    raw: dict[str, list[FlagOverride]] = {}
    for row in FlagOverride.objects.order_by("key", "restaurant_id"):
        raw.setdefault(row.key, []).append(row)
    state = override_state()
    in_force = state.effective(None, environment)
    targets: dict[str, list[FlagTarget]] = {}
    for target in FlagTarget.objects.select_related("cohort").order_by("key", "cohort__name"):
        targets.setdefault(target.key, []).append(target)

    def shown(row: FlagOverride) -> str:
        # Rows written behind the services' back stay visible, marked as not in force.
        text = format_value(row.value)
        return text if override_error(row.key, row.value) is None else f"{text} (ignored: invalid)"

    rows = []
    for key, flag in REGISTRY.items():
        overrides = raw.get(key, [])
        global_rows = [row for row in overrides if row.restaurant_id is None]
        restaurant_rows = [row for row in overrides if row.restaurant_id is not None]
        rows.append(
            {
                "key": key,
                "type": flag.type.__name__,
                **{f"default {env}": format_value(flag.default_for(env)) for env in ENVIRONMENTS},
                "owner": flag.owner,
                "kill switch": "yes" if flag.kill_switch else "no",
                "global override": shown(global_rows[0]) if global_rows else "",
                "restaurant overrides": "; ".join(
                    f"{row.restaurant_id}={shown(row)}" for row in restaurant_rows
                ),
                "cohort targets": "; ".join(
                    f"{t.cohort.name}={format_value(t.value)}"
                    for t in targets.get(key, [])
                    if t.cohort is not None
                ),
                "percentage target": "; ".join(
                    f"{format_value(t.value)} for {t.percentage} %"
                    for t in targets.get(key, [])
                    if t.percentage is not None
                ),
                "in force here": format_value(in_force[key]),
            }
        )
    return rows


def _names(ids: list[int], names: dict[int, str], limit: int = 20) -> str:
    shown = ", ".join(f"{names.get(rid, '?')} ({rid})" for rid in ids[:limit])
    return shown + (f", … {len(ids) - limit} more" if len(ids) > limit else "") if ids else "none"


def targeting_markdown() -> list[str]:
    """Return the cohorts (members, targets) and each rollout plan's steps with the restaurants they cover."""
    names = restaurant_names()
    all_ids = sorted(names)
    lines = ["", "## Cohorts", ""]
    cohorts = list(Cohort.objects.prefetch_related("members").order_by("name"))
    if not cohorts:
        lines.append("None.")
    for cohort in cohorts:
        members = sorted(member.restaurant_id for member in cohort.members.all())
        targeted = ", ".join(
            f"`{t.key}` = {format_value(t.value)}"
            for t in FlagTarget.objects.filter(cohort=cohort).order_by("key")
        )
        lines.append(
            f"- **{cohort.name}** ({len(members)} restaurants: {_names(members, names)}); "
            f"targets: {targeted or 'none'}"
        )
    lines += ["", "## Rollout plans", ""]
    plans = list(RolloutPlan.objects.order_by("-created_at")[:20])
    if not plans:
        lines.append("None.")
    for plan in plans:
        applied = plan.change_requests.filter(status="approved").count()
        lines.append(
            f"### `{plan.key}` plan #{plan.pk}: {plan.get_status_display().lower()}, "
            f"{applied} of {plan.step_count()} steps applied"
        )
        lines.append("")
        for step in range(plan.step_count()):
            covered = covered_by(plan, step, all_ids)
            state = "applied" if step < applied else "not applied"
            who = (
                f"all {len(all_ids)} restaurants"
                if step == 0
                else f"{len(covered)} of {len(all_ids)}: {_names(covered, names)}"
            )
            lines.append(f"- step {step} ({state}): {plan.step_label(step)} — {who}")
        lines.append("")
    return lines


def render_markdown(rows: list[dict[str, str]], environment: str, problems: list[str]) -> str:
    lines = [
        f"# Feature flags — environment {environment}",
        "",
        "| " + " | ".join(MATRIX_COLUMNS) + " |",
        "|" + "---|" * len(MATRIX_COLUMNS),
    ]
    for row in rows:
        cells = [f"`{row['key']}`", *(row[column] or "—" for column in MATRIX_COLUMNS[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += targeting_markdown()
    lines += ["", "## Problems", ""]
    lines += [f"- {problem}" for problem in problems] or ["None: no contradictions, no unusable overrides."]
    return "\n".join(lines) + "\n"


def render_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MATRIX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Feature flags: audit matrix, values in force, and the two-person change workflow."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        audit = sub.add_parser("audit", help="print the per-environment matrix with live overrides")
        audit.add_argument("--format", choices=["markdown", "csv"], default="markdown")
        show = sub.add_parser("show", help="print the value in force for each flag and its source")
        show.add_argument("--restaurant", type=int, default=None)
        sub.add_parser("pending", help="list change requests waiting for approval")
        sub.add_parser("check", help="report contradictions in force; exit 1 if any")

        propose = sub.add_parser("propose", help="propose a change (a different person must approve)")
        propose.add_argument("key")
        what = propose.add_mutually_exclusive_group(required=True)
        what.add_argument("--value", help="the new value as text: true/false, a number, a choice")
        what.add_argument("--remove", action="store_true", help="remove the override of this scope")
        target = propose.add_mutually_exclusive_group()
        target.add_argument("--cohort", help="target a cohort by name instead of a restaurant or everyone")
        target.add_argument("--percentage", type=int, help="target this percentage of restaurants (0-100)")
        self._scope_reason_user(propose)

        for name, verb in (("approve", "approve and apply"), ("reject", "reject")):
            decide = sub.add_parser(name, help=f"{verb} someone else's change request")
            decide.add_argument("id", type=int)
            decide.add_argument("--user", required=True, help="your username (not the proposer's)")
            decide.add_argument("--note", default="")

        kill = sub.add_parser("kill", help="throw an emergency kill switch (audited and alerted)")
        kill.add_argument("key")
        kill.add_argument("--value", required=True)
        self._scope_reason_user(kill)

    @staticmethod
    def _scope_reason_user(parser: CommandParser) -> None:
        parser.add_argument("--restaurant", type=int, default=None, help="restaurant id (default: global)")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user", required=True, help="your username")

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, f"_{options['subcommand']}")
        try:
            handler(options)
        except FlagError as exc:
            raise CommandError(str(exc)) from None

    # --- reads -------------------------------------------------------------------------------------

    def _audit(self, options: dict[str, Any]) -> None:
        environment = settings.RESERVEX_ENV
        rows = audit_rows(environment)
        if options["format"] == "csv":
            self.stdout.write(render_csv(rows), ending="")
        else:
            problems = [str(problem) for problem in problems_in_force(environment)]
            self.stdout.write(render_markdown(rows, environment, problems), ending="")

    def _show(self, options: dict[str, Any]) -> None:
        restaurant_id = options["restaurant"]
        state = override_state()
        environment = settings.RESERVEX_ENV
        self.stdout.write(f"Flags in force ({scope_label(restaurant_id)}, environment {environment}):")
        for key, value in state.effective(restaurant_id, environment).items():
            found, _, targeted_by = (
                targeted_value(key, restaurant_id, state.memberships.get(restaurant_id, ()), state.targets)
                if restaurant_id is not None
                else (False, None, "")
            )
            if restaurant_id is not None and key in state.restaurant_values.get(restaurant_id, {}):
                source = f"restaurant {restaurant_id} override"
            elif found:
                source = f"target: {targeted_by}"
            elif key in state.global_values:
                source = "global override"
            else:
                source = f"{environment} default"
            self.stdout.write(f"  {key} = {format_value(value)}  ({source})")
        self.stdout.write("Readers may see the previous value for up to FLAGS_CACHE_TTL_SECONDS.")

    def _pending(self, options: dict[str, Any]) -> None:
        pending = pending_change_requests()
        if not pending:
            self.stdout.write("No change requests are waiting.")
        for change in pending:
            new = "(remove override)" if change.new_value is None else format_value(change.new_value)
            self.stdout.write(
                f"#{change.pk} {change.key} → {new} ({scope_label(change.restaurant_id)}), proposed by "
                f"{change.proposed_by.get_username()} at {change.proposed_at:%Y-%m-%d %H:%M}: {change.reason}"
            )

    def _check(self, options: dict[str, Any]) -> None:
        problems = problems_in_force(settings.RESERVEX_ENV)
        for problem in problems:
            self.stdout.write(f"{problem}\n  hint: {problem.hint}")
        if problems:
            raise CommandError(f"{len(problems)} flag problem(s) in force")
        self.stdout.write("No contradictions, no unusable overrides.")

    # --- writes (through the services) -------------------------------------------------------------

    @staticmethod
    def _user(username: str) -> User:
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None

    @staticmethod
    def _parse(flag: Flag, raw: str) -> Any:
        try:
            return flag.parse(raw)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    @staticmethod
    def _flag(key: str) -> Flag:
        if key not in REGISTRY:
            raise CommandError(f"{key!r} is not a feature flag; see `manage.py flags audit`.")
        return REGISTRY[key]

    def _propose(self, options: dict[str, Any]) -> None:
        # Removal is accepted for keys the registry no longer has (cleaning up old rows).
        value = None if options["remove"] else self._parse(self._flag(options["key"]), options["value"])
        cohort = None
        if options.get("cohort"):
            cohort = Cohort.objects.filter(name=options["cohort"]).first()
            if cohort is None:
                raise CommandError(f"There is no cohort {options['cohort']!r}; create it in admin first.")
        change = change_propose(
            proposer=self._user(options["user"]),
            key=options["key"],
            value=value,
            reason=options["reason"],
            restaurant_id=options["restaurant"],
            cohort=cohort,
            percentage=options.get("percentage"),
        )
        self.stdout.write(
            f"Proposed change request {change}. It has no effect until a different person "
            f"approves it: manage.py flags approve {change.pk} --user <their username>"
        )

    def _approve(self, options: dict[str, Any]) -> None:
        change = change_approve(
            change_request=options["id"], approver=self._user(options["user"]), note=options["note"]
        )
        self.stdout.write(f"Approved and applied change request {change}.")

    def _reject(self, options: dict[str, Any]) -> None:
        change = change_reject(
            change_request=options["id"], rejecter=self._user(options["user"]), note=options["note"]
        )
        self.stdout.write(f"Rejected change request {change}.")

    def _kill(self, options: dict[str, Any]) -> None:
        flag = self._flag(options["key"])
        entry = kill_switch_throw(
            user=self._user(options["user"]),
            key=flag.key,
            value=self._parse(flag, options["value"]),
            reason=options["reason"],
            restaurant_id=options["restaurant"],
        )
        self.stdout.write(
            f"Kill switch thrown: {entry} (audit entry #{entry.pk}); on-call is being alerted.\n"
            f"Undo: {undo_hint(entry)}"
        )
