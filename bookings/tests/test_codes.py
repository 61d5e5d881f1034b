"""Short booking codes: readable, unique per restaurant, shown everywhere, searchable, never a 500."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from rest_framework.test import APIClient

from bookings import codes
from bookings.codes import CODE_ALPHABET, format_code, new_booking_code, normalize_code
from bookings.models import Booking, Hold, Restaurant
from bookings.services.admission import booking_admit
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.factories import BookingFactory
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db

CODE = re.compile(rf"^[{CODE_ALPHABET}]{{7}}$")


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def staff(alice: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def forced_codes(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """Make the next new codes the given ones (then random again); return the codes drawn."""

    def force(*first: str) -> list[str]:
        queue = list(first)
        drawn: list[str] = []
        real = codes._random_code

        def draw() -> str:
            code = queue.pop(0) if queue else real()
            drawn.append(code)
            return code

        monkeypatch.setattr(codes, "_random_code", draw)
        return drawn

    return force


# --- the code itself -------------------------------------------------------------------------------


def test_a_code_has_seven_characters_without_look_alikes() -> None:
    drawn = {new_booking_code() for _ in range(2000)}
    assert all(CODE.match(code) for code in drawn)
    assert not set("".join(drawn)) & set("0O1IL")
    assert len(drawn) == 2000  # 30**7 codes: 2000 draws do not repeat


def test_staff_may_type_a_code_in_any_case_with_spaces_or_dashes() -> None:
    assert normalize_code("k7m-4qpx") == "K7M4QPX"
    assert normalize_code(" K7M 4QPX ") == "K7M4QPX"
    assert normalize_code("k7m–4qpx") == "K7M4QPX"  # an en dash, as phones type it
    assert normalize_code("K7M4QP") is None  # too short
    assert normalize_code("K7M4QP0") is None  # 0 is not in the alphabet
    assert normalize_code("Ada Lovelace") is None
    assert format_code("K7M4QPX") == "K7M-4QPX"


def test_codes_are_unique_within_a_restaurant_only(
    small_restaurant: Restaurant, one_table_restaurant: Restaurant
) -> None:
    first = BookingFactory(restaurant=small_restaurant)
    BookingFactory(restaurant=one_table_restaurant, code=first.code)  # another restaurant: fine
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        BookingFactory(restaurant=small_restaurant, code=first.code)
    assert codes.is_code_collision(raised.value)


# --- shown where people look ---------------------------------------------------------------------


def test_the_booking_answer_and_its_page_carry_the_code(api: APIClient, small_restaurant: Restaurant) -> None:
    answer = post_booking(api, booking_body(small_restaurant.slug)).json()
    booking = Booking.objects.get(reference=answer["reference"])
    assert CODE.match(answer["code"]) and answer["code"] == booking.code
    # The reference stays the key of the public URL; the code opens nothing.
    assert api.get(f"/api/v1/bookings/{booking.reference}").json()["code"] == booking.code
    assert api.get(f"/api/v1/bookings/{booking.code}").status_code == 404


def test_the_schema_documents_the_code(api: APIClient, db: None) -> None:
    schema = api.get("/api/v1/schema/?format=json").json()
    booking_out = schema["components"]["schemas"]["BookingOut"]
    assert "code" in booking_out["required"]
    assert "read aloud" in booking_out["properties"]["code"]["description"]


def test_the_staff_day_lists_the_codes(alice: AbstractBaseUser, small_restaurant: Restaurant) -> None:
    small_restaurant.staff.add(alice)
    booking = booking_admit(
        restaurant=small_restaurant, party_size=2, starts_at=evening(), guest_name="Ada Lovelace"
    ).booking
    client = APIClient()
    client.force_login(alice)
    day = client.get(
        f"/api/v1/staff/restaurants/{small_restaurant.slug}/bookings?date={evening().date().isoformat()}"
    ).json()
    assert [(b["guest_name"], b["code"]) for b in day] == [("Ada Lovelace", booking.code)]


def test_the_admin_lists_shows_and_finds_a_booking_by_its_code(
    staff: Client, alice_restaurant: Restaurant
) -> None:
    wanted = BookingFactory(restaurant=alice_restaurant, guest_name="Grace Hopper", code="K7M4QPX")
    BookingFactory(restaurant=alice_restaurant, guest_name="Alan Turing", code="B8N3RTW")
    listing = staff.get("/admin/bookings/booking/").content.decode()
    assert "K7M-4QPX" in listing and "B8N-3RTW" in listing
    for typed in ("k7m-4qpx", "K7M 4QPX", "k7m4qpx", "K7M-4QPX"):
        found = staff.get("/admin/bookings/booking/", {"q": typed}).content.decode()
        assert "Grace Hopper" in found and "Alan Turing" not in found, typed
    page = staff.get(f"/admin/bookings/booking/{wanted.pk}/change/").content.decode()
    assert 'class="rx-code rx-code-big">K7M-4QPX<' in page
    assert wanted.reference in page  # the reference is still there, for support
    assert "K7M-4QPX · 2 · " in page  # the page's title and breadcrumb name the booking by its code


def test_the_booking_panel_shows_the_code(staff: Client, alice_restaurant: Restaurant) -> None:
    from bookings.tests.factories import open_every_day

    open_every_day(alice_restaurant)
    booking = BookingFactory(restaurant=alice_restaurant, starts_at=evening(), ends_at=evening(21))
    page = staff.get(
        f"/admin/bookings/restaurant/{alice_restaurant.pk}/timeline/",
        {"date": evening().date().isoformat(), "booking": booking.pk},
    ).content.decode()
    assert f'data-code="{booking.code}">{format_code(booking.code)}<' in page


# --- a collision is retried, never a 500 ------------------------------------------------------------


def test_a_code_collision_retries_the_booking_with_a_new_code(
    api: APIClient, small_restaurant: Restaurant, forced_codes: Callable[..., list[str]]
) -> None:
    taken = post_booking(api, booking_body(small_restaurant.slug, hour=18)).json()["code"]
    drawn = forced_codes(taken)
    response = post_booking(api, booking_body(small_restaurant.slug, hour=19), key="collides-once")
    assert response.status_code == 201, response.json()
    assert drawn[0] == taken and len(drawn) == 2  # the first try collided, the retry drew anew
    assert response.json()["code"] == drawn[1] != taken
    assert Booking.objects.filter(restaurant=small_restaurant).count() == 2
    # The same key answers with the same booking: the failed try left nothing behind.
    again = post_booking(api, booking_body(small_restaurant.slug, hour=19), key="collides-once")
    assert again.json()["reference"] == response.json()["reference"]


def test_a_collision_while_converting_a_hold_keeps_the_hold_for_the_retry(
    api: APIClient, small_restaurant: Restaurant, forced_codes: Callable[..., list[str]]
) -> None:
    taken = post_booking(api, booking_body(small_restaurant.slug, hour=18)).json()["code"]
    when = evening()
    hold = api.post(
        f"/api/v1/restaurants/{small_restaurant.slug}/holds",
        {"date": when.date().isoformat(), "time": "19:00", "party_size": 2},
        format="json",
    ).json()
    drawn = forced_codes(taken)
    response = post_booking(api, booking_body(small_restaurant.slug, hold_id=hold["id"], source="widget"))
    assert response.status_code == 201, response.json()
    assert len(drawn) == 2 and response.json()["code"] != taken
    assert Hold.objects.get(pk=hold["id"]).booking.reference == response.json()["reference"]


def test_staff_bookings_retry_a_collision_too(
    small_restaurant: Restaurant, forced_codes: Callable[..., list[str]]
) -> None:
    first = booking_admit(restaurant=small_restaurant, party_size=2, starts_at=evening(18), guest_name="A")
    drawn = forced_codes(first.booking.code)
    second = booking_admit(restaurant=small_restaurant, party_size=2, starts_at=evening(19), guest_name="B")
    assert len(drawn) == 2 and second.booking.code != first.booking.code


def test_two_collisions_in_a_row_ask_the_client_to_retry(
    api: APIClient, small_restaurant: Restaurant, forced_codes: Callable[..., list[str]]
) -> None:
    taken = post_booking(api, booking_body(small_restaurant.slug, hour=18)).json()["code"]
    forced_codes(taken, taken)
    response = post_booking(api, booking_body(small_restaurant.slug, hour=19))
    assert response.status_code == 503 and response.json()["error"] == "BUSY_RETRY"
    assert response["Retry-After"]
    assert Booking.objects.filter(restaurant=small_restaurant).count() == 1


def test_another_integrity_error_is_not_taken_for_a_collision(small_restaurant: Restaurant) -> None:
    BookingFactory(restaurant=small_restaurant, reference="same-reference")
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        BookingFactory(restaurant=small_restaurant, reference="same-reference")
    assert not codes.is_code_collision(raised.value)


# --- the migration ---------------------------------------------------------------------------------


@pytest.fixture
def before_codes(transactional_db: None) -> Iterator[Any]:
    """The schema just before codes (bookings 0003), put back to the latest afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate([("bookings", "0003_versions")])
    executor.loader.build_graph()
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_existing_booking_its_own_code(before_codes: Any) -> None:
    old = before_codes.loader.project_state([("bookings", "0003_versions")]).apps
    restaurant = old.get_model("bookings", "Restaurant").objects.create(
        slug="old-place", name="Old Place", turn_times=[[0, 90]]
    )
    booking_model = old.get_model("bookings", "Booking")
    for n in range(30):
        booking_model.objects.create(
            reference=f"ref-{n}",
            restaurant=restaurant,
            party_size=2,
            starts_at=evening(17),
            ends_at=evening(19),
            guest_name=f"Guest {n}",
        )
    executor = MigrationExecutor(connection)
    executor.migrate([("bookings", "0004_booking_code_restaurant_contact")])
    new = executor.loader.project_state([("bookings", "0004_booking_code_restaurant_contact")]).apps
    found = list(new.get_model("bookings", "Booking").objects.values_list("code", flat=True))
    assert len(found) == 30 and len(set(found)) == 30
    assert all(CODE.match(code) for code in found)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_nullable FROM information_schema.columns"
            " WHERE table_name = 'bookings_booking' AND column_name = 'code'"
        )
        assert cursor.fetchone() == ("NO",)
