"""Every write to the flags in force: two-person change requests and the emergency kill switch.

No other code writes FlagOverride rows. A change is proposed by one staff user and applied only
when a different one approves it; the kill switch (only for registry flags with kill_switch=True)
applies at once, without a second person, and is audited and alerted instead. Every applied change
writes an AuditEntry and a ``flags.changed`` / ``flags.kill_switch`` event in the same transaction.
"""

from __future__ import annotations

import logging
from functools import partial
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
    FlagOverride,
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


def _refuse_new_contradictions(
    state: OverrideState, *, key: str, restaurant_id: int | None, value: Any, when: str
) -> None:
    """Raise if the change introduces a contradiction; ones already in force do not block a fix."""
    environment = settings.RESERVEX_ENV
    before = {str(problem) for problem in state.contradictions(environment)}
    after = state.with_change(key, restaurant_id, value).contradictions(environment)
    introduced = [problem for problem in after if str(problem) not in before]
    if introduced:
        raise ContradictionRefused(introduced, when=when)


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


def change_check(*, key: str, value: Any, restaurant_id: int | None = None) -> None:
    """Raise FlagError if proposing this change would be refused (used by forms before proposing)."""
    restaurant_id = _scope(restaurant_id)
    where = scope_label(restaurant_id)
    state = override_state()
    if value is None:
        # Removal works for any row, including one the registry no longer knows or would refuse,
        # so rows written behind the services' back can be cleaned up the audited way.
        if not FlagOverride.objects.filter(key=key, restaurant_id=restaurant_id).exists():
            _flag(key)
            raise NothingToChange(f"{key} has no {where} override to remove.")
    else:
        value = _validated(_flag(key), value)
        if _same(state.override(key, restaurant_id), value):
            raise NothingToChange(f"{key} is already overridden to {format_value(value)} ({where}).")
    _refuse_new_contradictions(state, key=key, restaurant_id=restaurant_id, value=value, when="proposal")


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
) -> AuditEntry:
    """Write the override (or remove it), its audit entry and its event; the caller holds the lock."""
    existing = FlagOverride.objects.filter(key=key, restaurant_id=restaurant_id).first()
    old_value = existing.value if existing is not None else None
    entry = AuditEntry.objects.create(
        kind=kind,
        key=key,
        restaurant_id=restaurant_id,
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
        existing.save(update_fields=["value", "last_change", "updated_at"])
    else:
        FlagOverride.objects.create(key=key, restaurant_id=restaurant_id, value=value, last_change=entry)
    record_event(
        "flags.kill_switch" if kind == AuditEntry.Kind.KILL_SWITCH else "flags.changed",
        restaurant_id=restaurant_id,
        flag_key=key,
        scope="global" if restaurant_id is None else "restaurant",
        old_value=old_value,
        new_value=value,
        proposer_id=proposed_by.pk,
        approver_id=approved_by.pk if approved_by is not None else None,
        reason=reason,
    )
    # Now, and again after the commit: a reader in between would cache the old value again.
    store.invalidate(restaurant_id)
    transaction.on_commit(partial(store.invalidate, restaurant_id))
    logger.info("flag %s (%s): %s -> %s [%s]", key, scope_label(restaurant_id), old_value, value, kind)
    return entry


# --- the services ----------------------------------------------------------------------------------


def change_propose(
    *, proposer: User, key: str, value: Any, reason: str, restaurant_id: int | None = None
) -> ChangeRequest:
    """Record a proposed change (value None removes the override); it has no effect until approved."""
    _require(proposer, PERM_PROPOSE, "propose flag changes")
    reason = _reason(reason)
    change_check(key=key, value=value, restaurant_id=restaurant_id)
    change_request = ChangeRequest.objects.create(
        key=key, restaurant_id=restaurant_id, new_value=value, reason=reason, proposed_by=proposer
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
        # Re-validated: the registry may have changed since the proposal.
        value = None if locked.new_value is None else _validated(_flag(locked.key), locked.new_value)
        _refuse_new_contradictions(
            override_state(), key=locked.key, restaurant_id=locked.restaurant_id, value=value, when="approval"
        )
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
        )
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
        _refuse_new_contradictions(
            override_state(), key=key, restaurant_id=restaurant_id, value=value, when="kill switch"
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
