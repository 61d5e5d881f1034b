"""Who may see and change what, with a fixed cast (alice, bob and anonymous charlie).

alice is staff of Alice's Diner, bob is staff of Bob's Bistro, charlie is anonymous. Guest
details (name, email, phone, notes) are for the restaurant's own staff only; a booking
reference shows the booking, never who made it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.test import APIClient

from bookings.models import Booking, Restaurant, TableOccupancy
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.factories import BookingFactory, TableFactory, open_every_day
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db

GUEST = {
    "guest_name": "Ada Lovelace",
    "guest_email": "ada@example.org",
    "guest_phone": "+44 1223 555 0100",
    "notes": "Window seat; nut allergy",
}
PII_FIELDS = ("guest_name", "guest_email", "guest_phone", "notes")
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def signed_in(user: AbstractBaseUser) -> APIClient:
    """Return a client with a staff session, the way the admin's staff tools call the API."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def charlie() -> APIClient:
    """Anonymous: no session, no credentials."""
    return APIClient()


@pytest.fixture
def alice_booking(alice_restaurant: Restaurant) -> Booking:
    """A confirmed booking at Alice's Diner, made through the public API with full guest details."""
    open_every_day(alice_restaurant)
    TableFactory(restaurant=alice_restaurant, label="A1", max_party=2)
    TableFactory(restaurant=alice_restaurant, label="A2", max_party=4)
    response = post_booking(APIClient(), booking_body(alice_restaurant.slug, **GUEST))
    assert response.status_code == 201, response.json()
    return Booking.objects.get(reference=response.json()["reference"])


def day_list_url(restaurant: Restaurant) -> str:
    return f"/api/v1/staff/restaurants/{restaurant.slug}/bookings?date={evening().date().isoformat()}"


def snapshot(booking: Booking) -> dict[str, Any]:
    """Return what a staff action could change about a booking."""
    booking.refresh_from_db()
    return {
        "status": booking.status,
        "starts_at": booking.starts_at,
        "ends_at": booking.ends_at,
        "updated_at": booking.updated_at,
        "capacity_override": booking.capacity_override,
        "tables": sorted(
            TableOccupancy.objects.active().filter(booking=booking).values_list("table__label", flat=True)
        ),
    }


def assert_refused(response: Any, *, statuses: tuple[int, ...], code: str) -> None:
    """Assert an error envelope with the code, and that no guest detail slipped into it."""
    assert response.status_code in statuses, (response.status_code, response.content)
    body = response.json()
    assert body["error"] == code and body["message"], body
    assert not any(value in response.content.decode() for value in GUEST.values())


# --- the staff day list ------------------------------------------------------------------------


def test_alice_sees_her_days_bookings_with_guest_details(
    alice: AbstractBaseUser, alice_restaurant: Restaurant, alice_booking: Booking
) -> None:
    response = signed_in(alice).get(day_list_url(alice_restaurant))

    assert response.status_code == 200
    [row] = response.json()
    assert row["reference"] == alice_booking.reference
    assert {field: row[field] for field in PII_FIELDS} == GUEST


def test_bob_is_refused_alices_day_list(
    bob: AbstractBaseUser, alice_restaurant: Restaurant, alice_booking: Booking
) -> None:
    response = signed_in(bob).get(day_list_url(alice_restaurant))

    assert_refused(response, statuses=(403,), code="FORBIDDEN")


def test_bob_sees_his_own_empty_day_and_nothing_of_alices(
    bob: AbstractBaseUser, bob_restaurant: Restaurant, alice_booking: Booking
) -> None:
    response = signed_in(bob).get(day_list_url(bob_restaurant))

    assert response.status_code == 200 and response.json() == []


def test_charlie_is_asked_to_sign_in_for_the_day_list(
    charlie: APIClient, alice_restaurant: Restaurant, alice_booking: Booking
) -> None:
    response = charlie.get(day_list_url(alice_restaurant))

    assert_refused(response, statuses=(401,), code="UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Basic")


# --- staff actions on a booking ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("move", {"tables": ["A2"]}),
        ("move", {"date": evening().date().isoformat(), "time": "20:30"}),
        ("status", {"status": "seated"}),
        ("status", {"status": "cancelled"}),
        ("status", {"status": "no_show"}),
    ],
)
def test_bob_cannot_touch_alices_booking(
    bob: AbstractBaseUser, alice_booking: Booking, action: str, body: dict[str, Any]
) -> None:
    before = snapshot(alice_booking)

    response = signed_in(bob).post(
        f"/api/v1/staff/bookings/{alice_booking.reference}/{action}", body, format="json"
    )

    assert_refused(response, statuses=(403,), code="FORBIDDEN")
    assert snapshot(alice_booking) == before


