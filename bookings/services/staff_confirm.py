"""Staff decide on a booking the no-show rule held (bookings/services/screening.py): confirm or decline."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.db import transaction
from django.utils import timezone

from bookings.errors import InvalidTransition
from bookings.models import Booking, TableOccupancy
from bookings.services.changes import booking_cancel
from bookings.services.planning import emit_on_commit
from bookings.tasks import enqueue_allocation

DECLINED_REASON = "declined by staff (no-show history)"


def _not_awaiting(booking: Booking | None) -> InvalidTransition:
    state = booking.get_status_display().lower() if booking is not None else "gone"
    return InvalidTransition(f"This booking is {state}, not awaiting staff confirmation.")


def booking_staff_confirm(*, booking: Booking, actor_id: int, now: datetime | None = None) -> Booking:
    """Confirm a booking the no-show rule held; confirming twice is fine.

    The booking keeps the tables it was admitted with. One that lost them to a race at admission
    (it has none) now waits for tables like any pending booking: the allocator is asked after commit.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        current = Booking.objects.select_for_update(no_key=True).filter(pk=booking.pk).first()
        if current is None or current.status != Booking.Status.PENDING or not current.awaiting_staff:
            if current is not None and current.status == Booking.Status.CONFIRMED and current.awaiting_staff:
                return current  # confirmed already (a second click, another member of staff)
            raise _not_awaiting(current)
        has_tables = TableOccupancy.objects.active().filter(booking=current).exists()
        current.status_reason = ""
        if has_tables:
            # awaiting_staff stays set on the confirmed booking: the record that staff vouched for it.
            current.status = Booking.Status.CONFIRMED
            current.confirmed_at = now
            current.save(update_fields=["status", "confirmed_at", "status_reason", "updated_at"])
        else:
            current.awaiting_staff = False
            current.save(update_fields=["awaiting_staff", "status_reason", "updated_at"])
            transaction.on_commit(partial(enqueue_allocation, current.pk))
        emit_on_commit(
            "booking.staff_confirmed",
            restaurant_id=current.restaurant_id,
            booking_id=current.pk,
            approver_id=actor_id,
            outcome="confirmed" if has_tables else "waiting_for_tables",
        )
    return current


def booking_staff_decline(*, booking: Booking, actor_id: int, now: datetime | None = None) -> Booking:
    """Decline a booking the no-show rule held: cancel it, so its tables pass to the waitlist."""
    current = Booking.objects.select_related("restaurant").filter(pk=booking.pk).first()
    if current is not None and current.status == Booking.Status.CANCELLED and current.awaiting_staff:
        return current  # declined already
    if current is None or current.status != Booking.Status.PENDING or not current.awaiting_staff:
        raise _not_awaiting(current)
    # The cancellation frees the tables, tells the guest and offers the table to the waitlist.
    return booking_cancel(booking=current, now=now, reason=DECLINED_REASON, actor_id=actor_id)
