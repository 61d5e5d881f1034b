"""Booking writes used by the API: idempotency keys and the inline-then-background flow (DESIGN §5)."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

import flags
from allocator.errors import DomainError, IdempotencyInProgress
from allocator.services import AttemptResult, booking_admit, booking_allocate
from allocator.tasks import enqueue_allocation
from bookings.models import Booking, IdempotencyKey, Restaurant
from flags.registry import INLINE_TIMEOUT_CEILING_MS
from observability import metrics
from observability.events import record_event

logger = logging.getLogger(__name__)

IDEMPOTENCY_TTL = timedelta(hours=24)
# A key still "in progress" after this long belongs to a request that died; another may take over.
IDEMPOTENCY_STALE_AFTER = timedelta(seconds=INLINE_TIMEOUT_CEILING_MS / 1000 + 5)
# Answers that say "try again" are not stored, so the retry with the same key is processed anew.
UNSTORED_STATUSES = frozenset({409, 429, 503})


# --- idempotency keys --------------------------------------------------------------------------


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def request_fingerprint(body: dict[str, Any]) -> str:
    """Return a stable hash of the request body (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(
    *, restaurant: Restaurant, key: str, fingerprint: str, now: datetime | None = None
) -> IdempotencyKey | StoredResponse:
    """Claim the key for this request, or return the stored answer of the request that used it.

    Raises IdempotencyKeyReused for the same key with another body and IdempotencyInProgress
    while the first request is still running.
    """
    now = now or timezone.now()
    for _ in range(3):  # the row may vanish between our insert and our read; look again
        with transaction.atomic(durable=True):
            try:
                with transaction.atomic():
                    return IdempotencyKey.objects.create(
                        restaurant=restaurant,
                        key=key,
                        fingerprint=fingerprint,
                        expires_at=now + IDEMPOTENCY_TTL,
                    )
            except IntegrityError:
                pass  # someone used this key before (or is using it now)
            row = IdempotencyKey.objects.filter(restaurant=restaurant, key=key).first()
            if row is None:
                continue  # its request answered "try again" and forgot it
            if row.expires_at <= now:
                IdempotencyKey.objects.filter(pk=row.pk, expires_at__lte=now).delete()
                continue
            if row.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different request body."
                )
            if row.state == IdempotencyKey.State.COMPLETED and row.response_status is not None:
                return StoredResponse(status=row.response_status, body=row.response_body or {})
            if row.created_at > now - IDEMPOTENCY_STALE_AFTER:
                raise IdempotencyInProgress()
            # The first request died mid-way: take the key over (once, by compare-and-swap).
            if not IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).update(created_at=now):
                raise IdempotencyInProgress()
            row.created_at = now
            return row
    raise IdempotencyInProgress()


def idempotency_complete(*, key: IdempotencyKey, status: int, body: dict[str, Any]) -> None:
    """Store the answer for replays, or forget the key when the answer says "try again"."""
    if status in UNSTORED_STATUSES:
        IdempotencyKey.objects.filter(pk=key.pk, booking__isnull=True).delete()
        return
    IdempotencyKey.objects.filter(pk=key.pk).update(
        state=IdempotencyKey.State.COMPLETED, response_status=status, response_body=body
    )


def idempotency_purge_expired(*, now: datetime | None = None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


# --- inline, then background -------------------------------------------------------------------


class _InlineGate:
    """Bound concurrent inline allocations per process: past the bound, work goes to the queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0

    @contextmanager
    def enter(self) -> Iterator[bool]:
        with self._lock:
            admitted = self.running < settings.INLINE_MAX_CONCURRENT
            if admitted:
                self.running += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self.running -= 1


inline_gate = _InlineGate()


@dataclass(slots=True)
class BookingOutcome:
    booking: Booking
    attempts: list[AttemptResult] = field(default_factory=list)
    inline_ms: float = 0.0
    fallback_reason: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.booking.status == Booking.Status.CONFIRMED


def inline_budget_ms(restaurant: Restaurant) -> int:
    """Return the inline budget in force, never above the 25 s ceiling."""
    return max(0, min(int(flags.get("allocator.inline_timeout_ms", restaurant)), INLINE_TIMEOUT_CEILING_MS))


def booking_create(
    *,
    restaurant: Restaurant,
    party_size: int,
    starts_at: datetime,
    guest_name: str,
    guest_email: str = "",
    guest_phone: str = "",
    notes: str = "",
    source: str = Booking.Source.WIDGET,
    hold_id: UUID | None = None,
    idempotency_key: IdempotencyKey | None = None,
) -> BookingOutcome:
    """Admit a booking and assign tables inline within the budget; hand the rest to the queue."""
    if idempotency_key is not None and idempotency_key.booking_id is not None:
        # Resuming a request that died after admitting: answer with what exists.
        return BookingOutcome(booking=Booking.objects.get(pk=idempotency_key.booking_id))
    budget_ms = inline_budget_ms(restaurant)
    started = time.perf_counter()
    with inline_gate.enter() as may_run_inline:
        run_inline = may_run_inline and budget_ms > 0
        admission = booking_admit(
            restaurant=restaurant,
            party_size=party_size,
            starts_at=starts_at,
            guest_name=guest_name,
            guest_email=guest_email,
            guest_phone=guest_phone,
            notes=notes,
            source=source,
            hold_id=hold_id,
            assign=run_inline,
            idempotency_key_id=idempotency_key.pk if idempotency_key else None,
        )
        outcome = BookingOutcome(booking=admission.booking, attempts=admission.attempts)
        if outcome.booking.status == Booking.Status.PENDING:
            if not may_run_inline:
                outcome.fallback_reason = "shed_overload"
            elif budget_ms <= 0:
                outcome.fallback_reason = "budget_spent"
            else:
                outcome.fallback_reason = _retry_inline(outcome, deadline=started + budget_ms / 1000)
    outcome.inline_ms = (time.perf_counter() - started) * 1000
    if outcome.fallback_reason:
        _hand_to_background(outcome)
    return outcome


def _retry_inline(outcome: BookingOutcome, *, deadline: float) -> str | None:
    """Retry lost races with a fresh snapshot until assigned or out of budget; return why not."""
    booking = outcome.booking
    last = outcome.attempts[-1] if outcome.attempts else None
    while last is None or last.outcome == "conflict":
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return "budget_spent"
        # Small, growing, jittered pauses keep racing requests from colliding again at once.
        pause = random.uniform(0, min(0.05, 0.002 * 2 ** len(outcome.attempts)))  # noqa: S311
        time.sleep(min(pause, remaining))
        try:
            last = booking_allocate(booking_id=booking.pk, mode="inline", attempt=len(outcome.attempts) + 1)
        except Exception:
            if flags.get("allocator.service_fail_hard", booking.restaurant):
                raise
            logger.exception("inline allocation of booking %s failed; handing it to the queue", booking.pk)
            return "error"
        outcome.attempts.append(last)
    if last.assigned:
        booking.refresh_from_db()
        return None
    return "no_plan_now"


def _hand_to_background(outcome: BookingOutcome) -> None:
    reason = outcome.fallback_reason or "budget_spent"
    metrics.INLINE_FALLBACKS.labels(reason).inc()
    record_event(
        "allocation.fallback",
        restaurant_id=outcome.booking.restaurant_id,
        booking_id=outcome.booking.pk,
        reason=reason,
        attempts=len(outcome.attempts),
        duration_ms=outcome.inline_ms,
    )
    enqueue_allocation(outcome.booking.pk)
