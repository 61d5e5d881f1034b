"""Every write to the flags in force: two-person change requests, rollout plans, the kill switches.

No other code writes FlagOverride or FlagTarget rows. A change has one scope: global, one
restaurant, one cohort, or a percentage of restaurants (flags.targeting). A change is proposed by
one staff user and applied only when a different one approves it; the kill switch (only for
registry flags with kill_switch=True) and a rollout plan's pull apply at once, without a second
person, and are audited and alerted instead. Every applied change writes an AuditEntry and a
``flags.changed`` / ``flags.kill_switch`` event in the same transaction.
"""

from __future__ import annotations

import logging
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from flags import store
from flags.models import (
    PERM_APPROVE,
    PERM_KILL_SWITCH,
    PERM_PROPOSE,
    AuditEntry,
    ChangeRequest,
    Cohort,
    CohortMember,
    FlagOverride,
    FlagTarget,
    RolloutPlan,
    scope_label,
)
from flags.registry import REGISTRY, Flag, format_value
from flags.selectors import OverrideState, Problem, override_state
from observability.events import record_event

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("reservex.flags")

# One advisory lock serialises every flag write, so two approvals cannot each pass the
# contradiction check and together create a contradiction. Flag writes are rare; contention is not.
_WRITE_LOCK_KEY = 0x7278_666C_6167_7301  # "rxflags\x01"
_WRITE_LOCK_TIMEOUT = "5s"
KILL_SWITCH_ALERT_SEVERITY = "P1"


class FlagError(Exception):
    """Base of every refusal by the flag services; ``str()`` is a message for people."""


class FlagUnknown(FlagError):
    pass


class FlagValueInvalid(FlagError):
    pass


class FlagReasonMissing(FlagError):
    pass


class FlagPermissionDenied(FlagError):
    pass


class SelfApprovalRefused(FlagError):
    pass


class ChangeRequestNotPending(FlagError):
    pass


class NothingToChange(FlagError):
    pass


class NotAKillSwitch(FlagError):
    pass


class FlagWriteBusy(FlagError):
    pass


class RolloutRefused(FlagError):
    pass


class ContradictionRefused(FlagError):
    def __init__(self, problems: list[Problem], *, when: str) -> None:
        self.problems = problems
        details = " ".join(f"{problem} {problem.hint}" for problem in problems)
        super().__init__(f"Refused at {when}: this change would make flags contradict. {details}")


# --- checks shared by every path -------------------------------------------------------------------


def _flag(key: str) -> Flag:
    try:
        return REGISTRY[key]
    except KeyError:
        raise FlagUnknown(f"{key!r} is not a feature flag; see `manage.py flags audit`.") from None


def _validated(flag: Flag, value: Any) -> Any:
    try:
        return flag.validate(value)
    except ValueError as exc:
        raise FlagValueInvalid(str(exc)) from None


def _scope(restaurant_id: int | None) -> int | None:
    if restaurant_id is None:
        return None
    if isinstance(restaurant_id, bool) or not isinstance(restaurant_id, int) or restaurant_id <= 0:
        raise FlagValueInvalid(f"restaurant id must be a positive integer, not {restaurant_id!r}")
    return restaurant_id


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise FlagReasonMissing("Give a reason: it is kept in the audit trail.")
    return text


def _require(user: User, permission: str, doing: str) -> None:
    if not (user.is_active and user.is_staff and user.has_perm(permission)):
        raise FlagPermissionDenied(
            f"{user.get_username()} may not {doing} (needs the {permission} permission)."
        )


def _same(a: Any, b: Any) -> bool:
    # type() too: True == 1 in Python, but a bool flag never equals an int override.
    return type(a) is type(b) and a == b


def _refuse_new_contradictions(before: OverrideState, after: OverrideState, *, when: str) -> None:
    """Raise if the change introduces a contradiction; ones already in force do not block a fix."""
    environment = settings.RESERVEX_ENV
    known = {str(problem) for problem in before.contradictions(environment)}
    introduced = [problem for problem in after.contradictions(environment) if str(problem) not in known]
    if introduced:
        raise ContradictionRefused(introduced, when=when)


def _percentage(percentage: int | None) -> int | None:
    if percentage is None:
        return None
    if isinstance(percentage, bool) or not isinstance(percentage, int) or not 0 <= percentage <= 100:
        raise FlagValueInvalid(f"a percentage of restaurants is 0 to 100, not {percentage!r}")
    return percentage


