"""What a guest or a manager trips over: bidi controls in names, parties too large to book online,
and days with no bookable time answered with a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.models import Booking, CapacityOverride, Restaurant
from bookings.refusals import DAY_REASONS
from bookings.services.admission import BookingRequest, booking_admit
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.factories import (
    BookingFactory,
    RestaurantFactory,
    ServicePeriodFactory,
    TableFactory,
)
from bookings.tests.helpers import day_of, evening
from bookings.text import BIDI_CONTROLS, strip_bidi

pytestmark = pytest.mark.django_db

RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"


# --- bidi controls ---------------------------------------------------------------------------------


def test_the_helper_strips_every_bidi_control_and_nothing_else() -> None:
    assert {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069} <= BIDI_CONTROLS
    assert {0x200E, 0x200F, 0x061C} <= BIDI_CONTROLS
    text = "".join(chr(c) for c in sorted(BIDI_CONTROLS))
    assert strip_bidi(f"Zoë{text} O’Brien — שלום") == "Zoë O’Brien — שלום"  # letters of any script stay


def test_the_api_stores_names_and_notes_without_bidi_controls(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    body = booking_body(
        small_restaurant.slug, guest_name=f"{RLO}ecalevol adA{PDF}", notes=f"Window {LRI}seat{PDI}, please"
    )
    response = post_booking(api, body)
    assert response.status_code == 201, response.json()
    booking = Booking.objects.get(reference=response.json()["reference"])
    assert (booking.guest_name, booking.notes) == ("ecalevol adA", "Window seat, please")


def test_a_name_of_nothing_but_bidi_controls_is_refused_as_blank(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    response = post_booking(api, booking_body(small_restaurant.slug, guest_name=f"{RLO}{PDF}\u200f"))
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR" and "guest_name" in response.json()["fields"]


def test_every_service_path_strips_them_too(small_restaurant: Restaurant) -> None:
    # Staff tools and scripts build a BookingRequest (or call booking_admit) without a serializer.
    assert BookingRequest(party_size=2, starts_at=evening(), guest_name=f"A{RLO}da").guest_name == "Ada"
    booking = booking_admit(
        restaurant=small_restaurant,
        party_size=2,
        starts_at=evening(),
        guest_name=f"{RLO}Grace",
        notes=f"\u200eNo nuts{PDF}",
    ).booking
    booking.refresh_from_db()
    assert (booking.guest_name, booking.notes) == ("Grace", "No nuts")


def test_the_admin_form_strips_them(alice: AbstractBaseUser, alice_restaurant: Restaurant) -> None:
    booking = BookingFactory(restaurant=alice_restaurant)
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/admin/bookings/booking/{booking.pk}/change/",
        {
            "guest_name": f"{RLO}Ada Lovelace",
            "guest_email": "ada@example.org",
            "guest_phone": "",
            "notes": f"{LRI}Birthday{PDI}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    booking.refresh_from_db()
    assert (booking.guest_name, booking.notes) == ("Ada Lovelace", "Birthday")


# --- a party no table set seats ------------------------------------------------------------------


def test_a_party_larger_than_any_table_set_is_told_how_to_reach_the_restaurant(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    small_restaurant.phone, small_restaurant.email = "+44 1223 555 0100", "hello@small.example"
    small_restaurant.save()
    # The largest table seats 6 and the only join makes 4: no table set seats 7.
    response = post_booking(api, booking_body(small_restaurant.slug, party=7))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "PARTY_TOO_LARGE"
    assert "too large to book online" in body["message"]
    assert "+44 1223 555 0100" in body["message"] and "hello@small.example" in body["message"]
    assert body["contact"] == {"phone": "+44 1223 555 0100", "email": "hello@small.example"}
    assert not Booking.objects.exists()


def test_without_contact_details_it_says_to_contact_the_restaurant(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    body = post_booking(api, booking_body(small_restaurant.slug, party=12)).json()
    assert body["error"] == "PARTY_TOO_LARGE"
    assert body["message"] == (
        "A party of 12 is too large to book online. Please contact Small Place directly to arrange it."
    )


def test_a_hold_for_such_a_party_is_refused_the_same_way(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    response = api.post(
        f"/api/v1/restaurants/{small_restaurant.slug}/holds",
        {"date": evening().date().isoformat(), "time": "19:00", "party_size": 7},
        format="json",
    )
    assert response.status_code == 422 and response.json()["error"] == "PARTY_TOO_LARGE"


def test_a_party_that_fits_only_by_joining_tables_is_not_too_large(
    api: APIClient, two_tops: Restaurant, set_flags: Callable[..., None]
) -> None:
    # Two 2-tops that join: four fit, together; five fit nowhere.
    assert post_booking(api, booking_body(two_tops.slug, party=4)).status_code == 201
    assert post_booking(api, booking_body(two_tops.slug, party=4)).json()["error"] == "CAPACITY_EXCEEDED"
    assert post_booking(api, booking_body(two_tops.slug, party=5)).json()["error"] == "PARTY_TOO_LARGE"
    # With joins turned off, the same four are too large: the flags in force decide.
    set_flags(**{"allocator.merges_enabled": False})
    assert (
        post_booking(api, booking_body(two_tops.slug, party=4, hour=21)).json()["error"] == "PARTY_TOO_LARGE"
    )


def test_availability_says_the_party_is_too_large(small_restaurant: Restaurant) -> None:
    body = day_of(small_restaurant, evening().date(), party=7).json()
    assert body["reason"] == "party_too_large"
    assert "too large to book online" in body["message"]
    assert not any(s["available"] for s in body["slots"])  # the slots keep their own reasons


# --- days with no bookable time ------------------------------------------------------------------


def test_a_bookable_day_has_no_reason(small_restaurant: Restaurant) -> None:
    body = day_of(small_restaurant, evening().date()).json()
    assert (body["reason"], body["message"]) == (None, None)
    assert body["slots"]


def test_a_past_date_says_past(small_restaurant: Restaurant) -> None:
    body = day_of(small_restaurant, timezone.now().date() - timedelta(days=3)).json()
    assert (body["slots"], body["reason"], body["message"]) == ([], "past", "That date has passed.")


def test_a_date_beyond_the_horizon_says_so(small_restaurant: Restaurant) -> None:
    far = timezone.now().date() + timedelta(days=small_restaurant.booking_horizon_days + 5)
    body = day_of(small_restaurant, far).json()
    assert body["slots"] == [] and body["reason"] == "beyond_horizon"
    assert f"{small_restaurant.booking_horizon_days} days ahead" in body["message"]


def test_a_closed_day_says_closed(small_restaurant: Restaurant) -> None:
    CapacityOverride.objects.create(restaurant=small_restaurant, date=evening().date(), closed=True)
    body = day_of(small_restaurant, evening().date()).json()
    assert body["reason"] == "closed" and "takes no bookings" in body["message"]


def test_a_day_without_service_says_closed(restaurant_closed_on_mondays: Restaurant) -> None:
    today = timezone.now().date()
    monday = today + timedelta(days=7 - today.weekday())
    body = day_of(restaurant_closed_on_mondays, monday).json()
    assert (body["slots"], body["reason"]) == ([], "closed")


def test_a_fully_booked_day_says_full(small_restaurant: Restaurant) -> None:
    CapacityOverride.objects.create(restaurant=small_restaurant, date=evening().date(), max_covers=1)
    body = day_of(small_restaurant, evening().date()).json()
    assert body["reason"] == "full" and "another day" in body["message"]


def test_one_time_of_a_past_day_says_past(small_restaurant: Restaurant) -> None:
    body = day_of(small_restaurant, timezone.now().date() - timedelta(days=3), time="19:00").json()
    assert (body["available"], body["reason"], body["day_reason"]) == (False, "past", "past")


def test_the_schema_documents_the_reasons(api: APIClient, db: None) -> None:
    schema = api.get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    day = schema["DayAvailabilityOut"]["properties"]
    assert {"reason", "message"} <= set(day)
    assert schema["DayReasonEnum"]["enum"] == list(DAY_REASONS)
    booking_errors = api.get("/api/v1/schema/?format=json").json()["paths"]["/api/v1/bookings"]["post"]
    assert "PARTY_TOO_LARGE" in booking_errors["responses"]["422"]["description"]


@pytest.fixture
def restaurant_closed_on_mondays(db: None) -> Restaurant:
    restaurant = RestaurantFactory(slug="closed-mondays", name="Closed Mondays")
    for weekday in range(1, 7):
        ServicePeriodFactory(restaurant=restaurant, weekday=weekday)
    TableFactory(restaurant=restaurant, label="T1", max_party=4)
    return restaurant
