"""Allocation attempts: what one try at seating a booking did, stored and counted."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import transaction

from allocator.planner import (
    Decision,
)
from bookings.models import Booking
from observability import metrics
from observability.events import build_event, record_events
from observability.models import AllocationAttempt, ObservabilityEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one allocation attempt went (also stored as an AllocationAttempt row)."""

    outcome: str  # AllocationAttempt.Outcome, or "already_done" when the booking was not pending
    attempt: int
    total_ms: float
    planner_ms: float | None = None
    tables: tuple[str, ...] = ()
    seat_waste: int | None = None
    failure_reason: str = ""

    @property
    def assigned(self) -> bool:
        return self.outcome in (AllocationAttempt.Outcome.ASSIGNED, "already_done")


def attempt_result(outcome: str, attempt: int, started: float, decision: Decision | None) -> AttemptResult:
    plan = decision.plan if decision else None
    failure = ""
    if outcome == AllocationAttempt.Outcome.SKIPPED and decision is not None:
        failure = decision.failure_reason or "no_plan"
    elif outcome == AllocationAttempt.Outcome.CONFLICT:
        failure = "conflict"
    return AttemptResult(
        outcome=outcome,
        attempt=attempt,
        total_ms=(time.perf_counter() - started) * 1000,
        planner_ms=decision.planner_ms if decision else None,
        tables=plan.labels if plan and outcome == AllocationAttempt.Outcome.ASSIGNED else (),
        seat_waste=plan.seat_waste if plan and outcome == AllocationAttempt.Outcome.ASSIGNED else None,
        failure_reason=failure,
    )


def record_attempt(booking: Booking, result: AttemptResult, mode: str) -> None:
    """Store the attempt and its event in one commit (after the attempt's own transaction)."""
    if result.outcome == "already_done":
        return
    with transaction.atomic():
        write_attempt(booking, result, mode)
    count_attempt(result, mode)


def count_attempt(result: AttemptResult, mode: str) -> None:
    metrics.ALLOCATION_ATTEMPTS.labels(mode=mode, outcome=result.outcome).inc()
    if result.seat_waste is not None:
        metrics.SEAT_WASTE.observe(result.seat_waste)


def attempt_row(booking: Booking, result: AttemptResult, mode: str) -> AllocationAttempt:
    return AllocationAttempt(
        restaurant_id=booking.restaurant_id,
        booking_id=booking.pk,
        mode=mode,
        attempt=result.attempt,
        outcome=result.outcome,
        planner_ms=result.planner_ms,
        total_ms=result.total_ms,
        tables=list(result.tables),
        seat_waste=result.seat_waste,
        failure_reason=result.failure_reason,
    )


def attempt_event(booking: Booking, result: AttemptResult, mode: str) -> ObservabilityEvent:
    return build_event(
        f"allocation.{result.outcome}",
        restaurant_id=booking.restaurant_id,
        booking_id=booking.pk,
        duration_ms=result.total_ms,
        mode=mode,
        attempt=result.attempt,
        tables=list(result.tables),
        seat_waste=result.seat_waste,
        failure_reason=result.failure_reason,
        planner_ms=result.planner_ms,
    )


def write_attempt(booking: Booking, result: AttemptResult, mode: str) -> None:
    attempt_row(booking, result, mode).save(force_insert=True)
    record_events([attempt_event(booking, result, mode)])