def _targets(key: str, cohort: Cohort | None, percentage: int | None) -> Any:
    """Return the FlagTarget rows of this key in this scope (a cohort, or the percentage)."""
    if cohort is not None:
        return FlagTarget.objects.filter(key=key, cohort=cohort)
    return FlagTarget.objects.filter(key=key, percentage__isnull=False)


def _lock_flag_writes() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("flag writes must run inside a transaction")
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{_WRITE_LOCK_TIMEOUT}'")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK_KEY])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            raise FlagWriteBusy("Another flag change is being applied; try again in a moment.") from None
        raise


def change_check(
    *,
    key: str,
    value: Any,
    restaurant_id: int | None = None,
    cohort: Cohort | None = None,
    percentage: int | None = None,
    allow_same: bool = False,
) -> None:
    """Raise FlagError if proposing this change would be refused (used by forms before proposing).

    ``allow_same`` accepts a value already in force (a rollout step that confirms the state).
    """
    restaurant_id = _scope(restaurant_id)
    percentage = _percentage(percentage)
    if sum(scope is not None for scope in (restaurant_id, cohort, percentage)) > 1:
        raise FlagValueInvalid("A change has one scope: a restaurant, a cohort or a percentage, not several.")
    cohort_name = cohort.name if cohort is not None else None
    where = scope_label(restaurant_id, cohort_name, percentage)
    targeted = cohort is not None or percentage is not None
    state = override_state()
    if value is None:
        # Removal works for any row, including one the registry no longer knows or would refuse,
        # so rows written behind the services' back can be cleaned up the audited way.
        rows = (
            _targets(key, cohort, percentage)
            if targeted
            else FlagOverride.objects.filter(key=key, restaurant_id=restaurant_id)
        )
        if not rows.exists():
            _flag(key)
            raise NothingToChange(f"{key} has no {where} {'target' if targeted else 'override'} to remove.")
    else:
        value = _validated(_flag(key), value)
        if percentage is not None:
            current = state.targets.percentages.get(key)
            unchanged = current is not None and current[0] == percentage and _same(current[1], value)
        elif cohort is not None:
            unchanged = _same(state.target(key, cohort_name=cohort_name), value)
        else:
            unchanged = _same(state.override(key, restaurant_id), value)
        if unchanged and not allow_same:
            raise NothingToChange(f"{key} is already {format_value(value)} ({where}).")
    after = state.with_change(key, restaurant_id, value, cohort_name=cohort_name, percentage=percentage)
    _refuse_new_contradictions(state, after, when="proposal")


def _apply(
    *,
    kind: AuditEntry.Kind,
    key: str,
    restaurant_id: int | None,
    value: Any,
    reason: str,
    proposed_by: User,
    proposed_at: Any,
    approved_by: User | None,
    change_request: ChangeRequest | None,
    cohort: Cohort | None = None,
    percentage: int | None = None,
    plan: RolloutPlan | None = None,
) -> AuditEntry:
    """Write the override or target (or remove it), its audit entry and its event.

    The caller holds the flag write lock.
    """
    targeted = cohort is not None or percentage is not None
    existing: FlagOverride | FlagTarget | None = (
        _targets(key, cohort, percentage).first()
        if targeted
        else FlagOverride.objects.filter(key=key, restaurant_id=restaurant_id).first()
    )
    old_value = existing.value if existing is not None else None
    old_percentage = existing.percentage if isinstance(existing, FlagTarget) else None
    entry = AuditEntry.objects.create(
        kind=kind,
        key=key,
        restaurant_id=restaurant_id,
        cohort=cohort,
        percentage=percentage if value is not None else None,
        old_percentage=old_percentage,
        plan=plan,
        old_value=old_value,
        new_value=value,
        reason=reason,
        proposed_by=proposed_by,
        proposed_at=proposed_at,
        approved_by=approved_by,
        change_request=change_request,
    )
    if value is None:
        if existing is not None:
            existing.delete()
    elif existing is not None:
        existing.value = value
        existing.last_change = entry
        fields = ["value", "last_change", "updated_at"]
        if isinstance(existing, FlagTarget) and percentage is not None:
            existing.percentage = percentage
            fields.append("percentage")
        existing.save(update_fields=fields)
    elif targeted:
        FlagTarget.objects.create(
            key=key, cohort=cohort, percentage=percentage, value=value, last_change=entry
        )
    else:
        FlagOverride.objects.create(key=key, restaurant_id=restaurant_id, value=value, last_change=entry)
    where = scope_label(restaurant_id, cohort.name if cohort is not None else None, percentage)
    record_event(
        "flags.kill_switch" if kind == AuditEntry.Kind.KILL_SWITCH else "flags.changed",
        restaurant_id=restaurant_id,
        flag_key=key,
        scope=where if targeted else ("global" if restaurant_id is None else "restaurant"),
        old_value=old_value if old_percentage is None else f"{format_value(old_value)} @ {old_percentage} %",
        new_value=value if percentage is None or value is None else f"{format_value(value)} @ {percentage} %",
        proposer_id=proposed_by.pk,
        approver_id=approved_by.pk if approved_by is not None else None,
        reason=reason,
    )
    # Targets live in the global cache entry. Now, and again after the commit: a reader in
    # between would cache the old value again.
    scope = None if targeted else restaurant_id
    store.invalidate(scope)
    transaction.on_commit(partial(store.invalidate, scope))
    logger.info("flag %s (%s): %s -> %s [%s]", key, where, old_value, value, kind)
    return entry


