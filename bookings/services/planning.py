"""Shared steps of the writes: capacity checks, planning on a read, occupancy windows."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.db import DatabaseError, IntegrityError, transaction
from psycopg.types.range import Range

from allocator.capacity import (
    CapacityDecision,
    CapacityRequest,
    EnforcementMode,
    Seating,
    evaluate,
)
from allocator.planner import (
    FAILURE_BUSY,
    IDLE_CAP_MINUTES,
    Decision,
    FloorSnapshot,
    PlannerSettings,
    PlanRequest,
    plan_tables,
)
from bookings.config import RestaurantConfig, config_at
from bookings.errors import (
    CapacityExceeded,
    TablesUnavailable,
)
from bookings.integrity import tables_connected
from bookings.locking import is_retryable, lock_service_days
from bookings.models import Booking, Hold, Restaurant, TableOccupancy
from bookings.services.reseating import reseat_for_admission
from bookings.slots import Slot, resolve_slot
from bookings.snapshots import (
    DayState,
    FloorLayout,
    floor_layout,
    occupied_between,
    planner_settings_from,
    read_day_state,
    release_expired_holds,
    service_days,
)
from observability import metrics
from observability.events import record_event, record_event_soon
from observability.spans import span

logger = logging.getLogger(__name__)


def emit_on_commit(event_type: str, **kwargs: object) -> None:
    """Record an event once the surrounding transaction commits (or now, outside one).

    Robust: telemetry failing after the commit must not turn a stored booking into an error.
    """
    transaction.on_commit(partial(record_event, event_type, **kwargs), robust=True)  # type: ignore[arg-type]


def record_refusal(exc: CapacityExceeded, restaurant_id: int, party_size: int) -> None:
    """Record a capacity refusal (batched: a burst refuses hundreds a second), after any rollback."""
    record_event_soon(
        "booking.capacity_exceeded",
        restaurant_id=restaurant_id,
        party_size=party_size,
        reason=exc.extra.get("reason"),
        starts_at=exc.extra.get("starts_at"),
    )


def check_capacity(
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
    if decision.would_refuse and not staff_override:  # admission audits an override with its booking
        emit_on_commit(
            "booking.capacity_shadow_refusal",
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


def no_table_refusal(decision: Decision, slot: Slot, party_size: int) -> CapacityExceeded:
    """Return the refusal for a slot within the rules where no table can seat the party now."""
    return CapacityExceeded(
        "No table can seat this party at that time.",
        reason=decision.failure_reason,
        starts_at=slot.starts_at.isoformat(),
        party_size=party_size,
    )


def plan_on_fresh_read(
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
        floor = seat_pending_first(
            floor, restaurant.pk, starts_at, ends_at, settings, exclude_booking_id, pending_created_before
        )
    decision = plan_tables(
        floor, PlanRequest(party_size=party_size, starts_at=starts_at, ends_at=ends_at), settings
    )
    metrics.PLANNER_SECONDS.observe(decision.planner_ms / 1000)
    return decision


def seat_pending_first(
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
    pending = Booking.objects.waiting_for_tables().filter(
        restaurant_id=restaurant_id,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    if exclude_booking_id is not None:
        pending = pending.exclude(pk=exclude_booking_id)
    if created_before is not None:
        pending = pending.filter(created_at__lt=created_before)
    return seat_on_paper(
        floor,
        list(pending.order_by("created_at").values_list("party_size", "starts_at", "ends_at")),
        settings,
    )


def seat_on_paper(
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


def write_windows(
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


def lock_and_read(
    config: RestaurantConfig,
    starts_at: datetime,
    party_size: int,
    *,
    now: datetime,
    hold: Hold | None = None,
    walk_in: bool = False,
) -> tuple[RestaurantConfig, Slot, DayState]:
    """Lock the service day, read its state, and re-judge the slot if the configuration moved.

    A walk-in (seated now) starts in the slot it arrived in, already begun, and keeps its table
    for the turn time from now (decision 0013).
    """
    for _ in range(2):
        restaurant = config.restaurant
        slot = resolve_slot(restaurant, starts_at, party_size, now=now, config=config, allow_past=walk_in)
        if hold is not None:
            slot = replace(slot, ends_at=hold.ends_at)  # the booking keeps the held window
        elif walk_in:
            leaves = now + restaurant.turn_time(party_size)
            if leaves.second or leaves.microsecond:  # to the whole minute after
                leaves = leaves.replace(second=0, microsecond=0) + timedelta(minutes=1)
            slot = replace(slot, ends_at=max(slot.ends_at, leaves))
        with span("admission.lock"):
            lock_service_days(restaurant.pk, service_days(restaurant, slot.starts_at, slot.ends_at))
        with span("admission.read"):
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


def plan_on_state(
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
    floor = seat_on_paper(floor, state.pending(slot.starts_at, slot.ends_at), settings)
    decision = plan_tables(
        floor, PlanRequest(party_size=party_size, starts_at=slot.starts_at, ends_at=slot.ends_at), settings
    )
    metrics.PLANNER_SECONDS.observe(decision.planner_ms / 1000)
    if decision.plan is None:
        if decision.failure_reason == FAILURE_BUSY and flag_values.get("allocator.reshuffle_enabled"):
            # The rules admit the party but every table set that seats it is taken: move
            # bookings that have not arrived out of its way (issue 16), in this transaction.
            request = PlanRequest(party_size=party_size, starts_at=slot.starts_at, ends_at=slot.ends_at)
            reseated = reseat_for_admission(
                config=config,
                floor=floor,
                request=request,
                settings=settings,
                flag_values=flag_values,
                now=now,
            )
            if reseated is not None:
                return reseated
        raise no_table_refusal(decision, slot, party_size)
    return decision


def assign_windows(booking: Booking, table_ids: tuple[int, ...]) -> bool:
    """Insert the booking's windows inside a savepoint; False when a racing writer took a table."""
    try:
        write_windows(
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


def chosen_tables(
    layout: FloorLayout, labels: tuple[str, ...], party_size: int, *, require_adjacency: bool
) -> tuple[int, ...]:
    """Return the ids of the tables staff chose, refusing a set that cannot seat the party.

    Judged on the configuration in force (read under the lock); whether they are free is left to
    the exclusion constraint when their windows are written.
    """
    by_label = {t.label: t for t in layout.tables}
    missing = sorted(set(labels) - by_label.keys())
    if missing:
        raise TablesUnavailable(f"No table {', '.join(missing)} in this restaurant.")
    tables = [by_label[label] for label in sorted(set(labels))]
    inactive = [t.label for t in tables if not t.active]
    if inactive:
        raise TablesUnavailable(f"Table {', '.join(inactive)} is not in use.")
    seats = sum(t.max_party for t in tables)
    if seats < party_size:
        raise TablesUnavailable(f"Those tables seat {seats}, not {party_size}.")
    ids = [t.id for t in tables]
    if len(ids) > 1 and require_adjacency and not tables_connected(ids, set(layout.adjacency)):
        raise TablesUnavailable("Those tables cannot be joined.")
    return tuple(ids)
