"""Guest messages: email through Django's email framework (plain text + HTML), SMS through a
pluggable backend (``SMS_BACKEND``; the console one prints).

Sent by ``bookings.tasks.send_guest_message`` on the notifications queue, never inside a
transaction. Each message is rendered in the restaurant's time zone from templates under
``bookings/templates/bookings/messages/``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

import flags
from bookings.models import Booking, BookingReminder, Restaurant, WaitlistEntry
from observability import metrics
from observability.events import record_event

logger = logging.getLogger(__name__)

WAITLIST_OFFER = "waitlist_offer"
BOOKING_CONFIRMATION = "booking_confirmation"
BOOKING_CANCELLATION = "booking_cancellation"
BOOKING_REMINDER = "booking_reminder"
KINDS = (WAITLIST_OFFER, BOOKING_CONFIRMATION, BOOKING_CANCELLATION, BOOKING_REMINDER)


class SMSBackend(Protocol):
    def send(self, *, to: str, body: str) -> None: ...


class ConsoleSMSBackend:
    """Print text messages to standard output (development, and until a provider is configured)."""

    def send(self, *, to: str, body: str) -> None:
        sys.stdout.write(f"SMS to {to}: {body}\n")
        sys.stdout.flush()


class LocmemSMSBackend:
    """Keep text messages in memory (tests read ``LocmemSMSBackend.outbox``)."""

    outbox: list[tuple[str, str]] = []

    def send(self, *, to: str, body: str) -> None:
        LocmemSMSBackend.outbox.append((to, body))


def sms_backend() -> SMSBackend:
    backend: SMSBackend = import_string(settings.SMS_BACKEND)()
    return backend


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _restaurant_context(restaurant: Restaurant) -> dict[str, Any]:
    return {"restaurant_name": restaurant.name, "restaurant_phone": restaurant.phone}


def message_context(kind: str, object_id: int) -> tuple[dict[str, Any], Restaurant, str, str] | None:
    """Return the template context, restaurant, email and phone of a message; None if moot now.

    Moot: an offer no longer open, a confirmation or reminder of a booking no longer confirmed.
    """
    if kind == WAITLIST_OFFER:
        entry = WaitlistEntry.objects.select_related("restaurant", "hold").filter(pk=object_id).first()
        if entry is None or entry.status != WaitlistEntry.Status.OFFERED or entry.hold is None:
            return None
        page = public_url(reverse("waitlist-page", args=[entry.token]))
        context = {
            **_restaurant_context(entry.restaurant),
            "guest_name": entry.guest_name,
            "party_size": entry.party_size,
            "starts_at": entry.hold.starts_at,
            "expires_at": entry.offer_expires_at,
            "offer_minutes": flags.get("waitlist.offer_minutes", entry.restaurant),
            "accept_url": f"{page}?answer=accept",
            "decline_url": f"{page}?answer=decline",
        }
        return context, entry.restaurant, entry.guest_email, entry.guest_phone
    booking = Booking.objects.select_related("restaurant").filter(pk=object_id).first()
    if booking is None:
        return None
    wanted = Booking.Status.CANCELLED if kind == BOOKING_CANCELLATION else Booking.Status.CONFIRMED
    if booking.status != wanted:
        return None
    page = public_url(reverse("booking-page", args=[booking.reference]))
    context = {
        **_restaurant_context(booking.restaurant),
        "guest_name": booking.guest_name,
        "party_size": booking.party_size,
        "starts_at": booking.starts_at,
        "code": booking.code,
        "booking_url": page,
        "confirm_url": f"{page}?answer=confirm",
        "cancel_url": f"{page}?answer=cancel",
    }
    return context, booking.restaurant, booking.guest_email, booking.guest_phone


def message_send(*, kind: str, object_id: int) -> str:
    """Render and send one guest message by email and/or SMS; return what happened.

    Errors of the mail server propagate, so the task retries; the SMS goes out once the email did.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    found = message_context(kind, object_id)
    if found is None:
        metrics.MESSAGES_SENT.labels(kind, "none", "skipped").inc()
        return "skipped"
    context, restaurant, email, phone = found
    with timezone.override(restaurant.tz):
        subject = " ".join(render_to_string(f"bookings/messages/{kind}_subject.txt", context).split())
        text = render_to_string(f"bookings/messages/{kind}.txt", context)
        html = render_to_string(f"bookings/messages/{kind}.html", context)
    channels = []
    if email:
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [email])
        message.attach_alternative(html, "text/html")
        message.send()
        metrics.MESSAGES_SENT.labels(kind, "email", "sent").inc()
        channels.append("email")
    if phone:
        link = context.get("accept_url") or context.get("booking_url") or ""
        sms_backend().send(to=phone, body=f"{subject} {link}".strip())
        metrics.MESSAGES_SENT.labels(kind, "sms", "sent").inc()
        channels.append("sms")
    if kind == BOOKING_REMINDER:
        BookingReminder.objects.filter(booking_id=object_id).update(sent_at=timezone.now())
    record_event("message.sent", restaurant_id=restaurant.pk, kind=kind, outcome="+".join(channels))
    return "+".join(channels) or "no_contact"
