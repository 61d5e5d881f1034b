"""Staff take a booking in the admin: the "New booking" form behind the timeline and the admin's Add.

Every booking goes through bookings.services (booking_staff_create): the tests check the booking
and its tables, the redirect back to the timeline with the booking open, and the refusals.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from bookings.models import Booking, CapacityRule, Restaurant
from bookings.tests.factories import (
    CapacityRuleFactory,
    ServicePeriodFactory,
    TableFactory,
    UserFactory,
    adjacency,
    open_every_day,
)
from bookings.tests.helpers import evening, tables_of
from observability.models import ObservabilityEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def diner(alice_restaurant: Restaurant) -> Restaurant:
    """Alice's Diner (UTC), dinner 17:00–23:00 every day: T1, T2 (2, joinable), T4 (4)."""
    open_every_day(alice_restaurant)
    t1 = TableFactory(restaurant=alice_restaurant, label="T1", max_party=2)
    t2 = TableFactory(restaurant=alice_restaurant, label="T2", max_party=2)
    TableFactory(restaurant=alice_restaurant, label="T4", max_party=4, section="garden")
    adjacency(t1, t2)
    return alice_restaurant


@pytest.fixture
def staff(client: Client, alice: Any) -> Client:
    client.force_login(alice)
    return client


def new_url(restaurant: Restaurant, query: str = "") -> str:
    return f"/admin/bookings/restaurant/{restaurant.pk}/bookings/new/" + (f"?{query}" if query else "")


def phone(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "phone",
        "date": evening().date().isoformat(),
        "time": "19:00",
        "party_size": "2",
        "guest_name": "Ada Lovelace",
        "guest_phone": "+44 1223 555 0100",
        "guest_email": "",
        "notes": "",
        "idempotency_key": "form-1",
        **extra,
    }


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_form_opens_prefilled_from_a_free_cell_of_the_timeline(staff: Client, diner: Restaurant) -> None:
    day = evening().date().isoformat()

    page = staff.get(new_url(diner, f"date={day}&time=19:30&table=T4")).content.decode()

    assert re.search(r'<input type="checkbox" name="tables" value="T4" checked', page)
    assert '<option value="19:30" selected>19:30</option>' in page
    assert f'value="{day}"' in page
    assert 'name="idempotency_key"' in page
    assert 'name="override"' not in page  # this restaurant does not allow overrides


def test_a_phone_booking_returns_to_the_timeline_with_the_booking_open(
    staff: Client, diner: Restaurant
) -> None:
    response = staff.post(new_url(diner), phone(tables=["T4"]), follow=True)

    booking = Booking.objects.get()
    assert (booking.source, booking.status, booking.starts_at) == ("staff", "confirmed", evening(19))
    assert tables_of(booking) == ["T4"]
    url, _ = response.redirect_chain[-1]
    assert url.endswith(f"?date={evening().date().isoformat()}&booking={booking.pk}#panel")
    assert any(
        text.startswith("Booked Ada Lovelace (party of 2) at T4 at 19:00") for text in messages_of(response)
    )
    assert 'class="rx-bar rx-s-confirmed is-selected"' in response.content.decode()


def test_pressing_book_twice_takes_one_booking(staff: Client, diner: Restaurant) -> None:
    first = staff.post(new_url(diner), phone())
    second = staff.post(new_url(diner), phone())

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Booking.objects.count() == 1


def test_a_walk_in_is_seated_now(staff: Client, alice_restaurant: Restaurant) -> None:
    for weekday in range(7):
        period = ServicePeriodFactory(
            restaurant=alice_restaurant, weekday=weekday, opens=time(0), closes=time(23, 59),
            last_seating=time(23, 59),
        )  # fmt: skip
        CapacityRuleFactory(period=period)
    TableFactory(restaurant=alice_restaurant, label="W2", max_party=2)

    response = staff.post(
        new_url(alice_restaurant),
        {"kind": "walk_in", "party_size": "2", "guest_name": "", "idempotency_key": "walk-1"},
        follow=True,
    )

    booking = Booking.objects.get()
    assert (booking.status, booking.guest_name, booking.source) == ("seated", "Walk-in", "staff")
    assert booking.starts_at <= timezone.now() < booking.ends_at
    assert any(text.startswith("Seated Walk-in (party of 2) at W2 now") for text in messages_of(response))


