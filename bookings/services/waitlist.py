"""The waitlist (issue 17): guests wait for a day and a window; freed capacity becomes offers.

An offer is a hold that lasts ``waitlist.offer_minutes``, placed by the background allocator under
the day lock for the first waiting entry whose party fits. Accepting converts the hold into a
booking through the ordinary hold path (bookings.services.waitlist_accept); declining or letting
it expire releases the hold and passes the capacity to the next entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import flags
from bookings.availability import availability_day
from bookings.config import RestaurantConfig, config_for
from bookings.errors import CapacityExceeded, DomainError, HoldConflict, SlotUnavailable
from bookings.locking import busy_means_retry, lock_service_days
from bookings.models import Booking, Hold, TableOccupancy, WaitlistEntry
from bookings.outbox import enqueue_message, enqueue_waitlist_offers
from bookings.services.holds import hold_place
from bookings.services.idempotency import (
    IdempotencyKeyReused,
    IdempotencyRequest,
    StoredResponse,
    idempotency_claim,
    idempotency_complete,
)
from bookings.services.planning import emit_on_commit
from bookings.slots import local_datetime
from bookings.text import strip_bidi
from observability import metrics

logger = logging.getLogger(__name__)

# Bound one run's work: each try is a locked read and a plan (a long list times a wide window).
MAX_TRIES_PER_RUN = 300


class WaitlistNotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class WaitlistUnavailable(DomainError):
    """The day cannot be waited for: past, beyond the horizon or closed."""

    code = "WAITLIST_UNAVAILABLE"
    status = 409


class OfferNotOpen(DomainError):
    code = "OFFER_NOT_OPEN"
    status = 409


class OfferExpired(DomainError):
    code = "OFFER_EXPIRED"
    status = 410


@dataclass(frozen=True, slots=True)
class WaitlistRequest:
    """A guest's wish to wait: one value from the API or admin to the service."""

    local_date: date
    earliest_time: time
    latest_time: time
    party_size: int
    guest_name: str
    guest_email: str = ""
    guest_phone: str = ""
    notes: str = ""
    source: str = WaitlistEntry.Source.API

    def __post_init__(self) -> None:
        object.__setattr__(self, "guest_name", strip_bidi(self.guest_name))
        object.__setattr__(self, "notes", strip_bidi(self.notes))


# Builds the HTTP answer (status, body) of a new entry; stored with the Idempotency-Key for replays.
RenderEntry = Callable[[WaitlistEntry], tuple[int, dict[str, Any]]]


def waitlist_join(
    *,
    config: RestaurantConfig,
    request: WaitlistRequest,
    idempotency: IdempotencyRequest | None = None,
    render: RenderEntry | None = None,
    now: datetime | None = None,
) -> WaitlistEntry | StoredResponse:
    """Put a guest on a day's waitlist; an offer run follows the commit (there may be room already).

    With an Idempotency-Key, a repeated request gets the first one's answer (as bookings do).
    """
    now = now or timezone.now()
    restaurant = config.restaurant
    waitlist_check(config, request, now=now)
    with transaction.atomic(durable=True):
        key_id: int | None = None
        if idempotency is not None:
            claim = idempotency_claim(restaurant_id=restaurant.pk, request=idempotency, now=now)
            if isinstance(claim, StoredResponse):
                return claim
            if isinstance(claim, Booking):  # the key was used for a booking
                raise IdempotencyKeyReused("This Idempotency-Key was already used for a booking.")
            key_id = claim
        entry = WaitlistEntry.objects.create(
            restaurant=restaurant,
            date=request.local_date,
            earliest_time=request.earliest_time,
            latest_time=request.latest_time,
            party_size=request.party_size,
            guest_name=request.guest_name,
            guest_email=request.guest_email,
            guest_phone=request.guest_phone,
            notes=request.notes,
            source=request.source,
        )
        if key_id is not None and render is not None:
            status, body = render(entry)
            idempotency_complete(key_id=key_id, booking_id=None, status=status, body=body)
        emit_on_commit(
            "waitlist.joined", restaurant_id=restaurant.pk, entry_id=entry.pk, party_size=entry.party_size
        )
        transaction.on_commit(partial(enqueue_waitlist_offers, restaurant.pk, request.local_date))
    return entry


