"""Changes to a booking after admission: cancel, move (staff), status (seated, completed, no-show)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial

from django.db import DatabaseError, transaction
from django.utils import timezone

import flags
from allocator.capacity import (
    CapacityDecision,
    CapacityRequest,
    EnforcementMode,
    evaluate,
)
from bookings.config import config_for
from bookings.errors import (
    CapacityExceeded,
    InvalidTransition,
    TablesUnavailable,
)
from bookings.integrity import tables_connected
from bookings.locking import busy_means_retry, is_retryable, lock_service_days
from bookings.models import Booking, Restaurant, TableOccupancy
from bookings.outbox import enqueue_message, enqueue_offers_for_window
from bookings.services.attempts import AttemptResult, count_attempt, write_attempt
from bookings.services.planning import emit_on_commit, plan_on_fresh_read, write_windows
from bookings.slots import resolve_slot
from bookings.snapshots import (
    planner_settings_from,
    release_expired_holds,
    seatings_between,
    service_days,
)
from bookings.tasks import enqueue_tidy
from observability.models import AllocationAttempt

logger = logging.getLogger(__name__)


def booking_cancel(
    *, booking: Booking, now: datetime | None = None, reason: str = "", actor_id: int | None = None
) -> Booking:
    """Cancel a pending or confirmed booking and free its tables and capacity.

    ``reason`` and ``actor_id`` record why and by whom when staff decide it (a declined booking).
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        changed = Booking.objects.filter(
            pk=booking.pk, status__in=[Booking.Status.PENDING, Booking.Status.CONFIRMED]
        ).update(status=Booking.Status.CANCELLED, updated_at=now, status_reason=reason[:64])
        if not changed:
            booking.refresh_from_db()
            if booking.status == Booking.Status.CANCELLED:
                return booking  # cancelling twice is fine
            status = booking.get_status_display().lower()
            raise InvalidTransition(f"A {status} booking cannot be cancelled.")
        TableOccupancy.objects.active().filter(booking=booking).update(released_at=now)
        emit_on_commit(
            "booking.cancelled",
            restaurant_id=booking.restaurant_id,
            booking_id=booking.pk,
            **({"reason": reason, "approver_id": actor_id} if reason else {}),
        )
        # Freed tables may let other bookings sit better (allocator.reshuffle_enabled; after commit).
        transaction.on_commit(partial(enqueue_tidy, booking.restaurant_id, booking.starts_at))
        # ... and may seat a guest on the waitlist; the guest is told the booking is cancelled.
        _offers_after_commit(booking)
        transaction.on_commit(partial(enqueue_message, "booking_cancellation", booking.pk))
    booking.refresh_from_db()
    return booking


def _offers_after_commit(booking: Booking) -> None:
    """Offer the capacity this change frees to the waitlist of its day, once committed."""
    transaction.on_commit(
        partial(
            enqueue_offers_for_window,
            booking.restaurant_id,
            booking.starts_at,
            booking.ends_at,
            booking.restaurant.timezone,
        )
    )


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
    started = time.perf_counter()
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
            decision = plan_on_fresh_read(
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
        TableOccupancy.objects.active().filter(booking=current).update(released_at=now)
        _offers_after_commit(current)  # the old time or tables may seat a waiting guest
        release_expired_holds(restaurant.pk, new_start, new_end, now=now)
        try:
            write_windows(
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
        # Recorded like every other way a booking gets tables (dashboard, /metrics).
        staff_attempt = _staff_attempt(restaurant, current.party_size, table_ids, started)
        write_attempt(current, staff_attempt, AllocationAttempt.Mode.STAFF)
        current.starts_at, current.ends_at = new_start, new_end
        current.allocation_reason = reason
        if current.status == Booking.Status.PENDING:
            current.status = Booking.Status.CONFIRMED
            current.confirmed_at = now
        overridden = capacity is not None and capacity.would_refuse
        current.capacity_override = current.capacity_override or overridden
        current.save()
        emit_on_commit(
            "booking.moved",
            restaurant_id=restaurant.pk,
            booking_id=current.pk,
            starts_at=new_start.isoformat(),
            table_ids=table_ids,
            approver_id=actor_id,
        )
        if capacity is not None and capacity.would_refuse:
            emit_on_commit(
                "booking.staff_override",
                restaurant_id=restaurant.pk,
                booking_id=current.pk,
                reason=capacity.reason,
                approver_id=actor_id,
                limits=capacity.limits.as_dict(),
            )
    count_attempt(staff_attempt, AllocationAttempt.Mode.STAFF)
    return current


def _staff_attempt(
    restaurant: Restaurant, party_size: int, table_ids: list[int], started: float
) -> AttemptResult:
    """Return the attempt that records staff giving a booking these tables."""
    tables = {t.id: t for t in config_for(restaurant.pk).layout.tables}
    chosen = [tables[table_id] for table_id in table_ids if table_id in tables]
    return AttemptResult(
        outcome=AllocationAttempt.Outcome.ASSIGNED,
        attempt=1,
        total_ms=(time.perf_counter() - started) * 1000,
        tables=tuple(sorted(t.label for t in chosen)),
        seat_waste=sum(t.max_party for t in chosen) - party_size,
    )


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
            TableOccupancy.objects.active().filter(booking=current).update(released_at=now)
            _offers_after_commit(current)
        if status == Booking.Status.NO_SHOW:
            transaction.on_commit(partial(enqueue_tidy, current.restaurant_id, current.starts_at))
        emit_on_commit(
            "booking.status_changed",
            restaurant_id=current.restaurant_id,
            booking_id=current.pk,
            old_status=old,
            new_status=status,
            approver_id=actor_id,
        )
    return current
