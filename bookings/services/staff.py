"""Staff take a booking: a phone booking for a later time, or a walk-in seated now.

The same path as a guest's booking (``booking_create``: admission under the day lock, the planner
or the tables staff chose, the exclusion constraint, the Idempotency-Key, the queue), with
``source = staff``. Staff may place a booking past the capacity rules only where the restaurant
allows it; the override is recorded on the booking and as an event naming who placed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, time
from typing import Any

import flags
from bookings.availability import add_alternatives
from bookings.config import RestaurantConfig, restaurant_versions
from bookings.errors import CapacityExceeded, SlotUnavailable
from bookings.models import Booking
from bookings.services.admission import BookingRequest
from bookings.services.changes import OverrideNotAllowed, booking_set_status
from bookings.services.create import BookingOutcome, Render, booking_create
from bookings.services.idempotency import IdempotencyRequest, StoredResponse
from bookings.slots import local_datetime

WALK_IN_NAME = "Walk-in"


def walk_in_start(config: RestaurantConfig, *, now: datetime) -> datetime:
    """Return when a party walking in now starts: the slot it arrived in (19:07 -> 19:00).

    Counted in that slot's covers and pacing like a booking for 19:00; admission keeps its table
    for the turn time from now (decision 0013). Refused outside service, opening to last seating.
    """
    restaurant = config.restaurant
    local = now.astimezone(config.tz)
    minutes = local.hour * 60 + local.minute
    step = restaurant.slot_interval_minutes
    periods = config.periods_on(local.date())
    for period in periods:
        opens = period.opens.hour * 60 + period.opens.minute
        last = period.last_seating.hour * 60 + period.last_seating.minute
        if opens <= minutes:
            start = opens + (minutes - opens) // step * step
            if start <= last:
                return local_datetime(restaurant, local.date(), time(start // 60, start % 60))
    hours = ", ".join(f"{p.opens:%H:%M}–{p.last_seating:%H:%M}" for p in periods)
    raise SlotUnavailable(
        f"Walk-ins are seated during service, from opening to last seating ({hours} today)."
        if hours
        else "The restaurant has no service today, so it cannot seat a walk-in."
    )


def staff_booking_request(
    config: RestaurantConfig, data: Mapping[str, Any], *, walk_in: bool, tables: Sequence[str], now: datetime
) -> BookingRequest:
    """Return what staff asked for (the API's or the admin form's cleaned data) as a BookingRequest:
    a walk-in starts in the slot it arrived in, a phone booking at the date and time given."""
    starts_at = (
        walk_in_start(config, now=now)
        if walk_in
        else local_datetime(config.restaurant, data["date"], data["time"])
    )
    return BookingRequest(
        party_size=data["party_size"],
        starts_at=starts_at,
        guest_name=data["guest_name"],
        guest_email=data["guest_email"],
        guest_phone=data["guest_phone"],
        notes=data["notes"],
        walk_in=walk_in,
        table_labels=tuple(tables),
    )


def booking_staff_create(
    *,
    config: RestaurantConfig,
    request: BookingRequest,
    actor_id: int,
    override: bool = False,
    idempotency: IdempotencyRequest | None = None,
    render: Render | None = None,
) -> BookingOutcome | StoredResponse:
    """Take a booking for staff: admitted and seated like a guest's, ``source = staff``.

    A phone booking names its time; a walk-in (``request.walk_in``) starts now and is seated at
    once. ``request.table_labels`` are the tables staff chose (none: the planner chooses).
    ``override`` places it past the capacity rules where the restaurant allows it (audited).
    A refusal of a phone booking names the nearest bookable times.
    """
    restaurant = config.restaurant
    if override and not restaurant.allow_staff_override:
        raise OverrideNotAllowed("This restaurant does not allow staff to override its capacity rules.")
    request = replace(
        request,
        source=Booking.Source.STAFF,
        staff_id=actor_id,
        guest_name=request.guest_name.strip() or (WALK_IN_NAME if request.walk_in else ""),
    )
    flag_values = flags.get_all(restaurant)
    try:
        result = booking_create(
            config=config,
            request=request,
            idempotency=idempotency,
            render=render,
            flag_values=flag_values,
            staff_override=override,
        )
    except (CapacityExceeded, SlotUnavailable) as exc:
        local = request.starts_at.astimezone(config.tz)
        # Staff traffic is light: the day's versions are read only for a refusal's alternatives.
        versions = None if request.walk_in else restaurant_versions(restaurant.slug, local.date())
        if versions is not None:
            add_alternatives(
                exc,
                versions,
                local.date(),
                local.time().replace(tzinfo=None),
                request.party_size,
                config=config,
                flag_values=flag_values,
            )
        raise
    if (
        isinstance(result, BookingOutcome)
        and request.walk_in
        and result.booking.status == Booking.Status.CONFIRMED
    ):
        # Its tables came from an inline retry after a lost race, which confirms: seat it now.
        result.booking = booking_set_status(
            booking=result.booking, status=Booking.Status.SEATED, actor_id=actor_id
        )
    return result
