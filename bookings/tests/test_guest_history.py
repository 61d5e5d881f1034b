"""Staff see a guest's past no-shows and cancellations on the booking panel, and a guest's
confirmation (the reminder's link) on the timeline (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.services.reminders import booking_guest_confirm
from bookings.staff.selectors import guest_history
from bookings.tests.factories import BookingFactory, TableFactory, open_every_day

pytestmark = pytest.mark.django_db


def at(days: int, hour: int = 19) -> datetime:
    return datetime.combine(timezone.now().date() + timedelta(days=days), time(hour), tzinfo=UTC)


@pytest.fixture
def diner(alice_restaurant: Restaurant) -> Restaurant:
    open_every_day(alice_restaurant)
    TableFactory(restaurant=alice_restaurant, label="T1", max_party=4)
    TableFactory(restaurant=alice_restaurant, label="T2", max_party=4)
    return alice_restaurant


def past(restaurant: Restaurant, status: str, days_ago: int = 30, **guest: str) -> Booking:
    starts = at(-days_ago)
    booking: Booking = BookingFactory(
        restaurant=restaurant, starts_at=starts, ends_at=starts + timedelta(hours=2), status=status, **guest
    )
    return booking


def test_history_matches_email_in_any_case_and_phone_by_digits(
    diner: Restaurant, bob_restaurant: Restaurant
) -> None:
    booking = booking_admit(
        restaurant=diner,
        party_size=2,
        starts_at=at(7),
        guest_name="Grace Hopper",
        guest_email="Grace@Example.org",
        guest_phone="+44 1223 555 0100",
    ).booking
    past(diner, Booking.Status.NO_SHOW, guest_email=" grace@example.ORG", guest_phone="")
    past(diner, Booking.Status.NO_SHOW, guest_email="", guest_phone="+44 (1223) 555-0100")
    past(diner, Booking.Status.CANCELLED, guest_email="grace@example.org", guest_phone="")
    past(diner, Booking.Status.COMPLETED, guest_email="grace@example.org", guest_phone="")
    past(diner, Booking.Status.NO_SHOW, days_ago=400, guest_email="grace@example.org")  # over a year ago
    past(bob_restaurant, Booking.Status.NO_SHOW, guest_email="grace@example.org")  # another restaurant
    past(diner, Booking.Status.NO_SHOW, guest_email="ada@example.org", guest_phone="+44 1223 555 0199")

    history = guest_history(booking, now=timezone.now())

    assert (history.no_shows, history.cancellations, history.completed) == (2, 1, 1)
    assert history.confirmed_at is None


def test_the_panel_shows_the_history_and_the_timeline_the_confirmation(
    client: Client, alice: object, diner: Restaurant
) -> None:
    client.force_login(alice)  # type: ignore[arg-type]
    booking = booking_admit(
        restaurant=diner,
        party_size=2,
        starts_at=at(7),
        guest_name="Grace Hopper",
        guest_email="g@example.org",
    ).booking
    past(diner, Booking.Status.NO_SHOW, guest_email="g@example.org")
    booking_guest_confirm(reference=booking.reference)
    url = f"/admin/bookings/restaurant/{diner.pk}/timeline/?date={at(7).date().isoformat()}"

    page = client.get(f"{url}&booking={booking.pk}").content.decode()

    assert "1 no-show" in page and "confirmed coming" in page
    assert "Grace Hopper, party of 2" in page and "guest confirmed" in page
    assert "<strong>2 · Grace Hopper ✓</strong>" in page  # the bar's label


def test_the_timeline_lists_the_days_waitlist_in_line_order(
    client: Client, alice: object, diner: Restaurant
) -> None:
    from bookings.config import config_for
    from bookings.services.waitlist import WaitlistRequest, waitlist_join

    client.force_login(alice)  # type: ignore[arg-type]
    for name in ("Ada Lovelace", "Alan Turing"):
        waitlist_join(
            config=config_for(diner.pk),
            request=WaitlistRequest(
                local_date=at(7).date(),
                earliest_time=time(19),
                latest_time=time(20),
                party_size=2,
                guest_name=name,
                guest_phone="+44 1223 555 0100",
            ),
        )

    page = client.get(f"/admin/bookings/restaurant/{diner.pk}/timeline/?date={at(7).date().isoformat()}")

    text = page.content.decode()
    assert "Waitlist (2), in line order" in text
    assert text.index("Ada Lovelace") < text.index("Alan Turing")
    assert "19:00–20:00 · waiting since" in text