@pytest.mark.parametrize(
    ("action", "body"), [("move", {"tables": ["A2"]}), ("status", {"status": "cancelled"})]
)
def test_charlie_cannot_touch_alices_booking(
    charlie: APIClient, alice_booking: Booking, action: str, body: dict[str, Any]
) -> None:
    before = snapshot(alice_booking)

    response = charlie.post(f"/api/v1/staff/bookings/{alice_booking.reference}/{action}", body, format="json")

    assert_refused(response, statuses=(401,), code="UNAUTHORIZED")
    assert snapshot(alice_booking) == before


def test_alice_can_move_and_seat_her_booking(alice: AbstractBaseUser, alice_booking: Booking) -> None:
    client = signed_in(alice)
    assert snapshot(alice_booking)["tables"] == ["A1"]

    moved = client.post(f"/api/v1/staff/bookings/{alice_booking.reference}/move", {"tables": ["A2"]})
    seated = client.post(f"/api/v1/staff/bookings/{alice_booking.reference}/status", {"status": "seated"})

    assert moved.status_code == 200 and moved.json()["tables"] == ["A2"]
    assert seated.status_code == 200 and seated.json()["status"] == "seated"
    assert seated.json()["guest_email"] == GUEST["guest_email"]  # staff answers carry guest details
    after = snapshot(alice_booking)
    assert after["status"] == "seated" and after["tables"] == ["A2"]


# --- the public view of a booking ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_a_reference_shows_the_booking_but_no_guest_details_to_anyone(
    who: str, request: pytest.FixtureRequest, alice_booking: Booking
) -> None:
    client = APIClient() if who == "charlie" else signed_in(request.getfixturevalue(who))

    read = client.get(f"/api/v1/bookings/{alice_booking.reference}")
    cancelled = client.post(f"/api/v1/bookings/{alice_booking.reference}/cancel")

    for response in (read, cancelled):
        assert response.status_code == 200
        assert response.json()["reference"] == alice_booking.reference
        assert not set(PII_FIELDS) & response.json().keys()
        assert not any(value in response.content.decode() for value in GUEST.values())


def test_the_booking_answer_carries_no_guest_details(
    alice_restaurant: Restaurant, charlie: APIClient
) -> None:
    open_every_day(alice_restaurant)
    TableFactory(restaurant=alice_restaurant, label="A1", max_party=2)

    response = post_booking(charlie, booking_body(alice_restaurant.slug, **GUEST))

    assert response.status_code == 201
    assert not any(value in response.content.decode() for value in GUEST.values())


def test_references_are_long_url_safe_and_distinct(alice_booking: Booking) -> None:
    restaurant = alice_booking.restaurant
    Booking.objects.bulk_create(BookingFactory.build(restaurant=restaurant) for _ in range(500))
    references = list(Booking.objects.values_list("reference", flat=True))

    assert len(references) == 501 and len(set(references)) == 501
    assert all(len(ref) >= 20 and URL_SAFE.match(ref) for ref in references)
    # Random, not derived from the row: the ids appear nowhere and no two share a long prefix.
    assert not any(str(pk) == ref for pk, ref in Booking.objects.values_list("pk", "reference"))
    ordered = sorted(references)
    assert max(len(_common_prefix(a, b)) for a, b in itertools.pairwise(ordered)) < 6


def _common_prefix(a: str, b: str) -> str:
    length = 0
    while length < min(len(a), len(b)) and a[length] == b[length]:
        length += 1
    return a[:length]


def test_an_unknown_reference_says_not_found_without_hinting(
    charlie: APIClient, alice_booking: Booking
) -> None:
    near_miss = alice_booking.reference[:-1] + ("A" if alice_booking.reference[-1] != "A" else "B")

    response = charlie.get(f"/api/v1/bookings/{near_miss}")

    assert_refused(response, statuses=(404,), code="NOT_FOUND")


def test_staff_who_may_only_view_bookings_cannot_change_them(
    alice_restaurant: Restaurant, alice_booking: Booking
) -> None:
    from django.contrib.auth.models import Permission

    from bookings.tests.factories import UserFactory

    viewer = UserFactory(username="dora")
    viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
    alice_restaurant.staff.add(viewer)
    client = signed_in(viewer)
    assert client.get(day_list_url(alice_restaurant)).status_code == 200
    before = snapshot(alice_booking)
    response = client.post(
        f"/api/v1/staff/bookings/{alice_booking.reference}/status", {"status": "no_show"}, format="json"
    )
    assert_refused(response, statuses=(403,), code="FORBIDDEN")
    assert snapshot(alice_booking) == before
