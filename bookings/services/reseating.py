"""Re-seating at admission: make room for a party by moving bookings whose guests have not arrived.

Runs only with ``allocator.reshuffle_enabled``, under the day lock, inside the admission's
transaction, when the capacity rules admit a party but no table set is free
(``all_tables_busy``). The pure search (allocator/reseating.py) chooses the moves; this module
reads who may move, writes the moves and says why on each moved booking.

Who may move: confirmed bookings (not pending, not seated) whose windows lie inside the floor
admission read, that start at least ``allocator.reshuffle_freeze_minutes`` from now, and that
staff did not place by hand (an allocation attempt of mode staff, or tables chosen by staff).
A move keeps the booking's time and party; the exclusion constraint still guards every row.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from psycopg.types.range import Range

import flags
from allocator.planner import IDLE_CAP_MINUTES, Decision, FloorSnapshot, PlannerSettings, PlanRequest
from allocator.reseating import Move, PlacedBooking, ReseatLimits, Tidy, reseat, tidy
from bookings.config import RestaurantConfig, config_for
from bookings.locking import busy_means_retry, is_retryable, lock_service_days
from bookings.models import Booking, Restaurant, TableOccupancy
from bookings.snapshots import occupied_between, planner_settings_from, release_expired_holds
from observability import metrics
from observability.events import build_event, record_events
from observability.models import AllocationAttempt

logger = logging.getLogger(__name__)

# Admission reads windows this far around the request (planning.PLANNER_CONTEXT): a booking is
# only moved when its whole window lies inside, so every window its new tables hold is known.
CONTEXT = timedelta(minutes=IDLE_CAP_MINUTES)
OUTCOME_CONFLICT = "conflict"  # a moved booking changed under us, or a window was taken


@dataclass(frozen=True, slots=True)
class ReseatedDecision(Decision):
    """The planner's decision for the new party on the floor after the moves, and the moves."""

    reseating: dict[str, Any] = field(default_factory=dict)

    def as_reason(self) -> dict[str, object]:
        """Return the planner's explanation plus what was moved to make room."""
        return {**Decision.as_reason(self), "reseating": self.reseating}


def reseat_limits_from(values: Mapping[str, Any]) -> ReseatLimits:
    """Return the search limits from the flag values in force (see flags.get_all)."""
    return ReseatLimits(time_budget_ms=float(values["allocator.reshuffle_timeout_ms"]))


def placed_bookings(
    restaurant_id: int, starts_at: datetime, ends_at: datetime, *, now: datetime, freeze: timedelta
) -> list[PlacedBooking]:
    """Return the confirmed bookings on tables around [starts_at, ends_at), marked movable or not.

    Around: within the context admission reads (``CONTEXT`` either side), so a chain of moves can
    reach bookings next to the ones in the way. Only a booking whose whole window lies inside may
    move: nothing unseen then sits on the tables it may be moved to. One statement, of narrow rows
    (the reasons, large JSON, are read later for the few bookings that move).
    """
    wide_start, wide_end = starts_at - CONTEXT, ends_at + CONTEXT
    staff_placed = AllocationAttempt.objects.filter(
        booking_id=OuterRef("booking_id"), mode=AllocationAttempt.Mode.STAFF
    )
    rows = (
        TableOccupancy.objects.active()
        .filter(
            restaurant_id=restaurant_id,
            kind=TableOccupancy.Kind.ASSIGNMENT,
            booking__status=Booking.Status.CONFIRMED,
            during__overlap=Range(wide_start, wide_end, "[)"),
        )
        .annotate(
            lower=Lower("during"),
            upper=Upper("during"),
            by_staff=Exists(staff_placed),
            chosen=ExpressionWrapper(
                Q(booking__allocation_reason__has_key="chosen_by_staff"), output_field=BooleanField()
            ),
        )
        .values_list("booking_id", "table_id", "lower", "upper", "booking__party_size", "by_staff", "chosen")
    )
    found: dict[int, dict[str, Any]] = {}
    for booking_id, table_id, lower, upper, party, by_staff, chosen in rows:
        entry = found.setdefault(
            booking_id,
            {"party": party, "window": (lower, upper), "tables": [], "pinned": bool(by_staff or chosen)},
        )
        entry["tables"].append(table_id)
        if entry["window"] != (lower, upper):
            entry["pinned"] = True  # windows that disagree: leave it where it is
    frozen_until = now + freeze
    placed = []
    for booking_id, entry in sorted(found.items()):
        start, end = entry["window"]
        inside = wide_start <= start and end <= wide_end
        placed.append(
            PlacedBooking(
                booking_id=booking_id,
                party_size=entry["party"],
                starts_at=start,
                ends_at=end,
                table_ids=tuple(sorted(entry["tables"])),
                movable=inside and not entry["pinned"] and start >= frozen_until,
            )
        )
    return placed


