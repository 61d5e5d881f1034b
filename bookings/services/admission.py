"""Admission (DESIGN §5 step 2): capacity under the day lock, the booking row, its first tables."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

import flags
from allocator.capacity import (
    CapacityDecision,
)
from allocator.planner import (
    Decision,
)
from bookings.codes import retry_on_code_collision
from bookings.config import RestaurantConfig, RestaurantVersions, config_for
from bookings.errors import (
    CapacityExceeded,
    HoldExpired,
    HoldMismatch,
    HoldNotFound,
    TablesUnavailable,
)
from bookings.locking import busy_means_retry
from bookings.models import Booking, Hold, Restaurant, TableOccupancy
from bookings.services.attempts import (
    AttemptResult,
    attempt_event,
    attempt_result,
    attempt_row,
    count_attempt,
)
from bookings.services.planning import (
    assign_windows,
    check_capacity,
    chosen_tables,
    lock_and_read,
    plan_on_state,
    record_refusal,
)
from bookings.services.screening import awaiting_staff_reason, no_show_screen
from bookings.snapshots import (
    DayState,
    FloorLayout,
    release_expired_holds,
)
from bookings.text import strip_bidi
from observability.events import build_event, record_events
from observability.models import AllocationAttempt, ObservabilityEvent
from observability.spans import span

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """What a guest, a widget or staff asks for: one value through every layer."""

    party_size: int
    starts_at: datetime
    guest_name: str
    guest_email: str = ""
    guest_phone: str = ""
    notes: str = ""
    source: str = Booking.Source.API
    hold_id: UUID | None = None
    # Staff only: a party seated now (a walk-in), the tables staff chose, and who took the booking.
    walk_in: bool = False
    table_labels: tuple[str, ...] = ()
    staff_id: int | None = None

    def __post_init__(self) -> None:
        # Every way in (API, staff pages, admin, scripts) stores names and notes without bidi controls.
        object.__setattr__(self, "guest_name", strip_bidi(self.guest_name))
        object.__setattr__(self, "notes", strip_bidi(self.notes))


@dataclass(slots=True)
class Admission:
    booking: Booking
    capacity: CapacityDecision
    first_attempt: AttemptResult | None = None
    attempt_mode: str = AllocationAttempt.Mode.INLINE  # "hold" when a hold became the booking
    attempts: list[AttemptResult] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    events: list[ObservabilityEvent] = field(default_factory=list)


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
    # The no-show rule reads the guest's history before the lock (no statement when it is off).
    no_shows = no_show_screen(
        restaurant=restaurant,
        source=request.source,
        guest_email=request.guest_email,
        guest_phone=request.guest_phone,
        now=now,
    )
    config, slot, state = lock_and_read(
        config, request.starts_at, request.party_size, now=now, hold=hold, walk_in=request.walk_in
    )
    restaurant = config.restaurant
    decision: Decision | None = None
    with span("admission.plan"):
        try:
            capacity = check_capacity(
                restaurant,
                slot,
                request.party_size,
                seatings=state.seatings(slot.starts_at, slot.ends_at, request.hold_id),
                flag_values=flag_values,
                staff_override=staff_override,
            )
            if hold is None and not request.table_labels:
                decision = plan_on_state(
                    config, state, slot, request.party_size, flag_values=flag_values, now=now
                )
        except CapacityExceeded as exc:
            # What the refusal saw under the lock: the freshest key for the day's cached answer.
            exc.seen_versions = RestaurantVersions(
                restaurant_id=restaurant.pk, config_version=config.version, day_version=state.day_version
            )
            raise
    staff_tables = (
        chosen_tables(
            config.layout,
            request.table_labels,
            request.party_size,
            require_adjacency=bool(flag_values["allocator.require_adjacency"]),
        )
        if request.table_labels
        else ()
    )
    # Held for staff (the no-show rule): admitted and given tables like any booking, but pending.
    held_for_staff = no_shows is not None
    confirmed = (hold is not None or assign or bool(staff_tables)) and not held_for_staff
    # A walk-in sits down as it is booked; a booking still waiting for tables is not seated yet.
    confirmed_status = Booking.Status.SEATED if request.walk_in else Booking.Status.CONFIRMED
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
        status=confirmed_status if confirmed else Booking.Status.PENDING,
        confirmed_at=now if confirmed else None,
        awaiting_staff=held_for_staff,
        status_reason=awaiting_staff_reason(no_shows) if no_shows is not None else "",
        allocation_reason=(
            {**(hold.allocation_reason or {}), "converted_from_hold": str(hold.pk)}
            if hold is not None
            else {"chosen_by_staff": request.staff_id, "tables": sorted(request.table_labels)}
            if staff_tables
            else decision.as_reason()
            if decision is not None and (assign or held_for_staff)
            else None
        ),
    )
    with span("admission.write"):
        booking.save(force_insert=True)
        admission = Admission(booking=booking, capacity=capacity)
        if hold is not None:
            admission.tables = _convert_hold(hold, booking, layout=config.layout)
            admission.events.append(
                build_event(
                    "hold.converted", restaurant_id=restaurant.pk, booking_id=booking.pk, hold_id=str(hold.pk)
                )
            )
            # An attempt like any other, so the dashboard and /metrics count the widget's bookings.
            held_plan = (hold.allocation_reason or {}).get("plan") or {}
            admission.first_attempt = AttemptResult(
                outcome=AllocationAttempt.Outcome.ASSIGNED,
                attempt=1,
                total_ms=(time.perf_counter() - started) * 1000,
                tables=tuple(admission.tables),
                seat_waste=held_plan["seats"] - request.party_size if "seats" in held_plan else None,
            )
            admission.attempt_mode = AllocationAttempt.Mode.HOLD
            admission.attempts.append(admission.first_attempt)
        elif staff_tables:
            admission.tables = _assign_staff_tables(booking, staff_tables, config, state, now=now)
            admission.first_attempt = _staff_attempt(config.layout, staff_tables, request.party_size, started)
            admission.attempt_mode = AllocationAttempt.Mode.STAFF
            admission.attempts.append(admission.first_attempt)
        elif (assign or held_for_staff) and decision is not None and decision.plan is not None:
            if assign_windows(booking, decision.plan.table_ids):
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
            admission.first_attempt = attempt_result(outcome, 1, started, decision)
            admission.attempts.append(admission.first_attempt)
    if booking.capacity_override:
        # Audited with the booking and who placed it past the rules (check_capacity knows neither).
        admission.events.append(
            build_event(
                "booking.staff_override",
                restaurant_id=restaurant.pk,
                booking_id=booking.pk,
                approver_id=request.staff_id,
                reason=capacity.reason,
                party_size=request.party_size,
                starts_at=slot.starts_at.isoformat(),
                limits=capacity.limits.as_dict(),
            )
        )
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
            # The sanitiser's keys: why it is pending, and the guest's no-shows that held it.
            **(dict[str, Any](reason="awaiting_staff", count=no_shows) if held_for_staff else {}),
            **({"approver_id": request.staff_id} if request.staff_id is not None else {}),
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
        events.append(attempt_event(admission.booking, attempt, admission.attempt_mode))
        attempt_row(admission.booking, attempt, admission.attempt_mode).save(force_insert=True)
    record_events(events)


def count_admission(admission: Admission) -> None:
    """Count the admission's attempt in the metrics, once its transaction has committed."""
    if admission.first_attempt is not None:
        count_attempt(admission.first_attempt, admission.attempt_mode)


