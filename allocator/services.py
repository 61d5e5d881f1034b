"""Admission, assignment, cancellation and holds: the writes of the allocator (DESIGN §4–5).

Every top-level function here owns its transaction (``atomic(durable=True)``). The admission lock
(locking.py) serialises capacity checks of one service day; the exclusion constraint guards the
tables. A lost race (23P01 exclusion, 40P01 deadlock) is an outcome to retry with a fresh
snapshot, never an error for the guest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from psycopg.types.range import Range

import flags
from allocator.capacity import CapacityDecision, CapacityRequest, EnforcementMode, Seating, evaluate
from allocator.errors import (
    BookingNotFound,
    CapacityExceeded,
    HoldConflict,
    HoldExpired,
    HoldMismatch,
    HoldNotFound,
    InvalidTransition,
    TablesUnavailable,
)
from allocator.integrity import tables_connected
from allocator.locking import busy_means_retry, is_retryable, lock_service_days
from allocator.planner import (
    IDLE_CAP_MINUTES,
    Decision,
    FloorSnapshot,
    PlannerSettings,
    PlanRequest,
    plan_tables,
)
from allocator.slots import Slot, resolve_slot
from allocator.snapshots import (
    DayState,
    FloorLayout,
    floor_layout,
    occupied_between,
    planner_settings,
    planner_settings_from,
    read_day_state,
    release_expired_holds,
    seatings_between,
    service_days,
)
from bookings.config import RestaurantConfig, RestaurantVersions, config_at, config_for
from bookings.models import Booking, Hold, Restaurant, TableOccupancy
from observability import metrics
from observability.events import build_event, record_event, record_events
from observability.models import AllocationAttempt, ObservabilityEvent

logger = logging.getLogger(__name__)


def _emit(event_type: str, **kwargs: object) -> None:
    """Record an event once the surrounding transaction commits (or now, outside one).

    Robust: telemetry failing after the commit must not turn a stored booking into an error.
    """
    transaction.on_commit(partial(record_event, event_type, **kwargs), robust=True)  # type: ignore[arg-type]


def record_refusal(exc: CapacityExceeded, restaurant_id: int, party_size: int) -> None:
    """Record a capacity refusal; called after the refused transaction has rolled back."""
    record_event(
        "booking.capacity_exceeded",
        restaurant_id=restaurant_id,
        party_size=party_size,
        reason=exc.extra.get("reason"),
        starts_at=exc.extra.get("starts_at"),
    )


# --- capacity ------------------------------------------------------------------------------------


def _check_capacity(
    restaurant: Restaurant,
    slot: Slot,
    party_size: int,
    *,
    seatings: list[Seating],
    flag_values: dict[str, Any],
    staff_override: bool = False,
) -> CapacityDecision:
    """Evaluate the rules for one more party; raise CapacityExceeded when enforcement refuses it.

    Must run under the service-day lock, on seatings read under it, so that two admissions cannot
    both see the last seat.
    """
    mode = EnforcementMode(flag_values["capacity.enforcement"])
    if staff_override:
        mode = EnforcementMode.SHADOW  # counted and recorded, never refused
    decision = evaluate(
        slot.limits,
        seatings,
        CapacityRequest(
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            party_size=party_size,
            slot_interval=slot.slot_interval,
        ),
        mode,
    )
    if not decision.admitted:
        raise CapacityExceeded(
            "The restaurant is full at that time.",
            reason=decision.reason,
            starts_at=slot.starts_at.isoformat(),
            party_size=party_size,
        )
    if decision.would_refuse:
        _emit(
            "booking.staff_override" if staff_override else "booking.capacity_shadow_refusal",
            restaurant_id=restaurant.pk,
            reason=decision.reason,
            party_size=party_size,
            starts_at=slot.starts_at.isoformat(),
            peak_covers=decision.peak_covers,
            peak_parties=decision.peak_parties,
            pacing_covers=decision.pacing_covers,
            limits=decision.limits.as_dict(),
        )
    return decision


PLANNER_CONTEXT = timedelta(minutes=IDLE_CAP_MINUTES)


def _no_table(decision: Decision, slot: Slot, party_size: int) -> CapacityExceeded:
    """Return the refusal for a slot within the rules where no table can seat the party now."""
    return CapacityExceeded(
        "No table can seat this party at that time.",
        reason=decision.failure_reason,
        starts_at=slot.starts_at.isoformat(),
        party_size=party_size,
    )


def _plan(
    restaurant: Restaurant,
    party_size: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    settings: PlannerSettings,
    layout: FloorLayout | None = None,
    exclude_booking_id: int | None = None,
    include_pending: bool = False,
    pending_created_before: datetime | None = None,
) -> Decision:
    """Plan on a fresh snapshot, inside the caller's transaction, before it writes windows.

    Expired holds in the window are released for real here (only when there are any), so the
    write that follows can take their tables. With ``include_pending``, waiting bookings are
    seated on paper first.
    """
    layout = layout or floor_layout(restaurant.pk)
    # Windows around the request too, not only overlapping it: the planner packs bookings next to
    # each other (its idle-minutes term), which needs the neighbours on each table.
    occupied = occupied_between(
        restaurant.pk,
        starts_at - PLANNER_CONTEXT,
        ends_at + PLANNER_CONTEXT,
        now=now,
        exclude_booking_id=exclude_booking_id,
    )
    if occupied.expired_holds:
        release_expired_holds(restaurant.pk, starts_at, ends_at, now=now)
    floor = FloorSnapshot(
        restaurant_id=restaurant.pk, tables=layout.tables, adjacency=layout.adjacency, busy=occupied.busy
    )
    if include_pending:
        floor = _seat_pending_first(
            floor, restaurant.pk, starts_at, ends_at, settings, exclude_booking_id, pending_created_before
        )
    decision = plan_tables(
        floor, PlanRequest(party_size=party_size, starts_at=starts_at, ends_at=ends_at), settings
    )
    metrics.PLANNER_SECONDS.observe(decision.planner_ms / 1000)
    return decision


def _seat_pending_first(
    floor: FloorSnapshot,
    restaurant_id: int,
    starts_at: datetime,
    ends_at: datetime,
    settings: PlannerSettings,
    exclude_booking_id: int | None,
    created_before: datetime | None,
) -> FloorSnapshot:
    """Return the floor with admitted-but-unassigned bookings seated on paper, oldest first.

    Admission must not promise a table that a pending booking (waiting for its background job)
    will need, or the job would find none and reject a booking that was accepted. A job seats
    only the bookings older than its own, so younger ones cannot take an older one's table.
    """
    pending = Booking.objects.filter(
        restaurant_id=restaurant_id,
        status=Booking.Status.PENDING,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    if exclude_booking_id is not None:
        pending = pending.exclude(pk=exclude_booking_id)
    if created_before is not None:
        pending = pending.filter(created_at__lt=created_before)
    return _seat_on_paper(
        floor,
        list(pending.order_by("created_at").values_list("party_size", "starts_at", "ends_at")),
        settings,
    )


def _seat_on_paper(
    floor: FloorSnapshot, pending: list[tuple[int, datetime, datetime]], settings: PlannerSettings
) -> FloorSnapshot:
    """Return the floor with each waiting (party, start, end) seated where the planner would put it."""
    for party, p_start, p_end in pending:
        paper = plan_tables(floor, PlanRequest(party_size=party, starts_at=p_start, ends_at=p_end), settings)
        if paper.plan is not None:
            busy = dict(floor.busy)
            for table_id in paper.plan.table_ids:
                busy[table_id] = (*busy.get(table_id, ()), (p_start, p_end))
            floor = replace(floor, busy=busy)
    return floor


def _write_windows(
    *,
    restaurant_id: int,
    table_ids: tuple[int, ...],
    starts_at: datetime,
    ends_at: datetime,
    kind: str,
    booking_id: int | None = None,
    hold_id: UUID | None = None,
    expires_at: datetime | None = None,
) -> None:
    """Insert one occupancy row per table inside a savepoint, so a lost race leaves no trace."""
    during = Range(starts_at, ends_at, "[)")
    with transaction.atomic():
        TableOccupancy.objects.bulk_create(
            [
                TableOccupancy(
                    restaurant_id=restaurant_id,
                    table_id=table_id,
                    during=during,
                    kind=kind,
                    booking_id=booking_id,
                    hold_id=hold_id,
                    expires_at=expires_at,
                )
                for table_id in table_ids
            ]
        )


# --- bookings --------------------------------------------------------------------------------------


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


def _confirm(booking: Booking, decision: Decision, now: datetime) -> None:
    booking.status = Booking.Status.CONFIRMED
    booking.confirmed_at = now
    booking.allocation_reason = decision.as_reason()
    Booking.objects.filter(pk=booking.pk, status=Booking.Status.PENDING).update(
        status=Booking.Status.CONFIRMED, confirmed_at=now, allocation_reason=booking.allocation_reason
    )


def _try_assign(booking: Booking, decision: Decision, *, now: datetime) -> str:
    """Write the plan's windows and confirm; return an outcome. Runs inside the caller's transaction."""
    if decision.plan is None:
        return AllocationAttempt.Outcome.SKIPPED
    try:
        _write_windows(
            restaurant_id=booking.restaurant_id,
            table_ids=decision.plan.table_ids,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            kind=TableOccupancy.Kind.ASSIGNMENT,
            booking_id=booking.pk,
        )
    except (IntegrityError, DatabaseError) as exc:
        if not is_retryable(exc):
            raise
        return AllocationAttempt.Outcome.CONFLICT
    _confirm(booking, decision, now)
    return AllocationAttempt.Outcome.ASSIGNED


def _attempt_result(outcome: str, attempt: int, started: float, decision: Decision | None) -> AttemptResult:
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
        _write_attempt(booking, result, mode)
    _count_attempt(result, mode)


def _count_attempt(result: AttemptResult, mode: str) -> None:
    metrics.ALLOCATION_ATTEMPTS.labels(mode=mode, outcome=result.outcome).inc()
    if result.seat_waste is not None:
        metrics.SEAT_WASTE.observe(result.seat_waste)


def _attempt_row(booking: Booking, result: AttemptResult, mode: str) -> AllocationAttempt:
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


def _attempt_event(booking: Booking, result: AttemptResult, mode: str) -> ObservabilityEvent:
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


def _write_attempt(booking: Booking, result: AttemptResult, mode: str) -> None:
    _attempt_row(booking, result, mode).save(force_insert=True)
    record_events([_attempt_event(booking, result, mode)])


# --- admission: one transaction, one read under the lock ----------------------------------------


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """What a guest, a widget or staff asks for: one value through every layer."""

    party_size: int
    starts_at: datetime
    guest_name: str
    guest_email: str = ""
    guest_phone: str = ""
    notes: str = ""
    source: str = Booking.Source.WIDGET
    hold_id: UUID | None = None


@dataclass(slots=True)
class Admission:
    booking: Booking
    capacity: CapacityDecision
    first_attempt: AttemptResult | None = None
    attempts: list[AttemptResult] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    events: list[ObservabilityEvent] = field(default_factory=list)


def _locked_state(
    config: RestaurantConfig, starts_at: datetime, party_size: int, *, now: datetime, hold: Hold | None = None
) -> tuple[RestaurantConfig, Slot, DayState]:
    """Lock the service day, read its state, and re-judge the slot if the configuration moved."""
    for _ in range(2):
        restaurant = config.restaurant
        slot = resolve_slot(restaurant, starts_at, party_size, now=now, config=config)
        if hold is not None:
            slot = replace(slot, ends_at=hold.ends_at)  # the booking keeps the held window
        lock_service_days(restaurant.pk, service_days(restaurant, slot.starts_at, slot.ends_at))
        state = read_day_state(
            restaurant.pk,
            slot.starts_at,
            slot.ends_at,
            now=now,
            with_windows=hold is None,
            context=PLANNER_CONTEXT,
            day=slot.local_date,
        )
        if state.config_version == config.version:
            break
        # Changed since this process cached it: judge again by the configuration now in force.
        config = config_at(restaurant.pk, state.config_version)
    return config, slot, state


def _plan_on_state(
    config: RestaurantConfig,
    state: DayState,
    slot: Slot,
    party_size: int,
    *,
    flag_values: dict[str, Any],
    now: datetime,
) -> Decision:
    """Plan tables on the state read under the lock, waiting bookings seated on paper first."""
    restaurant_id = config.restaurant.pk
    if state.expired_hold_windows:
        release_expired_holds(restaurant_id, slot.starts_at, slot.ends_at, now=now)
    settings = planner_settings_from(flag_values)
    floor = FloorSnapshot(
        restaurant_id=restaurant_id,
        tables=config.layout.tables,
        adjacency=config.layout.adjacency,
        busy=state.busy,
    )
    floor = _seat_on_paper(floor, state.pending(slot.starts_at, slot.ends_at), settings)
    decision = plan_tables(
        floor, PlanRequest(party_size=party_size, starts_at=slot.starts_at, ends_at=slot.ends_at), settings
    )
    metrics.PLANNER_SECONDS.observe(decision.planner_ms / 1000)
    if decision.plan is None:
        raise _no_table(decision, slot, party_size)
    return decision


def _insert_windows(booking: Booking, table_ids: tuple[int, ...]) -> bool:
    """Insert the booking's windows inside a savepoint; False when a racing writer took a table."""
    try:
        _write_windows(
            restaurant_id=booking.restaurant_id,
            table_ids=table_ids,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            kind=TableOccupancy.Kind.ASSIGNMENT,
            booking_id=booking.pk,
        )
    except (IntegrityError, DatabaseError) as exc:
        if not is_retryable(exc):
            raise
        return False
    return True


