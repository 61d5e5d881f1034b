"""Staff and the waitlist in admin (issue 17): add a guest through the service, see the line, offer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bookings.models import Restaurant, WaitlistEntry
from bookings.tests.factories import TableFactory, open_every_day

pytestmark = pytest.mark.django_db

ADMIN = "/admin/bookings/waitlistentry/"


@pytest.fixture
def diner(alice_restaurant: Restaurant) -> Restaurant:
    open_every_day(alice_restaurant)
    TableFactory(restaurant=alice_restaurant, label="T1", max_party=4)
    return alice_restaurant


def form(restaurant: Restaurant, **extra: str) -> dict[str, str]:
    day = (timezone.now() + timedelta(days=3)).date()
    return {
        "restaurant": str(restaurant.pk),
        "date": day.isoformat(),
        "earliest_time": "19:00",
        "latest_time": "20:00",
        "party_size": "2",
        "guest_name": "Ada Lovelace",
        "guest_email": "",
        "guest_phone": "+44 1223 555 0100",
        "notes": "",
        **extra,
    }


def test_staff_add_a_guest_to_the_waitlist_and_offer_the_free_table(
    client: Client, alice: object, diner: Restaurant
) -> None:
    client.force_login(alice)  # type: ignore[arg-type]

    added = client.post(f"{ADMIN}add/", form(diner))

    assert added.status_code == 302, added.content.decode()[:2000]
    entry = WaitlistEntry.objects.get()
    assert entry.source == WaitlistEntry.Source.STAFF and entry.status == WaitlistEntry.Status.WAITING
    listing = client.get(ADMIN).content.decode()
    assert "Ada Lovelace" in listing and "19:00–20:00" in listing

    client.post(ADMIN, {"action": "offer_free_tables", "_selected_action": [str(entry.pk)]})

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED and entry.hold is not None


def test_a_guest_without_contact_or_a_closed_day_is_refused_on_the_form(
    client: Client, alice: object, diner: Restaurant
) -> None:
    client.force_login(alice)  # type: ignore[arg-type]

    no_contact = client.post(f"{ADMIN}add/", form(diner, guest_phone=""))
    past = client.post(f"{ADMIN}add/", form(diner, date="2001-01-01"))

    assert no_contact.status_code == 200 and "An email or a phone number" in no_contact.content.decode()
    assert past.status_code == 200 and "That day has passed" in past.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_staff_of_another_restaurant_do_not_see_its_waitlist(
    client: Client, alice: object, bob: object, diner: Restaurant
) -> None:
    client.force_login(alice)  # type: ignore[arg-type]
    client.post(f"{ADMIN}add/", form(diner))
    client.force_login(bob)  # type: ignore[arg-type]

    assert "Ada Lovelace" not in client.get(ADMIN).content.decode()