def test_a_phone_booking_needs_a_name_a_day_and_a_time(staff: Client, diner: Restaurant) -> None:
    response = staff.post(new_url(diner), phone(guest_name=" ", date="", time=""))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"guest_name", "date", "time"}
    assert not Booking.objects.exists()


def full_at_seven(staff: Client, restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=restaurant).update(max_covers=2)
    taken = staff.post(new_url(restaurant), phone(idempotency_key="first"), follow=True)  # shows its message
    assert taken.redirect_chain and Booking.objects.count() == 1


def test_a_refusal_says_why_and_names_other_times(staff: Client, diner: Restaurant) -> None:
    full_at_seven(staff, diner)

    response = staff.post(new_url(diner), phone(guest_name="Grace Hopper"))

    assert response.status_code == 200
    [text] = messages_of(response)
    assert text.startswith("The restaurant is full at that time. Nearest times: ")
    assert "Override" not in text
    assert 'value="Grace Hopper"' in response.content.decode()  # the form keeps what was typed
    assert Booking.objects.count() == 1


def test_an_allowed_override_books_past_the_rules_and_is_recorded(
    staff: Client, diner: Restaurant, alice: Any
) -> None:
    full_at_seven(staff, diner)
    diner.allow_staff_override = True
    diner.save(update_fields=["allow_staff_override"])
    refused = staff.post(new_url(diner), phone(guest_name="Grace Hopper"))
    assert "Tick “Override capacity rules” to book it anyway (recorded)." in messages_of(refused)[0]
    assert 'name="override"' in refused.content.decode()

    response = staff.post(new_url(diner), phone(guest_name="Grace Hopper", override="on"), follow=True)

    booking = Booking.objects.get(guest_name="Grace Hopper")
    assert booking.capacity_override
    assert any(text.endswith("Capacity override recorded.") for text in messages_of(response))
    event = ObservabilityEvent.objects.get(type="booking.staff_override")
    assert (event.booking_id, event.context["approver_id"]) == (booking.pk, alice.pk)


def test_an_override_is_ignored_where_the_restaurant_does_not_allow_it(
    staff: Client, diner: Restaurant
) -> None:
    full_at_seven(staff, diner)

    response = staff.post(new_url(diner), phone(guest_name="Grace Hopper", override="on"))

    assert response.status_code == 200 and Booking.objects.count() == 1
    assert messages_of(response)[0].startswith("The restaurant is full at that time.")


def test_staff_who_may_only_view_cannot_open_the_form(client: Client, diner: Restaurant) -> None:
    viewer = UserFactory(username="dora")
    viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
    diner.staff.add(viewer)
    client.force_login(viewer)

    timeline = client.get(f"/admin/bookings/restaurant/{diner.pk}/timeline/")

    assert timeline.status_code == 200 and "New booking" not in timeline.content.decode()
    assert client.get(new_url(diner)).status_code == 403
    assert client.post(new_url(diner), phone()).status_code == 403
    assert not Booking.objects.exists()


def test_staff_of_another_restaurant_get_404(client: Client, diner: Restaurant, bob: Any) -> None:
    client.force_login(bob)

    assert client.post(new_url(diner), phone()).status_code == 404
    assert not Booking.objects.exists()


def test_the_timeline_offers_new_booking_and_walk_in_today(staff: Client, diner: Restaurant) -> None:
    today = staff.get(f"/admin/bookings/restaurant/{diner.pk}/timeline/").content.decode()
    later = staff.get(
        f"/admin/bookings/restaurant/{diner.pk}/timeline/?date={evening().date().isoformat()}"
    ).content.decode()

    assert 'id="rx-new-booking"' in today and 'id="rx-walk-in"' in today
    assert 'id="rx-new-booking"' in later and 'id="rx-walk-in"' not in later
    assert f'data-new-url="{new_url(diner)}"' in later and 'data-step="15"' in later


def test_the_admins_add_booking_leads_to_the_staff_form(staff: Client, diner: Restaurant) -> None:
    response = staff.get("/admin/bookings/booking/add/")

    assert response.status_code == 302 and response["Location"] == new_url(diner)


def test_past_dates_are_not_offered(staff: Client, diner: Restaurant) -> None:
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()

    page = staff.get(new_url(diner, f"date={yesterday}")).content.decode()

    assert f'value="{timezone.now().date().isoformat()}"' in page
