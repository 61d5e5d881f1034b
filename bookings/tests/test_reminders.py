"""Reminders (issue 17): queued once per booking within reminders.hours; the guest confirms or cancels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from bookings.messages import message_send
from bookings.models import Booking, BookingReminder, Restaurant
from bookings.services.admission import booking_admit
from bookings.services.reminders import booking_guest_confirm, reminders_queue_due
from bookings.tests.helpers import evening, join_waitlist

pytestmark = pytest.mark.django_db


def booked(restaurant: Restaurant, days_ahead: int, **extra: Any) -> Booking:
    booking = booking_admit(
        restaurant=restaurant,
        party_size=2,
        starts_at=evening(19, days_ahead=days_ahead),
        guest_name="Grace Hopper",
        guest_email=extra.pop("guest_email", "grace@example.org"),
        **extra,
    ).booking
    # Booked a while ago: a booking made in the last hour gets no reminder.
    Booking.objects.filter(pk=booking.pk).update(created_at=timezone.now() - timedelta(days=3))
    return booking


def test_a_reminder_is_queued_once_for_bookings_within_the_lead(small_restaurant: Restaurant) -> None:
    now = evening(19, days_ahead=7) - timedelta(hours=20)
    soon = booked(small_restaurant, 7)  # 20 hours after `now`
    later = booked(small_restaurant, 9)  # more than 24 hours after
    no_contact = booked(small_restaurant, 7, guest_email="")

    assert reminders_queue_due(now=now) == [soon.pk]
    assert reminders_queue_due(now=now) == []  # once
    assert BookingReminder.objects.get().booking_id == soon.pk
    assert not BookingReminder.objects.filter(booking_id__in=[later.pk, no_contact.pk]).exists()


def test_reminders_hours_zero_sends_none(small_restaurant: Restaurant, set_flags: Any) -> None:
    set_flags(**{"reminders.hours": 0})
    booked(small_restaurant, 7)

    assert reminders_queue_due(now=evening(19, days_ahead=7) - timedelta(hours=2)) == []


def test_the_reminder_message_links_confirm_and_cancel(small_restaurant: Restaurant, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://book.example.org"
    booking = booked(small_restaurant, 7)
    reminders_queue_due(now=booking.starts_at - timedelta(hours=3))

    assert message_send(kind="booking_reminder", object_id=booking.pk) == "email"

    (sent,) = mail.outbox
    page = f"https://book.example.org/booking/{booking.reference}/"
    assert f"{page}?answer=confirm" in sent.body and f"{page}?answer=cancel" in sent.body
    assert booking.code in sent.subject
    assert BookingReminder.objects.get(booking=booking).sent_at is not None


def test_the_guest_confirms_on_the_booking_page_and_a_get_changes_nothing(
    small_restaurant: Restaurant, client: Any
) -> None:
    booking = booked(small_restaurant, 7)
    page = f"/booking/{booking.reference}/"

    shown = client.get(f"{page}?answer=confirm")
    assert shown.status_code == 200 and b"I'm coming" in shown.content
    assert not BookingReminder.objects.exists()

    confirmed = client.post(page, {"answer": "confirm"})

    assert confirmed.status_code == 200 and b"we know you are coming" in confirmed.content
    assert BookingReminder.objects.get(booking=booking).confirmed_at is not None
    booking_guest_confirm(reference=booking.reference)  # twice is fine
    assert client.get("/booking/no-such-reference/").status_code == 404


def test_the_guest_cancels_from_the_booking_page(small_restaurant: Restaurant, client: Any) -> None:
    booking = booked(small_restaurant, 7)

    response = client.post(f"/booking/{booking.reference}/", {"answer": "cancel"})

    assert response.status_code == 200 and b"is cancelled" in response.content
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    again = client.post(f"/booking/{booking.reference}/", {"answer": "confirm"})
    assert again.status_code == 200 and b"cannot be confirmed" in again.content


# --- confirmations (a sweep, off the booking path) ------------------------------------------------------


def test_each_new_booking_gets_its_confirmation_queued_once(small_restaurant: Restaurant) -> None:
    from bookings.models import GuestMessage
    from bookings.services.reminders import confirmations_queue_due

    booking = booking_admit(
        restaurant=small_restaurant,
        party_size=2,
        starts_at=evening(19),
        guest_name="Grace Hopper",
        guest_email="grace@example.org",
    ).booking
    booking_admit(restaurant=small_restaurant, party_size=2, starts_at=evening(19), guest_name="No Contact")

    assert confirmations_queue_due() == [booking.pk]
    assert confirmations_queue_due() == []
    assert GuestMessage.objects.get().booking_id == booking.pk


def test_an_accepted_offer_is_confirmed_once_whoever_queues_it_first(
    one_table_restaurant: Restaurant,
) -> None:
    from bookings.models import GuestMessage
    from bookings.services.reminders import confirmations_queue_due
    from bookings.services.waitlist import waitlist_offer_run
    from bookings.services.waitlist_accept import waitlist_accept

    entry = join_waitlist(one_table_restaurant)
    waitlist_offer_run(restaurant_id=one_table_restaurant.pk, local_date=evening(19).date())

    _, booking = waitlist_accept(token=entry.token)

    assert GuestMessage.objects.filter(booking=booking, kind="booking_confirmation").count() == 1
    assert confirmations_queue_due() == []  # the acceptance queued it already
