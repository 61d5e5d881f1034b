"""Booking reads for the API: what a guest or staff member sees of a booking."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import F, Func, Q, QuerySet, Value
from django.db.models.functions import Lower, Trim
from django.urls import reverse

from bookings.models import Booking, Restaurant, TableOccupancy
from observability.models import AllocationAttempt


def tables_by_booking(booking_ids: list[int]) -> dict[int, list[str]]:
    """Return the labels of the tables each booking holds now."""
    tables: dict[int, list[str]] = defaultdict(list)
    for booking_id, label in (
        TableOccupancy.objects.active()
        .filter(booking_id__in=booking_ids)
        .order_by("table__label")
        .values_list("booking_id", "table__label")
    ):
        tables[booking_id].append(label)
    return tables


def allocation_summary(
    booking: Booking, *, attempts: list[AllocationAttempt] | None = None, inline_ms: float | None = None
) -> dict[str, Any]:
    """Summarise how the booking's tables were found (or why not yet)."""
    if attempts is None:
        attempts = list(AllocationAttempt.objects.filter(booking_id=booking.pk).order_by("created_at"))
    reason = booking.allocation_reason or {}
    if "converted_from_hold" in reason:
        mode: str | None = "hold"
    elif attempts:
        mode = next((a.mode for a in attempts if a.outcome == "assigned"), attempts[-1].mode)
    else:
        mode = None
    assigned = next((a for a in attempts if a.outcome == "assigned"), None)
    last_failure = next((a.failure_reason for a in reversed(attempts) if a.failure_reason), None)
    return {
        "mode": mode,
        "attempts": len(attempts),
        "inline_ms": round(inline_ms, 2) if inline_ms is not None else None,
        "background": any(a.mode == "background" for a in attempts)
        or (booking.status == Booking.Status.PENDING and booking.allocation_enqueued_at is not None),
        "seat_waste": assigned.seat_waste if assigned else None,
        "failure_reason": None if assigned else (booking.status_reason or last_failure),
    }


def booking_public(
    booking: Booking,
    *,
    tables: list[str] | None = None,
    attempts: list[AllocationAttempt] | None = None,
    inline_ms: float | None = None,
) -> dict[str, Any]:
    """Return what the holder of a booking reference may see (no contact details)."""
    tz = booking.restaurant.tz
    local = booking.starts_at.astimezone(tz)
    if tables is None:
        tables = tables_by_booking([booking.pk]).get(booking.pk, [])
    return {
        "reference": booking.reference,
        "code": booking.code,
        "restaurant": booking.restaurant.slug,
        "status": booking.status,
        "status_reason": booking.status_reason,
        "awaiting_staff": booking.awaiting_staff and booking.status == Booking.Status.PENDING,
        "party_size": booking.party_size,
        "date": local.date(),
        "time": local.time().replace(tzinfo=None),
        "starts_at": booking.starts_at,
        "ends_at": booking.ends_at,
        "tables": tables,
        "allocation": allocation_summary(booking, attempts=attempts, inline_ms=inline_ms),
        "poll_url": reverse("booking-detail", kwargs={"reference": booking.reference}),
    }


def booking_staff(
    booking: Booking, *, tables: list[str], attempts: list[AllocationAttempt]
) -> dict[str, Any]:
    return {
        **booking_public(booking, tables=tables, attempts=attempts),
        "id": booking.pk,
        "guest_name": booking.guest_name,
        "guest_email": booking.guest_email,
        "guest_phone": booking.guest_phone,
        "notes": booking.notes,
        "source": booking.source,
        "capacity_override": booking.capacity_override,
    }


def bookings_of_day(restaurant: Restaurant, local_date: date) -> QuerySet[Booking]:
    tz = restaurant.tz
    start = datetime.combine(local_date, time(0), tzinfo=tz)
    end = datetime.combine(local_date, time(23, 59, 59, 999999), tzinfo=tz)
    return (
        Booking.objects.filter(restaurant=restaurant, starts_at__gte=start, starts_at__lte=end)
        .select_related("restaurant")
        .order_by("starts_at", "pk")
    )


def staff_day(restaurant: Restaurant, local_date: date) -> list[dict[str, Any]]:
    """Return the day's bookings with guest details, tables and attempts, in three queries."""
    bookings = list(bookings_of_day(restaurant, local_date))
    ids = [b.pk for b in bookings]
    tables = tables_by_booking(ids)
    attempts: dict[int, list[AllocationAttempt]] = defaultdict(list)
    for attempt in AllocationAttempt.objects.filter(booking_id__in=ids).order_by("created_at"):
        attempts[attempt.booking_id].append(attempt)
    return [booking_staff(b, tables=tables.get(b.pk, []), attempts=attempts[b.pk]) for b in bookings]


GUEST_HISTORY_WINDOW = timedelta(days=365)


def _phone_digits(field: str) -> Func:
    return Func(F(field), Value(r"\D"), Value(""), Value("g"), function="regexp_replace")


def guest_past_bookings(
    restaurant_id: int, *, email: str, phone: str, now: datetime, exclude_pk: int | None = None
) -> QuerySet[Booking] | None:
    """Return the guest's bookings at this restaurant over the last twelve months, or None.

    The guest is matched by email in any case or by the digits of their phone, so "+44 (1223)
    555-0100" and "+44 1223 555 0100" are one guest; None when neither can identify them.
    """
    email = email.strip().lower()
    digits = re.sub(r"\D", "", phone)
    match = Q()
    if email:
        match |= Q(email_key=email)
    if len(digits) >= 6:  # fewer digits would match strangers
        match |= Q(phone_key=digits)
    if not match:
        return None
    bookings = Booking.objects.filter(restaurant_id=restaurant_id, starts_at__gte=now - GUEST_HISTORY_WINDOW)
    if exclude_pk is not None:
        bookings = bookings.exclude(pk=exclude_pk)
    return bookings.annotate(
        email_key=Lower(Trim("guest_email")), phone_key=_phone_digits("guest_phone")
    ).filter(match)