# --- the services ----------------------------------------------------------------------------------


def change_propose(
    *,
    proposer: User,
    key: str,
    value: Any,
    reason: str,
    restaurant_id: int | None = None,
    cohort: Cohort | None = None,
    percentage: int | None = None,
) -> ChangeRequest:
    """Record a proposed change (value None removes the override or target); no effect until approved."""
    _require(proposer, PERM_PROPOSE, "propose flag changes")
    reason = _reason(reason)
    change_check(key=key, value=value, restaurant_id=restaurant_id, cohort=cohort, percentage=percentage)
    change_request = ChangeRequest.objects.create(
        key=key,
        restaurant_id=restaurant_id,
        cohort=cohort,
        percentage=percentage,
        new_value=value,
        reason=reason,
        proposed_by=proposer,
    )
    logger.info("flag change #%s proposed by %s", change_request.pk, proposer.get_username())
    return change_request


def _pending_for_decision(change_request: ChangeRequest | int, decider: User, verb: str) -> ChangeRequest:
    pk = change_request.pk if isinstance(change_request, ChangeRequest) else change_request
    try:
        locked = ChangeRequest.objects.select_for_update().get(pk=pk)
    except ChangeRequest.DoesNotExist:
        raise FlagError(f"There is no change request #{pk}.") from None
    if locked.status != ChangeRequest.Status.PENDING:
        raise ChangeRequestNotPending(
            f"Change request #{pk} is already {locked.get_status_display().lower()}."
        )
    if locked.proposed_by_id == decider.pk:
        raise SelfApprovalRefused(
            f"You proposed change request #{pk}; a different person must {verb} it (two-person rule)."
        )
    _require(decider, PERM_APPROVE, f"{verb} flag changes")
    return locked


def change_approve(*, change_request: ChangeRequest | int, approver: User, note: str = "") -> ChangeRequest:
    """Approve another person's change and apply it, re-checking it against the flags in force now."""
    with transaction.atomic(durable=True):
        _lock_flag_writes()
        locked = _pending_for_decision(change_request, approver, "approve")
        plan = _plan_step_check(locked)
        # Re-validated: the registry may have changed since the proposal.
        value = None if locked.new_value is None else _validated(_flag(locked.key), locked.new_value)
        state = override_state()
        cohort_name = locked.cohort.name if locked.cohort is not None else None
        after = state.with_change(
            locked.key, locked.restaurant_id, value, cohort_name=cohort_name, percentage=locked.percentage
        )
        _refuse_new_contradictions(state, after, when="approval")
        _apply(
            kind=AuditEntry.Kind.CHANGE,
            key=locked.key,
            restaurant_id=locked.restaurant_id,
            value=value,
            reason=locked.reason,
            proposed_by=locked.proposed_by,
            proposed_at=locked.proposed_at,
            approved_by=approver,
            change_request=locked,
            cohort=locked.cohort,
            percentage=locked.percentage,
            plan=plan,
        )
        if plan is not None and locked.plan_step == plan.step_count() - 1:
            plan.status = RolloutPlan.Status.COMPLETED
            plan.save(update_fields=["status"])
        locked.status = ChangeRequest.Status.APPROVED
        locked.decided_by = approver
        locked.decided_at = timezone.now()
        locked.decision_note = note.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return locked


