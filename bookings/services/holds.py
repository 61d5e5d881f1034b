"""Holds: tables set aside while a guest fills in the form; released, purged when expired."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.db import DatabaseError, transaction
from django.utils import timezone
from psycopg.types.range import Range

import flags
from bookings.config import RestaurantConfig, config_for
from bookings.errors import (
    CapacityExceeded,
    HoldConflict,
    HoldMismatch,
    HoldNotFound,
)
from bookings.locking import busy_means_retry, is_retryable
from bookings.models import Hold, Restaurant, TableOccupancy
from bookings.outbox import enqueue_offers_for_window
from bookings.services.planning import (
    check_capacity,
    emit_on_commit,
    lock_and_read,
    plan_on_state,
    record_refusal,
)
from observability import metrics
from observability.events import build_event, record_event, record_events

logger = logging.getLogger(__name__)


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
        return hold_place(
            config=config, party_size=party_size, starts_at=starts_at, now=now, flag_values=flag_values
        )


def hold_place(
    *,
    config: RestaurantConfig,
    party_size: int,
    starts_at: datetime,
    now: datetime,
    flag_values: dict[str, Any],
    ttl: timedelta | None = None,
) -> Hold:
    """Place a hold inside the caller's transaction, under the day lock; ``ttl`` overrides the
    restaurant's (a waitlist offer lasts ``waitlist.offer_minutes``).

    Raises CapacityExceeded, SlotUnavailable or HoldConflict; after HoldConflict the transaction
    (or the caller's savepoint) must be rolled back.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_place must run inside transaction.atomic()")
    config, slot, state = lock_and_read(config, starts_at, party_size, now=now)
    restaurant = config.restaurant
    seatings = state.seatings(slot.starts_at, slot.ends_at, exclude_hold_id=None)
    check_capacity(restaurant, slot, party_size, seatings=seatings, flag_values=flag_values)
    decision = plan_on_state(config, state, slot, party_size, flag_values=flag_values, now=now)
    assert decision.plan is not None  # plan_on_state refuses otherwise
    hold = Hold(
        restaurant=restaurant,
        party_size=party_size,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        expires_at=now + (ttl or timedelta(seconds=restaurant.hold_ttl_seconds)),
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
            TableOccupancy.objects.active().filter(hold=hold).update(released_at=now)
            emit_on_commit("hold.released", restaurant_id=hold.restaurant_id, hold_id=str(hold.pk))
            transaction.on_commit(
                partial(
                    enqueue_offers_for_window,
                    hold.restaurant_id,
                    hold.starts_at,
                    hold.ends_at,
                    hold.restaurant.timezone,
                )
            )


def holds_purge_expired(*, now: datetime | None = None) -> int:
    """Release every expired, unconverted hold and its windows; return how many holds."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        expired = Hold.objects.expired(now)
        hold_ids = list(expired.values_list("pk", flat=True)[:5000])
        if not hold_ids:
            return 0
        Hold.objects.filter(pk__in=hold_ids).update(released_at=now)
        TableOccupancy.objects.active().filter(hold_id__in=hold_ids).update(released_at=now)
    record_event("hold.expired", count=len(hold_ids))
    return len(hold_ids)