@retry_on_code_collision
def booking_admit(
    *,
    restaurant: Restaurant,
    assign: bool = True,
    staff_override: bool = False,
    now: datetime | None = None,
    **fields: Any,
) -> Admission:
    """Admit a booking under the capacity rules and store it with its telemetry, in one commit.

    ``fields`` are those of BookingRequest (party_size, starts_at, guest_name, …): a shorthand for
    staff tools, tests and benchmarks; the API builds the BookingRequest itself.
    """
    request = BookingRequest(**fields)
    now = now or timezone.now()
    started = time.perf_counter()
    # Configuration is read before the lock is taken, to keep the locked section short.
    flag_values = flags.get_all(restaurant)
    config = config_for(restaurant.pk)
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
        record_refusal(exc, restaurant.pk, request.party_size)
        raise
    count_admission(admission)
    return admission


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
        held = TableOccupancy.objects.active().filter(hold=hold)
        minimums = list(held.values_list("table__min_party", flat=True))
        if len(minimums) == 1 and minimums[0] > party_size:
            raise HoldMismatch("The held table is for larger parties; please choose a time again.")
    return hold


def _convert_hold(hold: Hold, booking: Booking, *, layout: FloorLayout) -> list[str]:
    """Turn the hold's windows into the booking's assignment, in place; return the table labels.

    No overlap can arise: the windows are the same rows, only their kind and owner change. The
    hold is tied to its booking in the same statement.
    """
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            "WITH converted AS ("
            " UPDATE bookings_tableoccupancy SET kind = %s, booking_id = %s, expires_at = NULL"
            " WHERE hold_id = %s AND released_at IS NULL RETURNING table_id),"
            " linked AS (UPDATE bookings_hold SET booking_id = %s WHERE id = %s RETURNING id)"
            " SELECT table_id FROM converted",
            [TableOccupancy.Kind.ASSIGNMENT, booking.pk, hold.pk, booking.pk, hold.pk],
        )
        table_ids = {row[0] for row in cursor.fetchall()}
    if not table_ids:  # the transaction rolls back, hold link included
        raise HoldExpired("That hold no longer has its tables; please choose a time again.")
    hold.booking = booking
    return sorted(t.label for t in layout.tables if t.id in table_ids)


def _assign_staff_tables(
    booking: Booking, table_ids: tuple[int, ...], config: RestaurantConfig, state: DayState, *, now: datetime
) -> list[str]:
    """Give the booking the tables staff chose, or refuse (and so roll back) when one is taken."""
    if state.expired_hold_windows:
        release_expired_holds(booking.restaurant_id, booking.starts_at, booking.ends_at, now=now)
    if not assign_windows(booking, table_ids):
        raise TablesUnavailable("Those tables are taken at that time.")
    return sorted(t.label for t in config.layout.tables if t.id in table_ids)


def _staff_attempt(
    layout: FloorLayout, table_ids: tuple[int, ...], party_size: int, started: float
) -> AttemptResult:
    """Return the attempt that records staff seating a new booking at the tables they chose."""
    chosen = [t for t in layout.tables if t.id in table_ids]
    return AttemptResult(
        outcome=AllocationAttempt.Outcome.ASSIGNED,
        attempt=1,
        total_ms=(time.perf_counter() - started) * 1000,
        tables=tuple(sorted(t.label for t in chosen)),
        seat_waste=sum(t.max_party for t in chosen) - party_size,
    )