def change_reject(*, change_request: ChangeRequest | int, rejecter: User, note: str = "") -> ChangeRequest:
    """Reject another person's change; nothing is applied."""
    with transaction.atomic(durable=True):
        locked = _pending_for_decision(change_request, rejecter, "reject")
        locked.status = ChangeRequest.Status.REJECTED
        locked.decided_by = rejecter
        locked.decided_at = timezone.now()
        locked.decision_note = note.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    logger.info("flag change #%s rejected by %s", locked.pk, rejecter.get_username())
    return locked


def kill_switch_throw(
    *, user: User, key: str, value: Any, reason: str, restaurant_id: int | None = None
) -> AuditEntry:
    """Apply an emergency value to a kill-switch flag at once (no second person); audit and alert.

    Undo it with an ordinary change request (propose removing the override).
    """
    flag = _flag(key)
    if not flag.kill_switch:
        raise NotAKillSwitch(
            f"{key} is not a kill switch; propose the change and have a different person approve it."
        )
    _require(user, PERM_KILL_SWITCH, "throw kill switches")
    if value is None:
        raise FlagValueInvalid("A kill switch sets a value; remove an override through a change request.")
    value = _validated(flag, value)
    restaurant_id = _scope(restaurant_id)
    reason = _reason(reason)
    with transaction.atomic(durable=True):
        _lock_flag_writes()
        state = override_state()
        after = state.with_change(key, restaurant_id, value)
        # A global switch must reach every restaurant: cohort and percentage targets rank above the
        # global value, so they go too (each audited), and a rollout of this flag is pulled.
        targets = (
            list(FlagTarget.objects.filter(key=key).select_related("cohort")) if restaurant_id is None else []
        )
        for target in targets:
            after = after.with_change(
                key,
                None,
                None,
                cohort_name=target.cohort.name if target.cohort else None,
                percentage=target.percentage,
            )
        _refuse_new_contradictions(state, after, when="kill switch")
        now = timezone.now()
        for target in targets:
            _apply(
                kind=AuditEntry.Kind.KILL_SWITCH,
                key=key,
                restaurant_id=None,
                value=None,
                reason=reason,
                proposed_by=user,
                proposed_at=now,
                approved_by=None,
                change_request=None,
                cohort=target.cohort,
                percentage=target.percentage,
            )
        if restaurant_id is None:
            RolloutPlan.objects.filter(key=key).exclude(status=RolloutPlan.Status.PULLED).update(
                status=RolloutPlan.Status.PULLED, pulled_by=user, pulled_at=now, pulled_reason=reason
            )
        entry = _apply(
            kind=AuditEntry.Kind.KILL_SWITCH,
            key=key,
            restaurant_id=restaurant_id,
            value=value,
            reason=reason,
            proposed_by=user,
            proposed_at=timezone.now(),
            approved_by=None,
            change_request=None,
        )
        # The alert is network I/O: it goes out once the change is committed, never inside it.
        transaction.on_commit(partial(_alert_kill_switch, entry.pk))
    return entry


# --- cohorts --------------------------------------------------------------------------------------


def cohort_members_set(*, cohort: Cohort, restaurant_ids: list[int] | set[int]) -> tuple[set[int], set[int]]:
    """Make the cohort's members exactly these restaurants; return (added, removed).

    Membership is not a two-person change (a cohort's *target* is); Django admin's history records
    who edited a cohort. The cache entries of the restaurants that joined or left are dropped.
    """
    wanted: set[int] = set()
    for restaurant_id in restaurant_ids:
        checked = _scope(restaurant_id)
        if checked is None:
            raise FlagValueInvalid("A cohort member is a restaurant id.")
        wanted.add(checked)
    with transaction.atomic():
        current = set(CohortMember.objects.filter(cohort=cohort).values_list("restaurant_id", flat=True))
        added, removed = wanted - current, current - wanted
        CohortMember.objects.filter(cohort=cohort, restaurant_id__in=removed).delete()
        CohortMember.objects.bulk_create(
            [CohortMember(cohort=cohort, restaurant_id=restaurant_id) for restaurant_id in sorted(added)]
        )
        for restaurant_id in added | removed:
            store.invalidate(restaurant_id)
    logger.info("cohort %s: +%s -%s", cohort.name, sorted(added), sorted(removed))
    return added, removed


