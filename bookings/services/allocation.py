"""Allocation of a pending booking (inline retries and the background job); rejection."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from allocator.planner import (
    Decision,
)
from bookings.errors import (
    BookingNotFound,
)
from bookings.locking import is_retryable
from bookings.models import Booking
from bookings.services.attempts import AttemptResult, attempt_result, record_attempt
from bookings.services.planning import assign_windows, emit_on_commit, plan_on_fresh_read
from bookings.snapshots import (
    planner_settings,
)
from observability import metrics
from observability.models import AllocationAttempt

logger = logging.getLogger(__name__)


def confirm_booking(booking: Booking, decision: Decision, now: datetime) -> None:
    booking.status = Booking.Status.CONFIRMED
    booking.confirmed_at = now
    booking.allocation_reason = decision.as_reason()
    Booking.objects.filter(pk=booking.pk, status=Booking.Status.PENDING).update(
        status=Booking.Status.CONFIRMED, confirmed_at=now, allocation_reason=booking.allocation_reason
    )


def try_assign(booking: Booking, decision: Decision, *, now: datetime) -> str:
    """Write the plan's windows and confirm; return an outcome. Runs inside the caller's transaction."""
    if decision.plan is None:
        return AllocationAttempt.Outcome.SKIPPED
    if not assign_windows(booking, decision.plan.table_ids):
        return AllocationAttempt.Outcome.CONFLICT
    confirm_booking(booking, decision, now)
    return AllocationAttempt.Outcome.ASSIGNED


def booking_allocate(
    *, booking_id: int, mode: str, attempt: int, now: datetime | None = None
) -> AttemptResult:
    """Make one allocation attempt for a pending booking; safe to repeat (a no-op once assigned)."""
    now = now or timezone.now()
    started = time.perf_counter()
    decision: Decision | None = None
    try:
        with transaction.atomic(durable=True):
            # Lock the booking row only (not the restaurant), and without blocking the foreign-key
            # checks of other transactions that reference it.
            booking = (
                Booking.objects.select_for_update(of=("self",), no_key=True)
                .select_related("restaurant")
                .filter(pk=booking_id)
                .first()
            )
            if booking is None:
                raise BookingNotFound("No such booking.")
            if booking.status != Booking.Status.PENDING or booking.awaiting_staff:
                return AttemptResult(outcome="already_done", attempt=attempt, total_ms=0.0)
            decision = plan_on_fresh_read(
                booking.restaurant,
                booking.party_size,
                booking.starts_at,
                booking.ends_at,
                now=now,
                settings=planner_settings(booking.restaurant),
                include_pending=True,
                exclude_booking_id=booking.pk,
                pending_created_before=booking.created_at,
            )
            outcome = try_assign(booking, decision, now=now)
    except DatabaseError as exc:
        if not is_retryable(exc):
            raise
        outcome = AllocationAttempt.Outcome.CONFLICT
        booking = Booking.objects.get(pk=booking_id)
    result = attempt_result(outcome, attempt, started, decision)
    record_attempt(booking, result, mode)
    return result


def booking_reject(*, booking_id: int, reason: str) -> bool:
    """Mark a pending booking rejected (retries exhausted); return whether this call did it."""
    with transaction.atomic(durable=True):
        changed = Booking.objects.filter(pk=booking_id, status=Booking.Status.PENDING).update(
            status=Booking.Status.REJECTED, status_reason=reason[:64]
        )
        if changed:
            booking = Booking.objects.get(pk=booking_id)
            emit_on_commit(
                "booking.rejected", restaurant_id=booking.restaurant_id, booking_id=booking_id, reason=reason
            )
    if changed:
        metrics.BOOKINGS_REJECTED.labels(reason=reason).inc()
    return bool(changed)
