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


def test_a_walk_in_added_for_today_is_quoted_the_earliest_free_time(
    client: Client, alice: object, diner: Restaurant
) -> None:
    from datetime import UTC, datetime

    from bookings.config import config_for
    from bookings.services.admission import booking_admit
    from bookings.services.waitlist import waitlist_quoted_wait

    # The only table is taken 19:00–20:30 a week ahead; "now" is 18:50 that day.
    day = (timezone.now() + timedelta(days=7)).date()
    booking_admit(
        restaurant=diner,
        party_size=2,
        starts_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=19),
        guest_name="Grace Hopper",
    )
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=18, minute=50)

    quote = waitlist_quoted_wait(config=config_for(diner.pk), party_size=2, now=now)

    # 19:00 and every start whose 90 minutes would run into the booking are taken: 20:30 is next.
    assert quote is not None and quote.starts_at.hour == 20 and quote.starts_at.minute == 30
    assert quote.minutes == 100


def test_staff_are_told_the_quoted_wait_when_adding_a_guest_for_today(
    client: Client, alice: object, diner: Restaurant
) -> None:
    client.force_login(alice)  # type: ignore[arg-type]
    today = timezone.now().date()

    added = client.post(
        f"{ADMIN}add/",
        form(diner, date=today.isoformat(), earliest_time="00:00", latest_time="23:00"),
        follow=True,
    )

    from bookings.config import config_for
    from bookings.services.waitlist import waitlist_quoted_wait

    text = added.content.decode()
    quote = waitlist_quoted_wait(config=config_for(diner.pk), party_size=2, now=timezone.now())
    if quote is None:  # late in the day (UTC): nothing left today
        assert "No table for 2 frees up today" in text
    else:
        assert "Quoted wait: about" in text and f"a table for 2 at {quote.starts_at:%H:%M}" in text