def admit_in_transaction(
    *,
    config: RestaurantConfig,
    request: BookingRequest,
    flag_values: dict[str, Any],
    assign: bool = True,
    staff_override: bool = False,
    now: datetime,
    started: float,
) -> Admission:
    """Admit a booking inside the caller's transaction (DESIGN §5 step 2) and build its telemetry.

    With a hold, the hold's windows become the booking's assignment in place: no planner. Without
    one, the planner must find tables now; with ``assign`` they are written in the same
    transaction, so most bookings are confirmed by one commit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("admit_in_transaction must run inside transaction.atomic()")
    restaurant = config.restaurant
    hold = None
    if request.hold_id is not None:
        hold = _hold_for_conversion(
            request.hold_id, restaurant, request.party_size, request.starts_at, now=now
        )
    config, slot, state = _locked_state(config, request.starts_at, request.party_size, now=now, hold=hold)
    restaurant = config.restaurant
    decision: Decision | None = None
    try:
        capacity = _check_capacity(
            restaurant,
            slot,
            request.party_size,
            seatings=state.seatings(slot.starts_at, slot.ends_at, request.hold_id),
            flag_values=flag_values,
            staff_override=staff_override,
        )
        if hold is None:
            decision = _plan_on_state(
                config, state, slot, request.party_size, flag_values=flag_values, now=now
            )
    except CapacityExceeded as exc:
        # What the refusal saw under the lock: the freshest key for the day's cached answer.
        exc.seen_versions = RestaurantVersions(
            restaurant_id=restaurant.pk, config_version=config.version, day_version=state.day_version
        )
        raise
    confirmed = hold is not None or assign
    booking = Booking(
        restaurant=restaurant,
        party_size=request.party_size,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        guest_name=request.guest_name,
        guest_email=request.guest_email,
        guest_phone=request.guest_phone,
        notes=request.notes,
        source=request.source,
        capacity_override=staff_override and capacity.would_refuse,
        status=Booking.Status.CONFIRMED if confirmed else Booking.Status.PENDING,
        confirmed_at=now if confirmed else None,
        allocation_reason=(
            {**(hold.allocation_reason or {}), "converted_from_hold": str(hold.pk)}
            if hold is not None
            else decision.as_reason()
            if decision is not None and assign
            else None
        ),
    )
    booking.save(force_insert=True)
    admission = Admission(booking=booking, capacity=capacity)
    if hold is not None:
        admission.tables = _convert_hold(hold, booking, layout=config.layout)
        admission.events.append(
            build_event(
                "hold.converted", restaurant_id=restaurant.pk, booking_id=booking.pk, hold_id=str(hold.pk)
            )
        )
    elif assign and decision is not None and decision.plan is not None:
        if _insert_windows(booking, decision.plan.table_ids):
            outcome = AllocationAttempt.Outcome.ASSIGNED
            admission.tables = sorted(decision.plan.labels)
        else:
            outcome = AllocationAttempt.Outcome.CONFLICT
            Booking.objects.filter(pk=booking.pk).update(
                status=Booking.Status.PENDING, confirmed_at=None, allocation_reason=None
            )
            booking.status, booking.confirmed_at, booking.allocation_reason = (
                Booking.Status.PENDING,
                None,
                None,
            )
        admission.first_attempt = _attempt_result(outcome, 1, started, decision)
        admission.attempts.append(admission.first_attempt)
    # debug.capacity_profiling: the figures behind every admission, for tuning the rules.
    profile: dict[str, Any] = capacity.as_dict() if flag_values["debug.capacity_profiling"] else {}
    admission.events.append(
        build_event(
            "booking.created",
            restaurant_id=restaurant.pk,
            booking_id=booking.pk,
            party_size=request.party_size,
            source=request.source,
            status=booking.status,
            **{
                k: profile[k]
                for k in ("peak_covers", "peak_parties", "pacing_covers", "limits")
                if k in profile
            },
        )
    )
    return admission


def store_admission_telemetry(admission: Admission) -> None:
    """Write the admission's events and first attempt in the admission's own transaction."""
    events = list(admission.events)
    if admission.first_attempt is not None:
        attempt = admission.first_attempt
        events.append(_attempt_event(admission.booking, attempt, AllocationAttempt.Mode.INLINE))
        _attempt_row(admission.booking, attempt, AllocationAttempt.Mode.INLINE).save(force_insert=True)
    record_events(events)


def count_admission(admission: Admission) -> None:
    """Count the admission's attempt in the metrics, once its transaction has committed."""
    if admission.first_attempt is not None:
        _count_attempt(admission.first_attempt, AllocationAttempt.Mode.INLINE)