# --- rollout plans --------------------------------------------------------------------------------


def _plan_step_check(change_request: ChangeRequest) -> RolloutPlan | None:
    """Return the locked plan of a rollout step's request, refusing a step out of turn."""
    if change_request.plan_id is None:
        return None
    plan = RolloutPlan.objects.select_for_update().get(pk=change_request.plan_id)
    if plan.status != RolloutPlan.Status.ACTIVE:
        raise RolloutRefused(
            f"The rollout plan of change request #{change_request.pk} is "
            f"{plan.get_status_display().lower()}; its steps can no longer be applied."
        )
    if change_request.plan_step != rollout_next_step(plan):
        raise RolloutRefused(f"Change request #{change_request.pk} is not the plan's next step.")
    return plan


def rollout_next_step(plan: RolloutPlan) -> int | None:
    """Return the index of the plan's next step, or None when every step is applied."""
    applied = plan.change_requests.filter(status=ChangeRequest.Status.APPROVED).count()
    return applied if applied < plan.step_count() else None


def rollout_plan_create(
    *,
    user: User,
    key: str,
    shadow_value: Any,
    target_value: Any,
    reason: str,
    percentages: list[int] | tuple[int, ...] = (10, 50, 100),
) -> RolloutPlan:
    """Plan a staged rollout of ``target_value`` (shadow_value everywhere first); nothing changes yet."""
    _require(user, PERM_PROPOSE, "plan rollouts")
    flag = _flag(key)
    shadow_value = _validated(flag, shadow_value)
    target_value = _validated(flag, target_value)
    if _same(shadow_value, target_value):
        raise FlagValueInvalid("The rolled-out value must differ from the shadow value.")
    steps = [int(_percentage(step) or 0) for step in percentages]
    if not steps or steps[-1] != 100 or any(a >= b for a, b in pairwise(steps)):
        raise FlagValueInvalid("Rollout percentages rise step by step and end at 100, e.g. 10, 50, 100.")
    if any(step == 0 for step in steps):
        raise FlagValueInvalid("A rollout step covers at least 1 % of restaurants.")
    reason = _reason(reason)
    if RolloutPlan.objects.filter(key=key, status=RolloutPlan.Status.ACTIVE).exists():
        raise RolloutRefused(f"{key} already has an active rollout plan; finish or pull it first.")
    return RolloutPlan.objects.create(
        key=key,
        shadow_value=shadow_value,
        target_value=target_value,
        percentages=steps,
        reason=reason,
        created_by=user,
    )


def rollout_step_propose(*, plan: RolloutPlan | int, proposer: User, reason: str = "") -> ChangeRequest:
    """Propose the plan's next step as a change request; a different person approves it."""
    _require(proposer, PERM_PROPOSE, "propose rollout steps")
    with transaction.atomic(durable=True):
        locked = RolloutPlan.objects.select_for_update().get(
            pk=plan.pk if isinstance(plan, RolloutPlan) else plan
        )
        if locked.status != RolloutPlan.Status.ACTIVE:
            raise RolloutRefused(
                f"The plan is {locked.get_status_display().lower()}; it takes no more steps."
            )
        if locked.change_requests.filter(status=ChangeRequest.Status.PENDING).exists():
            raise RolloutRefused("A step of this plan is already waiting for approval.")
        step = rollout_next_step(locked)
        if step is None:
            raise RolloutRefused("Every step of this plan is applied.")
        percentage = None if step == 0 else locked.step_percentage(step)
        value = locked.shadow_value if step == 0 else locked.target_value
        # Step 0 may confirm a value already in force: it still marks when the shadow period began.
        change_check(key=locked.key, value=value, percentage=percentage, allow_same=True)
        text = (reason or "").strip() or f"Rollout step {step}: {locked.step_label(step)}."
        change_request = ChangeRequest.objects.create(
            key=locked.key,
            percentage=percentage,
            new_value=value,
            reason=text,
            proposed_by=proposer,
            plan=locked,
            plan_step=step,
        )
    logger.info("rollout step %s of plan #%s proposed by %s", step, locked.pk, proposer.get_username())
    return change_request


