"""Messages about bookings sent off the booking path (issue 17): the confirmation, once per booking,
and a reminder ``reminders.hours`` before, with confirm and cancel links."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

import flags
from bookings.errors import BookingNotFound, InvalidTransition
from bookings.models import Booking, BookingReminder
from bookings.outbox import enqueue_message
from bookings.services.planning import emit_on_commit
from observability import metrics

logger = logging.getLogger(__name__)

BOOKING_CONFIRMATION = "booking_confirmation"  # the message kind (bookings.messages)

# Longest reminder lead the flag allows; bookings further ahead are not looked at.
MAX_LEAD = timedelta(days=7)
# A booking made this recently gets no reminder: the guest has just seen its confirmation.
FRESH_BOOKING = timedelta(hours=1)

_QUEUE_SQL = """
INSERT INTO bookings_bookingreminder (booking_id, queued_at)
SELECT id, %(now)s FROM bookings_booking
WHERE restaurant_id = %(restaurant_id)s AND status = 'confirmed'
  AND starts_at > %(now)s AND starts_at <= %(until)s AND created_at <= %(fresh)s
  AND (guest_email <> '' OR guest_phone <> '')
ON CONFLICT (booking_id) DO NOTHING
RETURNING booking_id
"""


def reminders_queue_due(*, now: datetime | None = None) -> list[int]:
    """Queue the reminder of every confirmed booking now within its restaurant's reminder lead.

    Each booking is reminded once: its reminder row is inserted or already there. The messages go
    out on the notifications queue after the commit.
    """
    now = now or timezone.now()
    restaurant_ids = list(
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED, starts_at__gt=now, starts_at__lte=now + MAX_LEAD
        )
        .values_list("restaurant_id", flat=True)
        .distinct()
    )
    queued: list[int] = []
    with transaction.atomic(durable=True):
        for restaurant_id in restaurant_ids:
            hours = int(flags.get("reminders.hours", restaurant_id))
            if hours <= 0:
                continue
            params: dict[str, datetime | int] = {
                "now": now,
                "until": now + timedelta(hours=hours),
                "fresh": now - FRESH_BOOKING,
                "restaurant_id": restaurant_id,
            }
            with connection.cursor() as cursor:
                cursor.execute(_QUEUE_SQL, params)
                queued += [row[0] for row in cursor.fetchall()]
        for booking_id in queued:
            transaction.on_commit(partial(enqueue_message, "booking_reminder", booking_id))
    return queued


def booking_guest_confirm(*, reference: str, now: datetime | None = None) -> Booking:
    """Record that the guest is coming (the reminder's confirm link); confirming twice is fine."""
    now = now or timezone.now()
    booking = Booking.objects.select_related("restaurant").filter(reference=reference).first()
    if booking is None:
        raise BookingNotFound("No booking has that reference.")
    if booking.status != Booking.Status.CONFIRMED:
        raise InvalidTransition(f"A {booking.get_status_display().lower()} booking cannot be confirmed.")
    with transaction.atomic(durable=True):
        reminder, _ = BookingReminder.objects.get_or_create(booking=booking, defaults={"queued_at": now})
        if reminder.confirmed_at is None:
            reminder.confirmed_at = now
            reminder.save(update_fields=["confirmed_at"])
            emit_on_commit(
                "booking.guest_confirmed", restaurant_id=booking.restaurant_id, booking_id=booking.pk
            )
            transaction.on_commit(metrics.GUEST_CONFIRMATIONS.inc)
    return booking


# Confirmations are queued for bookings confirmed this recently (a first run after an upgrade does
# not write to every guest of the past).
CONFIRMATION_LOOKBACK = timedelta(hours=1)

_CONFIRMATIONS_SQL = """
INSERT INTO bookings_guestmessage (booking_id, kind, queued_at)
SELECT id, %(kind)s, %(now)s FROM bookings_booking
WHERE status = 'confirmed' AND confirmed_at >= %(since)s AND starts_at > %(now)s
  AND (guest_email <> '' OR guest_phone <> '')
ON CONFLICT (booking_id, kind) DO NOTHING
RETURNING booking_id
"""


def confirmations_queue_due(*, now: datetime | None = None) -> list[int]:
    """Queue the confirmation message of every booking newly confirmed, each once.

    A sweep, not a step of the booking: booking stays one commit with no Redis round trip for
    its message, and the guest hears within one sweep (30 s by default).
    """
    now = now or timezone.now()
    params: dict[str, datetime | str] = {
        "kind": BOOKING_CONFIRMATION,
        "now": now,
        "since": now - CONFIRMATION_LOOKBACK,
    }
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(_CONFIRMATIONS_SQL, params)
            queued = [row[0] for row in cursor.fetchall()]
        for booking_id in queued:
            transaction.on_commit(partial(enqueue_message, BOOKING_CONFIRMATION, booking_id))
    return queued
