"""The in-app P0 detector: alerts from the database when Prometheus/Alertmanager are not watching.

Two P0 conditions, evaluated by the beat task ``observability.tasks.check_p0_conditions``:

- ``integrity``: check_integrity recorded ``integrity.violation`` events within the look-back
  (any count above 0 is bad; the look-back spans several check_integrity runs so a slow run is
  never mistaken for a recovery);
- ``booking_error_rate``: more than ALERTS_ERROR_RATE_THRESHOLD of the allocation attempts in
  the last check interval ended in ``error``, with at least ALERTS_ERROR_RATE_MIN_ATTEMPTS of them
  (three errors out of four attempts at 4 a.m. do not wake anyone up).

Hysteresis: an alert fires after ALERTS_CONSECUTIVE_CHECKS (2) bad checks in a row and resolves
after as many good ones, so one noisy window neither pages nor resolves. While
ALERTS_MAINTENANCE_UNTIL is in the future, checks still run and streaks still count, but nothing
is sent and nothing starts firing; a condition still bad when the window ends fires on the next check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from observability.alerts import send_alert
from observability.models import AlertState, AllocationAttempt, ObservabilityEvent

logger = logging.getLogger("reservex.alerts")

Transition = Literal["fire", "resolve"] | None


@dataclass(frozen=True)
class ConditionCheck:
    """One evaluation of one condition."""

    key: str
    bad: bool
    value: float
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConditionResult:
    check: ConditionCheck
    transition: Transition
    notified: bool
    state: AlertState


def in_maintenance(now: datetime | None = None) -> bool:
    """Return True while ALERTS_MAINTENANCE_UNTIL lies in the future."""
    until: datetime | None = getattr(settings, "ALERTS_MAINTENANCE_UNTIL", None)
    return until is not None and (now or timezone.now()) < until


def check_integrity_events(*, now: datetime, lookback: timedelta) -> ConditionCheck:
    """Count the violations reported by ``integrity.violation`` events within the look-back.

    An event's context carries ``kind`` and ``count`` (one event per kind), or ``violations``
    as ``{kind: count}``; an event with neither counts as one violation of kind ``unknown``.
    """
    contexts = ObservabilityEvent.objects.filter(
        type="integrity.violation", created_at__gte=now - lookback, created_at__lte=now
    ).values_list("context", flat=True)[:1000]
    kinds: dict[str, int] = {}
    for context in contexts:
        context = context if isinstance(context, dict) else {}
        pairs = context.get("violations")
        if not isinstance(pairs, dict):
            pairs = {str(context.get("kind", "unknown")): context.get("count", 1)}
        for kind, count in pairs.items():
            try:
                kinds[str(kind)] = kinds.get(str(kind), 0) + int(count)
            except (TypeError, ValueError):
                kinds[str(kind)] = kinds.get(str(kind), 0) + 1
    total = sum(kinds.values())
    summary = (
        "No integrity violations reported."
        if not total
        else "check_integrity reported " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    )
    return ConditionCheck(
        key="integrity",
        bad=total > 0,
        value=float(total),
        summary=summary,
        detail={"violations": kinds, "lookback_seconds": int(lookback.total_seconds())},
    )


def check_booking_error_rate(*, now: datetime, window: timedelta) -> ConditionCheck:
    """Return the share of allocation attempts that ended in ``error`` within the window."""
    threshold = float(getattr(settings, "ALERTS_ERROR_RATE_THRESHOLD", 0.05))
    min_attempts = int(getattr(settings, "ALERTS_ERROR_RATE_MIN_ATTEMPTS", 20))
    totals = AllocationAttempt.objects.filter(created_at__gte=now - window, created_at__lte=now).aggregate(
        attempts=Count("id"), errors=Count("id", filter=Q(outcome=AllocationAttempt.Outcome.ERROR))
    )
    attempts, errors = int(totals["attempts"]), int(totals["errors"])
    rate = errors / attempts if attempts else 0.0
    bad = attempts >= min_attempts and rate > threshold
    return ConditionCheck(
        key="booking_error_rate",
        bad=bad,
        value=rate,
        summary=(
            f"{errors} of {attempts} allocation attempts failed with an error in the last "
            f"{int(window.total_seconds())} s ({rate:.1%}; threshold {threshold:.0%}, "
            f"at least {min_attempts} attempts)."
        ),
        detail={"attempts": attempts, "errors": errors, "threshold": threshold},
    )


def _advance(check: ConditionCheck, *, now: datetime, maintenance: bool) -> tuple[AlertState, Transition]:
    """Record one check in the condition's state row; return the state and what changed."""
    needed = int(getattr(settings, "ALERTS_CONSECUTIVE_CHECKS", 2))
    with transaction.atomic():
        AlertState.objects.get_or_create(key=check.key)
        # Locked: two beat runs overlapping (a slow one and the next) must not both fire.
        state = AlertState.objects.select_for_update().get(key=check.key)
        if check.bad:
            state.bad_streak += 1
            state.good_streak = 0
        else:
            state.good_streak += 1
            state.bad_streak = 0
        transition: Transition = None
        if check.bad and not state.firing and state.bad_streak >= needed and not maintenance:
            state.firing, state.fired_at, transition = True, now, "fire"
        elif not check.bad and state.firing and state.good_streak >= needed:
            state.firing, state.resolved_at, transition = False, now, "resolve"
        state.last_value = check.value
        state.last_detail = check.detail
        state.last_checked_at = now
        state.save()
    return state, transition


TITLES = {
    "integrity": "Integrity violation: ReserveX may have overbooked",
    "booking_error_rate": "Booking error rate above threshold",
}
RUNBOOKS = {
    "integrity": "docs/runbooks/integrity-violation.md",
    "booking_error_rate": "docs/runbooks/booking-error-rate.md",
}


def evaluate_p0_conditions(now: datetime | None = None) -> list[ConditionResult]:
    """Evaluate every P0 condition once, advance its hysteresis and send what fired or resolved."""
    now = now or timezone.now()
    interval = timedelta(seconds=int(getattr(settings, "ALERTS_CHECK_INTERVAL_SECONDS", 300)))
    lookback = timedelta(seconds=int(getattr(settings, "ALERTS_INTEGRITY_LOOKBACK_SECONDS", 900)))
    maintenance = in_maintenance(now)
    checks = [
        check_integrity_events(now=now, lookback=lookback),
        check_booking_error_rate(now=now, window=interval),
    ]
    results = []
    for check in checks:
        state, transition = _advance(check, now=now, maintenance=maintenance)
        notified = False
        if transition and not maintenance:
            title = TITLES.get(check.key, check.key)
            if transition == "fire":
                notified = send_alert(
                    title, f"{check.summary}\nRunbook: {RUNBOOKS.get(check.key, '')}", severity="P0"
                )
            else:
                notified = send_alert(f"Resolved: {title}", check.summary, severity="resolved")
        if check.bad or transition:
            logger.warning("P0 condition %s: %s (%s)", check.key, check.summary, transition or "no change")
        results.append(ConditionResult(check=check, transition=transition, notified=notified, state=state))
    return results
