"""Accept a waitlist offer: its hold becomes a booking through the ordinary hold conversion.

Kept apart from bookings.services.waitlist because booking creation imports the tasks module,
which imports the waitlist services.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from bookings.config import config_for
from bookings.errors import HoldExpired, HoldMismatch, HoldNotFound
from bookings.models import Booking, WaitlistEntry
from bookings.services.admission import BookingRequest
from bookings.services.create import BookingOutcome, booking_create
from bookings.services.idempotency import IdempotencyRequest, request_fingerprint
from bookings.services.staff import booking_staff_create, walk_in_start
from bookings.services.waitlist import (
    OfferExpired,
    OfferNotOpen,
    WaitlistUnavailable,
    waitlist_by_token,
    waitlist_mark_accepted,
    waitlist_mark_seated,
)


def waitlist_accept(*, token: str, now: datetime | None = None) -> tuple[WaitlistEntry, Booking]:
    """Turn the entry's open offer into a confirmed booking; accepting twice answers the same booking.

    The booking is created with an Idempotency-Key of the offer's hold, so concurrent or repeated
    accepts make one booking; the hold's own checks refuse an offer released or past its time.
    """
    now = now or timezone.now()
    entry = waitlist_by_token(token)
    if entry.status == WaitlistEntry.Status.ACCEPTED and entry.booking is not None:
        return entry, entry.booking
    hold = entry.hold
    if entry.status != WaitlistEntry.Status.OFFERED or hold is None:
        raise OfferNotOpen(f"This waitlist entry is {entry.get_status_display().lower()}; no offer is open.")
    if entry.offer_expires_at is not None and entry.offer_expires_at <= now:
        raise OfferExpired("This offer has expired; you are off the waitlist for that day.")
    request = BookingRequest(
        party_size=entry.party_size,
        starts_at=hold.starts_at,
        guest_name=entry.guest_name,
        guest_email=entry.guest_email,
        guest_phone=entry.guest_phone,
        notes=entry.notes,
        source=entry.source,  # the same three values as a booking's source
        hold_id=hold.pk,
    )
    key = f"waitlist-offer:{hold.pk}"
    try:
        result = booking_create(
            config=config_for(entry.restaurant_id),
            request=request,
            idempotency=IdempotencyRequest(key=key, fingerprint=request_fingerprint({"offer": key})),
        )
    except (HoldNotFound, HoldExpired, HoldMismatch) as exc:
        # Released by an expiry or a decline that won the race for the hold's row.
        raise OfferExpired("This offer is no longer open; you are off the waitlist for that day.") from exc
    if not isinstance(result, BookingOutcome):  # no answer is stored without a render
        raise RuntimeError("waitlist acceptance got a stored answer")
    waitlist_mark_accepted(entry=entry, booking_id=result.booking.pk, now=now)
    entry.refresh_from_db()
    return entry, result.booking


def waitlist_seat_walk_in(*, entry: WaitlistEntry, actor_id: int, now: datetime | None = None) -> Booking:
    """Seat a guest waiting at the door now: a staff walk-in booking (seated), the entry accepted.

    Admitted like any walk-in (capacity under the day lock, the planner, the exclusion constraint),
    with an Idempotency-Key of the entry, so pressing "Seat now" twice seats the party once.
    """
    now = now or timezone.now()
    config = config_for(entry.restaurant_id)
    if entry.status != WaitlistEntry.Status.WAITING:
        raise OfferNotOpen(f"{entry.guest_name} is {entry.get_status_display().lower()}, not waiting.")
    if entry.date != now.astimezone(config.tz).date():
        raise WaitlistUnavailable("Only guests waiting for today can be seated now.")
    key = f"waitlist-seat:{entry.token}"
    result = booking_staff_create(
        config=config,
        request=BookingRequest(
            party_size=entry.party_size,
            starts_at=walk_in_start(config, now=now),
            guest_name=entry.guest_name,
            guest_email=entry.guest_email,
            guest_phone=entry.guest_phone,
            notes=entry.notes,
            walk_in=True,
        ),
        actor_id=actor_id,
        idempotency=IdempotencyRequest(key=key, fingerprint=request_fingerprint({"seat": key})),
    )
    if not isinstance(result, BookingOutcome):  # no answer is stored without a render
        raise RuntimeError("seating a waiting guest got a stored answer")
    waitlist_mark_seated(entry=entry, booking_id=result.booking.pk, now=now)
    return result.booking