def waitlist_check(config: RestaurantConfig, request: WaitlistRequest, *, now: datetime) -> None:
    """Raise WaitlistUnavailable when the day cannot be waited for (past, too far, closed, over)."""
    restaurant = config.restaurant
    today = now.astimezone(config.tz).date()
    if request.local_date < today:
        raise WaitlistUnavailable("That day has passed.")
    if request.local_date > today + timedelta(days=restaurant.booking_horizon_days):
        raise WaitlistUnavailable(f"Bookings open {restaurant.booking_horizon_days} days ahead.")
    if not config.periods_on(request.local_date):
        raise WaitlistUnavailable("The restaurant is closed that day.")
    if request.earliest_time > request.latest_time:
        raise WaitlistUnavailable("The window ends before it starts.")
    if not (request.guest_email or request.guest_phone):
        raise WaitlistUnavailable("An email or a phone number is needed for the offer.")
    if local_datetime(restaurant, request.local_date, request.latest_time) <= now:
        raise WaitlistUnavailable("Every time in that window has passed.")


@dataclass(frozen=True, slots=True)
class QuotedWait:
    """When a party walking in now could sit down: the earliest free start time today."""

    starts_at: datetime
    minutes: int


def waitlist_quoted_wait(*, config: RestaurantConfig, party_size: int, now: datetime) -> QuotedWait | None:
    """Return the earliest time today a table set seats the party (turn times and bookings as they
    stand, holds and waiting bookings counted), or None when nothing frees up today."""
    today = now.astimezone(config.tz).date()
    for slot in availability_day(config.restaurant, today, party_size, now=now, config=config):
        if slot.available:  # times already begun are never available
            minutes = max(0, int((slot.starts_at - now).total_seconds() // 60))
            return QuotedWait(starts_at=slot.starts_at, minutes=minutes)
    return None


def window_starts(config: RestaurantConfig, entry: WaitlistEntry, now: datetime) -> Iterator[datetime]:
    """Yield the slot-grid start times of the entry's window that are still to come, earliest first."""
    step = config.restaurant.slot_interval_minutes
    first = entry.earliest_time.hour * 60 + entry.earliest_time.minute
    last = entry.latest_time.hour * 60 + entry.latest_time.minute
    minutes = -(-first // step) * step  # rounded up onto the grid
    while minutes <= last:
        starts_at = local_datetime(config.restaurant, entry.date, time(minutes // 60, minutes % 60))
        if starts_at > now:
            yield starts_at
        minutes += step


def waitlist_offer_run(
    *,
    restaurant_id: int,
    local_date: date,
    freed_at: datetime | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Offer the day's free capacity to its waitlist in order; return the entries offered a table.

    Under the day lock, so concurrent runs, admissions and accepts are serialised: each waiting
    entry (first come first served) gets a hold at the earliest time of its window that fits,
    until no try is left. Holds placed for earlier entries count against later ones. An entry
    whose window has passed expires.

    Only the times the day's availability (read before the lock, cached by day version) shows
    free for the party are tried, and a run with nothing to try does not take the lock: the
    sweeper's runs of a full day cost admissions nothing. A time freed after that read is offered
    by the run its own change enqueues.
    """
    now = now or timezone.now()
    config = config_for(restaurant_id)
    flag_values = flags.get_all(config.restaurant)
    ttl = timedelta(minutes=int(flag_values["waitlist.offer_minutes"]))
    free: dict[int, set[datetime]] = {}

    def candidates(entry: WaitlistEntry) -> list[datetime]:
        if entry.party_size not in free:
            free[entry.party_size] = {
                slot.starts_at
                for slot in availability_day(
                    config.restaurant,
                    local_date,
                    entry.party_size,
                    now=now,
                    config=config,
                    flag_values=flag_values,
                )
                if slot.available
            }
        return [s for s in window_starts(config, entry, now) if s in free[entry.party_size]]

    waiting = WaitlistEntry.objects.filter(restaurant_id=restaurant_id, date=local_date).waiting()
    if not any(candidates(e) or not any(window_starts(config, e, now)) for e in waiting):
        return []
    offered: list[int] = []
    expired: list[int] = []
    with busy_means_retry(), transaction.atomic(durable=True):
        lock_service_days(restaurant_id, [local_date])
        entries = list(
            WaitlistEntry.objects.filter(restaurant_id=restaurant_id, date=local_date)
            .waiting()
            .select_for_update(no_key=True)
        )
        tries = 0
        for entry in entries:
            if not any(window_starts(config, entry, now)):
                expired.append(entry.pk)
                continue
            for starts_at in candidates(entry):
                if tries >= MAX_TRIES_PER_RUN:
                    break
                tries += 1
                hold = _try_hold(config, entry, starts_at, now=now, flag_values=flag_values, ttl=ttl)
                if hold is None:
                    continue
                # The row is locked and waiting: the guard only documents what the lock ensures.
                changed = WaitlistEntry.objects.filter(
                    pk=entry.pk, status=WaitlistEntry.Status.WAITING, hold__isnull=True
                ).update(
                    status=WaitlistEntry.Status.OFFERED,
                    hold=hold,
                    offered_at=now,
                    offer_expires_at=hold.expires_at,
                    offers_made=F("offers_made") + 1,
                    freed_at=freed_at or now,
                    updated_at=now,
                )
                if changed != 1:
                    raise RuntimeError(f"waitlist entry {entry.pk} changed under the day lock")
                offered.append(entry.pk)
                emit_on_commit(
                    "waitlist.offered",
                    restaurant_id=restaurant_id,
                    entry_id=entry.pk,
                    hold_id=str(hold.pk),
                    party_size=entry.party_size,
                )
                transaction.on_commit(partial(enqueue_message, "waitlist_offer", entry.pk))
                break
        if expired:
            WaitlistEntry.objects.filter(pk__in=expired, status=WaitlistEntry.Status.WAITING).update(
                status=WaitlistEntry.Status.EXPIRED, updated_at=now
            )
    if offered:
        metrics.WAITLIST_OFFERS.labels("sent").inc(len(offered))
    if expired:
        metrics.WAITLIST_OFFERS.labels("window_passed").inc(len(expired))
    return offered


def _try_hold(
    config: RestaurantConfig,
    entry: WaitlistEntry,
    starts_at: datetime,
    *,
    now: datetime,
    flag_values: dict[str, Any],
    ttl: timedelta,
) -> Hold | None:
    """Place the offer's hold in a savepoint; None when the time is full, closed or just taken."""
    try:
        with transaction.atomic():
            return hold_place(
                config=config,
                party_size=entry.party_size,
                starts_at=starts_at,
                now=now,
                flag_values=flag_values,
                ttl=ttl,
            )
    except (CapacityExceeded, SlotUnavailable, HoldConflict):
        return None


def _close_offer(
    entry_id: int, status: str, *, now: datetime, overdue_only: bool = False
) -> WaitlistEntry | None:
    """End an open offer with ``status`` and release its hold; return the entry, None if no offer.

    An offer whose hold already became a booking (its accept committed, the entry not yet marked)
    is marked accepted instead. Passing the capacity on is enqueued after the commit.
    """
    with transaction.atomic(durable=True):
        entry = (
            WaitlistEntry.objects.select_for_update(no_key=True)
            .select_related("restaurant")
            .filter(pk=entry_id)
            .first()
        )
        if entry is None or entry.status != WaitlistEntry.Status.OFFERED or entry.hold_id is None:
            return None
        if overdue_only and entry.offer_expires_at is not None and entry.offer_expires_at > now:
            return None
        # The hold's row lock serialises this with a conversion (admission locks it too).
        hold = Hold.objects.select_for_update(no_key=True).get(pk=entry.hold_id)
        if hold.booking_id is not None:
            _mark_accepted(entry, hold.booking_id, now=now)
            return entry
        if hold.released_at is None:
            Hold.objects.filter(pk=hold.pk).update(released_at=now)
            TableOccupancy.objects.active().filter(hold_id=hold.pk).update(released_at=now)
        entry.status, entry.hold = status, None
        entry.save(update_fields=["status", "hold", "updated_at"])
        emit_on_commit(
            f"waitlist.{status}",
            restaurant_id=entry.restaurant_id,
            entry_id=entry.pk,
            hold_id=str(hold.pk),
        )
        transaction.on_commit(partial(enqueue_waitlist_offers, entry.restaurant_id, entry.date, now))
    metrics.WAITLIST_OFFERS.labels(status).inc()
    return entry


def _mark_accepted(entry: WaitlistEntry, booking_id: int, *, now: datetime) -> bool:
    """Mark an offered entry accepted with its booking (inside a transaction); False if it was not open."""
    changed = WaitlistEntry.objects.filter(pk=entry.pk, status=WaitlistEntry.Status.OFFERED).update(
        status=WaitlistEntry.Status.ACCEPTED, booking_id=booking_id, hold=None, updated_at=now
    )
    if not changed:
        return False
    entry.status, entry.booking_id, entry.hold = WaitlistEntry.Status.ACCEPTED, booking_id, None
    emit_on_commit(
        "waitlist.accepted", restaurant_id=entry.restaurant_id, booking_id=booking_id, entry_id=entry.pk
    )
    # The confirmation sweeper may have claimed it already (the booking committed first). A booking
    # the no-show rule holds for staff is not confirmed yet: the sweeper sends it once staff confirm.
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            "INSERT INTO bookings_guestmessage (booking_id, kind, queued_at)"
            " SELECT id, %s, %s FROM bookings_booking WHERE id = %s AND status = 'confirmed'"
            " ON CONFLICT (booking_id, kind) DO NOTHING RETURNING booking_id",
            ["booking_confirmation", now, booking_id],
        )
        claimed = cursor.fetchone() is not None
    if claimed:
        transaction.on_commit(partial(enqueue_message, "booking_confirmation", booking_id))
    metrics.WAITLIST_OFFERS.labels("accepted").inc()
    if entry.freed_at is not None:
        metrics.WAITLIST_FREED_TO_ACCEPTED.observe(max(0.0, (now - entry.freed_at).total_seconds()))
    return True


def waitlist_mark_seated(*, entry: WaitlistEntry, booking_id: int, now: datetime | None = None) -> bool:
    """Record that a waiting guest was seated as a walk-in with this booking; False if no longer waiting."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        changed = WaitlistEntry.objects.filter(pk=entry.pk, status=WaitlistEntry.Status.WAITING).update(
            status=WaitlistEntry.Status.ACCEPTED, booking_id=booking_id, updated_at=now
        )
        if changed:
            emit_on_commit(
                "waitlist.accepted",
                restaurant_id=entry.restaurant_id,
                booking_id=booking_id,
                entry_id=entry.pk,
            )
    return bool(changed)


def waitlist_mark_accepted(*, entry: WaitlistEntry, booking_id: int, now: datetime | None = None) -> bool:
    """Record that the entry's offer became this booking (after the booking's commit)."""
    with transaction.atomic(durable=True):
        return _mark_accepted(entry, booking_id, now=now or timezone.now())


def waitlist_decline(*, token: str, now: datetime | None = None) -> WaitlistEntry:
    """Decline the open offer (the next entry gets the table), or leave the list while waiting."""
    now = now or timezone.now()
    entry = waitlist_by_token(token)
    if entry.status == WaitlistEntry.Status.OFFERED:
        closed = _close_offer(entry.pk, WaitlistEntry.Status.DECLINED, now=now)
        if closed is not None:
            return closed
        entry.refresh_from_db()
    if entry.status == WaitlistEntry.Status.WAITING:
        changed = WaitlistEntry.objects.filter(pk=entry.pk, status=WaitlistEntry.Status.WAITING).update(
            status=WaitlistEntry.Status.CANCELLED, updated_at=now
        )
        if changed:
            entry.status = WaitlistEntry.Status.CANCELLED
            return entry
        entry.refresh_from_db()
    if entry.status in (WaitlistEntry.Status.DECLINED, WaitlistEntry.Status.CANCELLED):
        return entry  # declining twice is fine
    raise OfferNotOpen(f"This waitlist entry is {entry.get_status_display().lower()}; nothing to decline.")


def waitlist_expire_offers(*, now: datetime | None = None) -> int:
    """Expire open offers past their time (their holds released, the next entries offered)."""
    now = now or timezone.now()
    overdue = list(WaitlistEntry.objects.offer_overdue(now).values_list("pk", flat=True)[:500])
    closed = 0
    for entry_id in overdue:
        if _close_offer(entry_id, WaitlistEntry.Status.EXPIRED, now=now, overdue_only=True) is not None:
            closed += 1
    return closed


def waitlist_days_waiting(*, now: datetime | None = None) -> list[tuple[int, date]]:
    """Return the (restaurant, day) pairs with guests waiting, from yesterday on (late services)."""
    now = now or timezone.now()
    since = (now - timedelta(days=1)).date()
    return list(
        WaitlistEntry.objects.filter(status=WaitlistEntry.Status.WAITING, date__gte=since)
        .values_list("restaurant_id", "date")
        .distinct()
        .order_by("restaurant_id", "date")
    )


def waitlist_by_token(token: str) -> WaitlistEntry:
    entry = WaitlistEntry.objects.select_related("restaurant", "hold", "booking").filter(token=token).first()
    if entry is None:
        raise WaitlistNotFound("No waitlist entry has that link.")
    return entry
