"""Create a booking: one transaction on the happy path, inline retries, then the queue (DESIGN §5)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from datetime import time as dt_time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import flags
from allocator.capacity import (
    REASON_MAX_COVERS,
    REASON_MAX_PARTIES,
    REASON_PACING,
)
from allocator.planner import (
    FAILURE_BUSY,
    FAILURE_NO_FIT,
    FAILURE_NO_TABLES,
)
from bookings.availability import add_alternatives, cached_day, nearest_alternatives
from bookings.codes import retry_on_code_collision
from bookings.config import RestaurantConfig, RestaurantVersions
from bookings.errors import CapacityExceeded, SlotUnavailable
from bookings.locking import busy_means_retry
from bookings.models import Booking, IdempotencyKey
from bookings.selectors import tables_by_booking
from bookings.services.admission import (
    BookingRequest,
    admit_in_transaction,
    count_admission,
    store_admission_telemetry,
)
from bookings.services.allocation import booking_allocate
from bookings.services.attempts import AttemptResult
from bookings.services.idempotency import (
    IdempotencyRequest,
    StoredResponse,
    idempotency_claim,
    idempotency_complete,
)
from bookings.services.planning import record_refusal
from bookings.tasks import enqueue_allocation
from flags.registry import INLINE_TIMEOUT_CEILING_MS
from observability import metrics
from observability.events import record_event
from observability.spans import span

logger = logging.getLogger(__name__)


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


# Why a cached day may refuse without the lock: verdicts that only a write could change. Not a planner
# timeout (another search might succeed), nor past/closed (admission explains those itself).
CAPACITY_REASONS = frozenset({REASON_MAX_COVERS, REASON_MAX_PARTIES, REASON_PACING})


TABLE_REASONS = frozenset({FAILURE_BUSY, FAILURE_NO_FIT, FAILURE_NO_TABLES})


def refuse_if_known_full(
    *,
    versions: RestaurantVersions,
    config: RestaurantConfig,
    request: BookingRequest,
    local_date: date,
    local_time: dt_time,
    flag_values: dict[str, Any],
) -> None:
    """Refuse a booking without the day lock when the cached day, at the versions in force, is full.

    The cached answer was computed at exactly this configuration, these flags and this day version,
    and no hold has expired since: admission under the lock would refuse too (it is stricter, as it
    seats waiting bookings first). Only refusals are taken from the cache; a slot that may have
    room always goes through admission. A key used before (``versions.key_used``, read in the same
    statement as the versions) goes the full way: it may have a stored answer to replay.
    """
    if versions.key_used:
        return
    # From this process's memory only: the shared cache would cost every booking a Redis round trip,
    # and most bookings follow a write that moved the day's version, so it would miss. A burst
    # computes the day once per process (its first refusal's alternatives) and then hits memory.
    day = cached_day(
        versions,
        local_date,
        request.party_size,
        now=timezone.now(),
        flag_values=flag_values,
        memory_only=True,
    )
    slot = next((s for s in day or () if s.time == local_time), None)
    if day is None or slot is None or slot.available or slot.reason not in CAPACITY_REASONS | TABLE_REASONS:
        return
    if slot.reason == FAILURE_BUSY and flag_values.get("allocator.reshuffle_enabled"):
        return  # re-seating under the lock may make room where the cached day saw none
    message = (
        "The restaurant is full at that time."
        if slot.reason in CAPACITY_REASONS
        else "No table can seat this party at that time."
    )
    exc = CapacityExceeded(
        message,
        reason=slot.reason,
        starts_at=slot.starts_at.isoformat(),
        party_size=request.party_size,
        alternatives=[t.strftime("%H:%M") for t in nearest_alternatives(day, local_time)],
    )
    record_refusal(exc, versions.restaurant_id, request.party_size)
    raise exc


def booking_submit(
    *,
    versions: RestaurantVersions,
    config: RestaurantConfig,
    request: BookingRequest,
    idempotency: IdempotencyRequest,
    render: Render,
) -> BookingOutcome | StoredResponse:
    """Answer a guest's booking request: POST /api/v1/bookings after validation.

    Refused at once when the cached day knows the slot is full, else created (booking_create);
    a refusal names the nearest bookable times. Flags are read once for all of it.
    """
    flag_values = flags.get_all(config.restaurant, version=versions.flags_version)
    local = request.starts_at.astimezone(config.tz)
    local_date, local_time = local.date(), local.time().replace(tzinfo=None)
    try:
        with span("booking.submit"):
            if request.hold_id is None:
                with span("booking.cached_refusal"):
                    refuse_if_known_full(
                        versions=versions,
                        config=config,
                        request=request,
                        local_date=local_date,
                        local_time=local_time,
                        flag_values=flag_values,
                    )
            return booking_create(
                config=config,
                request=request,
                idempotency=idempotency,
                render=render,
                flag_values=flag_values,
            )
    except (CapacityExceeded, SlotUnavailable) as exc:
        with span("booking.alternatives"):
            add_alternatives(
                exc,
                versions,
                local_date,
                local_time,
                request.party_size,
                config=config,
                flag_values=flag_values,
            )
        raise


@dataclass(slots=True)
class BookingOutcome:
    booking: Booking
    attempts: list[AttemptResult] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    inline_ms: float = 0.0
    fallback_reason: str | None = None
    answer: tuple[int, dict[str, Any]] | None = None  # rendered once, stored with the key and sent

    @property
    def confirmed(self) -> bool:
        """Tables assigned: confirmed, or seated at once (a staff walk-in)."""
        return self.booking.status in (Booking.Status.CONFIRMED, Booking.Status.SEATED)

    @property
    def settled(self) -> bool:
        """Nothing left for the allocator: confirmed, or held for staff by the no-show rule."""
        return self.confirmed or self.booking.awaiting_staff


# Builds the HTTP answer (status, body) of a booking outcome; stored with the key for replays.
Render = Callable[[BookingOutcome], tuple[int, dict[str, Any]]]


def inline_budget_ms(flag_values: dict[str, Any]) -> int:
    """Return the inline budget in force, never above the 25 s ceiling."""
    return max(0, min(int(flag_values["allocator.inline_timeout_ms"]), INLINE_TIMEOUT_CEILING_MS))


@retry_on_code_collision
def booking_create(
    *,
    config: RestaurantConfig,
    request: BookingRequest,
    idempotency: IdempotencyRequest | None = None,
    render: Render | None = None,
    flag_values: dict[str, Any] | None = None,
    staff_override: bool = False,
) -> BookingOutcome | StoredResponse:
    """Admit a booking and assign tables inline within the budget; hand the rest to the queue.

    Returns the stored answer instead when the Idempotency-Key was used by a finished request.

    On the happy path everything commits together, once: the key's claim, the admission under the
    day lock, the tables, the telemetry and the stored answer (``render``'s, for replays).
    """
    restaurant = config.restaurant
    flag_values = flag_values or flags.get_all(restaurant)
    budget_ms = inline_budget_ms(flag_values)
    started = time.perf_counter()
    now = timezone.now()
    key_id: int | None = None
    with inline_gate.enter() as may_run_inline:
        run_inline = may_run_inline and budget_ms > 0
        try:
            with span("booking.transaction"), busy_means_retry(), transaction.atomic(durable=True):
                if idempotency is not None:
                    with span("booking.claim"):
                        claim = idempotency_claim(restaurant_id=restaurant.pk, request=idempotency, now=now)
                    if isinstance(claim, StoredResponse):
                        return claim
                    if isinstance(claim, Booking):
                        # Its first request committed the booking and is still assigning tables (or
                        # died doing so): answer with the booking as it stands.
                        return BookingOutcome(
                            booking=claim, tables=tables_by_booking([claim.pk]).get(claim.pk, [])
                        )
                    key_id = claim
                admission = admit_in_transaction(
                    config=config,
                    request=request,
                    flag_values=flag_values,
                    assign=run_inline,
                    staff_override=staff_override,
                    now=now,
                    started=started,
                )
                outcome = BookingOutcome(
                    booking=admission.booking, attempts=admission.attempts, tables=admission.tables
                )
                if not outcome.settled:
                    if not may_run_inline:
                        outcome.fallback_reason = "shed_overload"
                    elif budget_ms <= 0:
                        outcome.fallback_reason = "budget_spent"
                with span("booking.telemetry"):
                    store_admission_telemetry(admission)
                finished = outcome.settled or outcome.fallback_reason is not None
                if finished and key_id is not None and render is not None:
                    outcome.inline_ms = (time.perf_counter() - started) * 1000
                    with span("booking.answer"):
                        outcome.answer = status, body = render(outcome)
                        idempotency_complete(
                            key_id=key_id, booking_id=outcome.booking.pk, status=status, body=body
                        )
                elif key_id is not None:
                    # Still assigning: bind the key, so a retry answers with this booking.
                    IdempotencyKey.objects.filter(pk=key_id).update(booking_id=outcome.booking.pk)
        except CapacityExceeded as exc:
            record_refusal(exc, restaurant.pk, request.party_size)
            raise
        count_admission(admission)
        if not outcome.settled and outcome.fallback_reason is None:
            outcome.fallback_reason = _retry_inline(
                outcome, flag_values=flag_values, deadline=started + budget_ms / 1000
            )
            outcome.inline_ms = (time.perf_counter() - started) * 1000
            if key_id is not None and render is not None:
                outcome.answer = status, body = render(outcome)
                idempotency_complete(key_id=key_id, booking_id=outcome.booking.pk, status=status, body=body)
    outcome.inline_ms = outcome.inline_ms or (time.perf_counter() - started) * 1000
    if outcome.fallback_reason:
        _hand_to_background(outcome)
    return outcome


def _retry_inline(outcome: BookingOutcome, *, flag_values: dict[str, Any], deadline: float) -> str | None:
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
            if flag_values["allocator.service_fail_hard"]:
                raise
            logger.exception("inline allocation of booking %s failed; handing it to the queue", booking.pk)
            return "error"
        outcome.attempts.append(last)
    if last.assigned:
        booking.refresh_from_db()
        outcome.tables = tables_by_booking([booking.pk]).get(booking.pk, [])
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