def rollout_pull(*, plan: RolloutPlan | int, user: User, reason: str) -> list[AuditEntry]:
    """The plan's kill switch: every restaurant back to the shadow value at once, audited and alerted.

    Removes the flag's percentage and cohort targets and the restaurant overrides that differ from
    the shadow value, and sets the global override to it, each change its own kill-switch audit
    entry; marks the plan pulled. No second person: like kill_switch_throw, it is for emergencies.
    """
    _require(user, PERM_KILL_SWITCH, "pull rollouts")
    reason = _reason(reason)
    with transaction.atomic(durable=True):
        _lock_flag_writes()
        locked = RolloutPlan.objects.select_for_update().get(
            pk=plan.pk if isinstance(plan, RolloutPlan) else plan
        )
        if locked.status == RolloutPlan.Status.PULLED:
            raise RolloutRefused("This rollout was pulled already.")
        key, safe = locked.key, locked.shadow_value
        changes: list[dict[str, Any]] = [
            {"cohort": target.cohort, "percentage": target.percentage, "restaurant_id": None, "value": None}
            for target in FlagTarget.objects.filter(key=key).select_related("cohort")
        ]
        changes += [
            {"cohort": None, "percentage": None, "restaurant_id": row.restaurant_id, "value": None}
            for row in FlagOverride.objects.filter(key=key, restaurant_id__isnull=False)
            if not _same(row.value, safe)
        ]
        global_row = FlagOverride.objects.filter(key=key, restaurant_id__isnull=True).first()
        if global_row is None or not _same(global_row.value, safe):
            changes.append({"cohort": None, "percentage": None, "restaurant_id": None, "value": safe})
        before = override_state()
        after = before
        for change in changes:
            after = after.with_change(
                key,
                change["restaurant_id"],
                change["value"],
                cohort_name=change["cohort"].name if change["cohort"] is not None else None,
                percentage=change["percentage"],
            )
        _refuse_new_contradictions(before, after, when="rollout pull")
        now = timezone.now()
        entries = [
            _apply(
                kind=AuditEntry.Kind.KILL_SWITCH,
                key=key,
                restaurant_id=change["restaurant_id"],
                value=change["value"],
                reason=f"Rollout plan #{locked.pk} pulled: {reason}",
                proposed_by=user,
                proposed_at=now,
                approved_by=None,
                change_request=None,
                cohort=change["cohort"],
                percentage=change["percentage"],
                plan=locked,
            )
            for change in changes
        ]
        locked.status = RolloutPlan.Status.PULLED
        locked.pulled_by = user
        locked.pulled_at = now
        locked.pulled_reason = reason
        locked.save(update_fields=["status", "pulled_by", "pulled_at", "pulled_reason"])
        if entries:
            transaction.on_commit(partial(_alert_kill_switch, entries[-1].pk))
    return entries


def undo_hint(entry: AuditEntry) -> str:
    """Return the shell command that proposes putting back what a kill switch replaced."""
    restore = "--remove" if entry.old_value is None else f"--value {format_value(entry.old_value)}"
    scope = "" if entry.restaurant_id is None else f" --restaurant {entry.restaurant_id}"
    return (
        f"manage.py flags propose {entry.key} {restore}{scope} --reason '...' --user <you>, "
        "then a different person approves it (docs/feature-flags.md)."
    )


def _alert_kill_switch(entry_id: int) -> None:
    """Tell the on-call people a kill switch was thrown; never fail the change that was made."""
    entry = AuditEntry.objects.select_related("proposed_by").get(pk=entry_id)
    where = scope_label(entry.restaurant_id)
    title = f"Kill switch thrown: {entry.key} = {format_value(entry.new_value)} ({where})"
    text = (
        f"{entry.proposed_by.get_username()} set {entry.key} from {format_value(entry.old_value)} to "
        f"{format_value(entry.new_value)} ({where}) without a second approver at "
        f"{entry.applied_at:%Y-%m-%d %H:%M:%S %Z} (audit entry #{entry.pk}). Reason: {entry.reason}\n"
        f"Undo: {undo_hint(entry)}"
    )
    try:
        from observability.alerts import send_alert

        # P1: someone bypassed the two-person rule on purpose; on-call should look, not be paged as P0.
        send_alert(title, text, severity=KILL_SWITCH_ALERT_SEVERITY)  # logs and counts its own failures
    except Exception:  # the switch is thrown already; a lost alert must not undo it
        logger.exception("kill switch alert failed: %s", title)