def booking_admit(
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
    assign: bool = True,
    staff_override: bool = False,
    now: datetime | None = None,
) -> Admission:
    """Admit a booking under the capacity rules and store it with its telemetry, in one commit."""
    now = now or timezone.now()
    started = time.perf_counter()
    # Configuration is read before the lock is taken, to keep the locked section short.
    flag_values = flags.get_all(restaurant)
    config = config_for(restaurant.pk)
    request = BookingRequest(
        party_size=party_size,
        starts_at=starts_at,
        guest_name=guest_name,
        guest_email=guest_email,
        guest_phone=guest_phone,
        notes=notes,
        source=source,
        hold_id=hold_id,
    )
    try:
        with busy_means_retry(), transaction.atomic(durable=True):
            admission = admit_in_transaction(
                config=config,
                request=request,
                flag_values=flag_values,
                assign=assign,
                staff_override=staff_override,
                now=now,
                started=started,
            )
            store_admission_telemetry(admission)
    except CapacityExceeded as exc:
        record_refusal(exc, restaurant.pk, party_size)
        raise
    count_admission(admission)
    return admission


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
            if booking.status != Booking.Status.PENDING:
                return AttemptResult(outcome="already_done", attempt=attempt, total_ms=0.0)
            decision = _plan(
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
            outcome = _try_assign(booking, decision, now=now)
    except DatabaseError as exc:
        if not is_retryable(exc):
            raise
        outcome = AllocationAttempt.Outcome.CONFLICT
        booking = Booking.objects.get(pk=booking_id)
    result = _attempt_result(outcome, attempt, started, decision)
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
            _emit(
                "booking.rejected", restaurant_id=booking.restaurant_id, booking_id=booking_id, reason=reason
            )
    if changed:
        metrics.BOOKINGS_REJECTED.labels(reason=reason).inc()
    return bool(changed)


def booking_cancel(*, booking: Booking, now: datetime | None = None) -> Booking:
    """Cancel a pending or confirmed booking and free its tables and capacity."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        changed = Booking.objects.filter(
            pk=booking.pk, status__in=[Booking.Status.PENDING, Booking.Status.CONFIRMED]
        ).update(status=Booking.Status.CANCELLED, updated_at=now)
        if not changed:
            booking.refresh_from_db()
            if booking.status == Booking.Status.CANCELLED:
                return booking  # cancelling twice is fine
            status = booking.get_status_display().lower()
            raise InvalidTransition(f"A {status} booking cannot be cancelled.")
        TableOccupancy.objects.filter(booking=booking, released_at__isnull=True).update(released_at=now)
        _emit("booking.cancelled", restaurant_id=booking.restaurant_id, booking_id=booking.pk)
    booking.refresh_from_db()
    return booking


# --- holds -----------------------------------------------------------------------------------------


def _hold_for_conversion(
    hold_id: UUID, restaurant: Restaurant, party_size: int, starts_at: datetime, *, now: datetime
) -> Hold:
    hold = Hold.objects.select_for_update(no_key=True).filter(pk=hold_id, restaurant=restaurant).first()
    if hold is None or hold.released_at is not None:
        raise HoldNotFound("That hold does not exist or was released.")
    if hold.booking_id is not None:
        raise HoldMismatch("That hold has already been used for a booking.")
    if hold.expires_at <= now:
        raise HoldExpired("That hold has expired; please choose a time again.")
    if hold.starts_at != starts_at or party_size > hold.party_size:
        raise HoldMismatch("The booking must match the held time and party size.")
    if party_size < hold.party_size:
        # A smaller party may keep the held tables only if they still suit it (a table's minimum).
        held = TableOccupancy.objects.filter(hold=hold, released_at__isnull=True)
        minimums = list(held.values_list("table__min_party", flat=True))
        if len(minimums) == 1 and minimums[0] > party_size:
            raise HoldMismatch("The held table is for larger parties; please choose a time again.")
    return hold


def _convert_hold(hold: Hold, booking: Booking, *, layout: FloorLayout) -> list[str]:
    """Turn the hold's windows into the booking's assignment, in place; return the table labels.

    No overlap can arise: the windows are the same rows, only their kind and owner change.
    """
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            "UPDATE bookings_tableoccupancy SET kind = %s, booking_id = %s, expires_at = NULL"
            " WHERE hold_id = %s AND released_at IS NULL RETURNING table_id",
            [TableOccupancy.Kind.ASSIGNMENT, booking.pk, hold.pk],
        )
        table_ids = {row[0] for row in cursor.fetchall()}
    if not table_ids:
        raise HoldExpired("That hold no longer has its tables; please choose a time again.")
    hold.booking = booking
    hold.save(update_fields=["booking"])
    return sorted(t.label for t in layout.tables if t.id in table_ids)


def hold_create(
    *,
    restaurant: Restaurant,
    party_size: int,
    starts_at: datetime,
    now: datetime | None = None,
    config: RestaurantConfig | None = None,
    flag_values: dict[str, Any] | None = None,
) -> Hold:
    """Set tables aside for a guest for the restaurant's hold TTL; counts against capacity.

    One transaction: lock, one read, plan, the hold, its windows and its event. If the planned
    tables are taken between the read and the write (a background job won the race), the hold is
    planned once more on a fresh read, unless ``holds.strict_conflicts`` says to refuse at once.
    """
    now = now or timezone.now()
    flag_values = flag_values or flags.get_all(restaurant)
    config = config or config_for(restaurant.pk)
    attempts = 1 if flag_values["holds.strict_conflicts"] else 2
    for attempt in range(1, attempts + 1):
        try:
            return _hold_attempt(config, party_size, starts_at, now=now, flag_values=flag_values)
        except CapacityExceeded as exc:
            record_refusal(exc, restaurant.pk, party_size)
            raise
        except HoldConflict:
            metrics.HOLD_CONFLICTS.inc()
            record_event(
                "hold.strict_conflict",
                restaurant_id=restaurant.pk,
                party_size=party_size,
                starts_at=starts_at.isoformat(),
                attempt=attempt,
            )
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _hold_attempt(
    config: RestaurantConfig,
    party_size: int,
    starts_at: datetime,
    *,
    now: datetime,
    flag_values: dict[str, Any],
) -> Hold:
    with busy_means_retry(), transaction.atomic(durable=True):
        config, slot, state = _locked_state(config, starts_at, party_size, now=now)
        restaurant = config.restaurant
        seatings = state.seatings(slot.starts_at, slot.ends_at, exclude_hold_id=None)
        _check_capacity(restaurant, slot, party_size, seatings=seatings, flag_values=flag_values)
        decision = _plan_on_state(config, state, slot, party_size, flag_values=flag_values, now=now)
        assert decision.plan is not None  # _plan_on_state refuses otherwise
        hold = Hold(
            restaurant=restaurant,
            party_size=party_size,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            expires_at=now + timedelta(seconds=restaurant.hold_ttl_seconds),
            allocation_reason=decision.as_reason(),
        )
        hold.save(force_insert=True)
        try:
            # No savepoint: a lost race aborts the whole attempt, which the caller may repeat.
            TableOccupancy.objects.bulk_create(
                [
                    TableOccupancy(
                        restaurant_id=restaurant.pk,
                        table_id=table_id,
                        during=Range(slot.starts_at, slot.ends_at, "[)"),
                        kind=TableOccupancy.Kind.HOLD,
                        hold_id=hold.pk,
                        expires_at=hold.expires_at,
                    )
                    for table_id in decision.plan.table_ids
                ]
            )
        except DatabaseError as exc:
            if not is_retryable(exc):
                raise
            raise HoldConflict("Those tables were just taken; please try again.") from exc
        record_events(
            [
                build_event(
                    "hold.created",
                    restaurant_id=restaurant.pk,
                    hold_id=str(hold.pk),
                    party_size=party_size,
                    starts_at=slot.starts_at.isoformat(),
                )
            ]
        )
    return hold


def hold_release(*, hold_id: UUID, now: datetime | None = None) -> None:
    """Release a hold and its tables; releasing twice, or after expiry, is fine."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise HoldNotFound("That hold does not exist.")
        if hold.booking_id is not None:
            raise HoldMismatch("That hold has become a booking; cancel the booking instead.")
        if hold.released_at is None:
            hold.released_at = now
            hold.save(update_fields=["released_at"])
            TableOccupancy.objects.filter(hold=hold, released_at__isnull=True).update(released_at=now)
            _emit("hold.released", restaurant_id=hold.restaurant_id, hold_id=str(hold.pk))


def holds_purge_expired(*, now: datetime | None = None) -> int:
    """Release every expired, unconverted hold and its windows; return how many holds."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        expired = Hold.objects.filter(released_at__isnull=True, booking__isnull=True, expires_at__lte=now)
        hold_ids = list(expired.values_list("pk", flat=True)[:5000])
        if not hold_ids:
            return 0
        Hold.objects.filter(pk__in=hold_ids).update(released_at=now)
        TableOccupancy.objects.filter(hold_id__in=hold_ids, released_at__isnull=True).update(released_at=now)
    record_event("hold.expired", count=len(hold_ids))
    return len(hold_ids)


# --- staff -----------------------------------------------------------------------------------------


class OverrideNotAllowed(InvalidTransition):
    code = "OVERRIDE_NOT_ALLOWED"
    status = 403


def _staff_tables(restaurant: Restaurant, labels: list[str], party_size: int) -> list[int]:
    """Return the ids of the tables staff picked, refusing any set that cannot seat the party."""
    from bookings.models import Table, TableAdjacency

    tables = list(Table.objects.filter(restaurant=restaurant, label__in=labels))
    missing = sorted(set(labels) - {t.label for t in tables})
    if missing:
        raise TablesUnavailable(f"No table {', '.join(missing)} in this restaurant.")
    inactive = [t.label for t in tables if not t.active]
    if inactive:
        raise TablesUnavailable(f"Table {', '.join(inactive)} is not in use.")
    if sum(t.max_party for t in tables) < party_size:
        raise TablesUnavailable(f"Those tables seat {sum(t.max_party for t in tables)}, not {party_size}.")
    if len(tables) > 1 and flags.get("allocator.require_adjacency", restaurant):
        ids = [t.pk for t in tables]
        edges = set(
            TableAdjacency.objects.filter(table_a__in=ids, table_b__in=ids).values_list("table_a", "table_b")
        )
        if not tables_connected(ids, edges):
            raise TablesUnavailable("Those tables cannot be joined.")
    return [t.pk for t in tables]


def booking_move(
    *,
    booking: Booking,
    actor_id: int,
    starts_at: datetime | None = None,
    table_labels: list[str] | None = None,
    override: bool = False,
    now: datetime | None = None,
) -> Booking:
    """Move a booking to another time and/or other tables, under the same constraints as a guest.

    ``override`` lets staff place it past the capacity rules (never past the tables), only where
    the restaurant allows it; it is recorded on the booking and as an event.
    """
    now = now or timezone.now()
    restaurant = booking.restaurant
    if override and not restaurant.allow_staff_override:
        raise OverrideNotAllowed("This restaurant does not allow staff to override its capacity rules.")
    flag_values = flags.get_all(restaurant)
    with busy_means_retry(), transaction.atomic(durable=True):
        current = Booking.objects.select_for_update(no_key=True).get(pk=booking.pk)
        if current.status not in (Booking.Status.PENDING, Booking.Status.CONFIRMED, Booking.Status.SEATED):
            status = current.get_status_display().lower()
            raise InvalidTransition(f"A {status} booking cannot be moved.")
        new_start = starts_at or current.starts_at
        retime = new_start != current.starts_at
        new_end = (new_start + restaurant.turn_time(current.party_size)) if retime else current.ends_at
        lock_service_days(
            restaurant.pk,
            service_days(restaurant, current.starts_at, current.ends_at)
            + service_days(restaurant, new_start, new_end),
        )
        capacity: CapacityDecision | None = None
        if retime:
            # A new time is judged like a guest's booking; re-tabling a party at its own time is
            # not (it adds no covers, and the party may already be seated).
            slot = resolve_slot(restaurant, new_start, current.party_size, now=now)
            capacity = evaluate(
                slot.limits,
                seatings_between(restaurant.pk, new_start, new_end, now=now, exclude_booking_id=current.pk),
                CapacityRequest(
                    starts_at=new_start,
                    ends_at=new_end,
                    party_size=current.party_size,
                    slot_interval=slot.slot_interval,
                ),
                EnforcementMode.SHADOW if override else EnforcementMode(flag_values["capacity.enforcement"]),
            )
            if not capacity.admitted:
                raise CapacityExceeded(
                    "That time is full under the capacity rules.",
                    reason=capacity.reason,
                    starts_at=new_start.isoformat(),
                )
        if table_labels:
            table_ids = _staff_tables(restaurant, table_labels, current.party_size)
            reason: dict[str, object] = {"chosen_by_staff": actor_id, "tables": table_labels}
        else:
            decision = _plan(
                restaurant,
                current.party_size,
                new_start,
                new_end,
                now=now,
                settings=planner_settings_from(flag_values),
                exclude_booking_id=current.pk,
                include_pending=True,
            )
            if decision.plan is None:
                raise TablesUnavailable("No table is free for this party at that time.")
            table_ids = list(decision.plan.table_ids)
            reason = decision.as_reason()
        TableOccupancy.objects.filter(booking=current, released_at__isnull=True).update(released_at=now)
        release_expired_holds(restaurant.pk, new_start, new_end, now=now)
        try:
            _write_windows(
                restaurant_id=restaurant.pk,
                table_ids=tuple(table_ids),
                starts_at=new_start,
                ends_at=new_end,
                kind=TableOccupancy.Kind.ASSIGNMENT,
                booking_id=current.pk,
            )
        except DatabaseError as exc:
            if not is_retryable(exc):
                raise
            raise TablesUnavailable("Those tables are taken at that time.") from exc
        current.starts_at, current.ends_at = new_start, new_end
        current.allocation_reason = reason
        if current.status == Booking.Status.PENDING:
            current.status = Booking.Status.CONFIRMED
            current.confirmed_at = now
        overridden = capacity is not None and capacity.would_refuse
        current.capacity_override = current.capacity_override or overridden
        current.save()
        _emit(
            "booking.moved",
            restaurant_id=restaurant.pk,
            booking_id=current.pk,
            starts_at=new_start.isoformat(),
            table_ids=table_ids,
            approver_id=actor_id,
        )
        if capacity is not None and capacity.would_refuse:
            _emit(
                "booking.staff_override",
                restaurant_id=restaurant.pk,
                booking_id=current.pk,
                reason=capacity.reason,
                approver_id=actor_id,
                limits=capacity.limits.as_dict(),
            )
    return current


def booking_set_status(
    *, booking: Booking, status: str, actor_id: int, now: datetime | None = None
) -> Booking:
    """Move a booking along its status machine (seated, completed, no-show, cancelled)."""
    now = now or timezone.now()
    if status == Booking.Status.CANCELLED:
        return booking_cancel(booking=booking, now=now)
    with transaction.atomic(durable=True):
        current = Booking.objects.select_for_update(no_key=True).get(pk=booking.pk)
        if not current.can_become(status):
            old_label, new_label = current.get_status_display().lower(), Booking.Status(status).label.lower()
            raise InvalidTransition(f"A {old_label} booking cannot become {new_label}.")
        old = current.status
        current.status = status
        current.save(update_fields=["status", "updated_at"])
        if status in (Booking.Status.NO_SHOW, Booking.Status.COMPLETED):
            # The table is free again from now on (a no-show, or a party that left).
            TableOccupancy.objects.filter(booking=current, released_at__isnull=True).update(released_at=now)
        _emit(
            "booking.status_changed",
            restaurant_id=current.restaurant_id,
            booking_id=current.pk,
            old_status=old,
            new_status=status,
            approver_id=actor_id,
        )
    return current