def reseat_for_admission(
    *,
    config: RestaurantConfig,
    floor: FloorSnapshot,
    request: PlanRequest,
    settings: PlannerSettings,
    flag_values: Mapping[str, Any],
    now: datetime,
) -> ReseatedDecision | None:
    """Move bookings out of the party's way and return its decision, or None when that cannot help.

    Must run inside the admission's transaction, under the day lock, on the floor read under it.
    The moves are written here (one savepoint); the caller writes the party's own windows. With
    None nothing was written and the caller refuses as before.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reseat_for_admission must run inside transaction.atomic()")
    restaurant = config.restaurant
    freeze = timedelta(minutes=int(flag_values["allocator.reshuffle_freeze_minutes"]))
    placed = placed_bookings(restaurant.pk, request.starts_at, request.ends_at, now=now, freeze=freeze)
    limits = reseat_limits_from(flag_values)
    result = reseat(floor, placed, request, settings, limits, timer=clock.perf_counter)
    metrics.RESEAT_SECONDS.observe(result.search_ms / 1000)
    if result.decision is None or result.decision.plan is None:
        metrics.RESEATINGS.labels(outcome=result.failure_reason or "invalid_request").inc()
        return None
    if not result.moves:  # free after all (the planner's own search had run out of time)
        metrics.RESEATINGS.labels(outcome="no_move_needed").inc()
        return ReseatedDecision(**_fields_of(result.decision), reseating=result.as_reason())
    if not _write_moves(result.moves, restaurant_id=restaurant.pk, now=now):
        metrics.RESEATINGS.labels(outcome=OUTCOME_CONFLICT).inc()
        return None
    tz = restaurant.tz
    at = request.starts_at.astimezone(tz).strftime("%H:%M")
    why = f"to seat a party of {request.party_size} at {at}"
    _explain_moves(result.moves, why=why, settings={**settings.as_dict(), **limits.as_dict()}, now=now)
    events = [
        build_event(
            "booking.reseated",
            restaurant_id=restaurant.pk,
            booking_id=move.booking_id,
            old_value="+".join(move.from_labels),
            new_value="+".join(move.to_labels),
            party_size=request.party_size,
            starts_at=request.starts_at.isoformat(),
            reason="reseated",
        )
        for move in result.moves
    ]
    events.append(
        build_event(
            "allocation.reseated",
            restaurant_id=restaurant.pk,
            count=len(result.moves),
            covers=request.party_size,
            party_size=request.party_size,
            starts_at=request.starts_at.isoformat(),
            tables=list(result.decision.plan.labels),
            planner_ms=round(result.search_ms, 3),
        )
    )
    record_events(events)  # in the admission's transaction: gone with it if it rolls back
    transaction.on_commit(partial(_count, len(result.moves), request.party_size))
    summary = {
        **result.as_reason(),
        "message": "Made room by re-seating "
        + "; ".join(f"{'+'.join(m.from_labels)} → {'+'.join(m.to_labels)}" for m in result.moves)
        + ".",
    }
    return ReseatedDecision(**_fields_of(result.decision), reseating=summary)


def _fields_of(decision: Decision) -> dict[str, Any]:
    return {f.name: getattr(decision, f.name) for f in fields(decision)}


def _count(moves: int, covers: int) -> None:
    metrics.RESEATINGS.labels(outcome="reseated").inc()
    metrics.RESEAT_MOVES.inc(moves)
    metrics.RESEAT_COVERS_WON.inc(covers)


def _write_moves(moves: tuple[Move, ...], *, restaurant_id: int, now: datetime) -> bool:
    """Give each moved booking its new tables in one savepoint; False when anything changed under us.

    The moved bookings are locked first and must still be confirmed: a guest cancelling, or staff
    seating the party, at the same moment wins, and the search's answer is dropped.
    """
    ids = [m.booking_id for m in moves]
    try:
        with transaction.atomic():
            locked = set(
                Booking.objects.select_for_update(no_key=True)
                .filter(pk__in=ids, status=Booking.Status.CONFIRMED)
                .values_list("pk", flat=True)
            )
            if locked != set(ids):
                raise _Changed
            released = (
                TableOccupancy.objects.active()
                .filter(booking_id__in=ids, kind=TableOccupancy.Kind.ASSIGNMENT)
                .update(released_at=now)
            )
            if released != sum(len(m.from_table_ids) for m in moves):
                raise _Changed
            TableOccupancy.objects.bulk_create(
                [
                    TableOccupancy(
                        restaurant_id=restaurant_id,
                        table_id=table_id,
                        during=Range(m.starts_at, m.ends_at, "[)"),
                        kind=TableOccupancy.Kind.ASSIGNMENT,
                        booking_id=m.booking_id,
                    )
                    for m in moves
                    for table_id in m.to_table_ids
                ]
            )
    except _Changed:
        logger.info("re-seating dropped: a booking to move changed under the lock")
        return False
    except DatabaseError as exc:
        if not is_retryable(exc):
            raise
        logger.info("re-seating dropped: a new window was taken (%s)", exc.__class__.__name__)
        return False
    return True


class _Changed(Exception):
    """A booking to move is no longer where the search saw it."""


def _explain_moves(
    moves: tuple[Move, ...],
    *,
    why: str,
    settings: dict[str, object],
    now: datetime,
) -> None:
    """Record on each moved booking who moved it, from where to where and why ("Why these tables?")."""
    previous = dict(
        Booking.objects.filter(pk__in=[m.booking_id for m in moves]).values_list("pk", "allocation_reason")
    )
    updated = []
    for move in moves:
        before = previous.get(move.booking_id)
        if isinstance(before, dict):
            before = {k: v for k, v in before.items() if k != "before"}  # one level of history
        reason = {
            "reseated_by": "allocator",
            "message": f"Re-seated from {'+'.join(move.from_labels)} to {'+'.join(move.to_labels)} {why}.",
            "from_tables": list(move.from_labels),
            "to_tables": list(move.to_labels),
            "seat_waste": move.seat_waste,
            "at": now.isoformat(),
            "settings": settings,
            "before": before,
        }
        updated.append(Booking(pk=move.booking_id, allocation_reason=reason, updated_at=now))
    Booking.objects.bulk_update(updated, ["allocation_reason", "updated_at"])


# The tidy-up runs in a worker, not in a guest's request: a larger bound than admission's search.
TIDY_LIMITS = ReseatLimits(max_nodes=5_000, time_budget_ms=2_000.0)


def service_day_tidy(*, restaurant_id: int, local_date: date, now: datetime | None = None) -> Tidy | None:
    """Re-seat a service day's movable bookings where they now fit better (after cancellations).

    With ``allocator.reshuffle_enabled`` only (None when it is off). Under the day lock, in one
    transaction: the same bookings may move as at admission (confirmed, not pinned by staff, not
    within the freeze), each only to a strictly better place, so running it twice moves nothing
    the second time. Nothing moves while a booking around that day still waits for its tables.
    """
    now = now or timezone.now()
    restaurant = Restaurant.objects.get(pk=restaurant_id)
    flag_values = flags.get_all(restaurant)
    if not flag_values["allocator.reshuffle_enabled"]:
        return None
    config = config_for(restaurant_id)
    tz = restaurant.tz
    day_start = datetime.combine(local_date, time(0), tzinfo=tz)
    day_end = datetime.combine(local_date + timedelta(days=1), time(0), tzinfo=tz)
    settings = planner_settings_from(flag_values)
    freeze = timedelta(minutes=int(flag_values["allocator.reshuffle_freeze_minutes"]))
    with busy_means_retry(), transaction.atomic(durable=True):
        lock_service_days(restaurant_id, [local_date])
        waiting = Booking.objects.waiting_for_tables().filter(
            restaurant_id=restaurant_id,
            starts_at__lt=day_end + CONTEXT,
            ends_at__gt=day_start - CONTEXT,
        )
        if waiting.exists():
            # A booking still waiting for its job must find the tables admission promised it; the
            # next cancellation asks again.
            return Tidy(moves=(), seats_freed=0, passes=0, nodes=0, truncated=False)
        release_expired_holds(restaurant_id, day_start - CONTEXT, day_end + CONTEXT, now=now)
        busy = occupied_between(restaurant_id, day_start - CONTEXT, day_end + CONTEXT, now=now).busy
        placed = placed_bookings(restaurant_id, day_start, day_end, now=now, freeze=freeze)
        # Only this day's bookings move: the lock held is this day's.
        placed = [replace(b, movable=b.movable and day_start <= b.starts_at < day_end) for b in placed]
        floor = FloorSnapshot(restaurant_id, config.layout.tables, config.layout.adjacency, busy)
        result = tidy(floor, placed, settings, TIDY_LIMITS, timer=clock.perf_counter)
        if not result.moves or not _write_moves(result.moves, restaurant_id=restaurant_id, now=now):
            return replace(result, moves=())
        _explain_moves(
            result.moves,
            why="to leave fewer empty seats after cancellations (tidy-up)",
            settings={**settings.as_dict(), **TIDY_LIMITS.as_dict()},
            now=now,
        )
        record_events(
            [
                build_event(
                    "booking.reseated",
                    restaurant_id=restaurant_id,
                    booking_id=move.booking_id,
                    old_value="+".join(move.from_labels),
                    new_value="+".join(move.to_labels),
                    seat_waste=move.seat_waste,
                    reason="tidy",
                )
                for move in result.moves
            ]
        )
        transaction.on_commit(partial(metrics.RESEAT_TIDY_MOVES.inc, len(result.moves)))
    logger.info(
        "tidy-up of restaurant %s on %s moved %d bookings", restaurant_id, local_date, len(result.moves)
    )
    return result
