"""Staff moves and status changes: the same constraints as a guest, and an explicit, audited override."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.test import APIClient

from bookings.models import Booking, CapacityRule, Restaurant, TableOccupancy
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.factories import TableFactory, adjacency, open_every_day
from bookings.tests.helpers import evening
from observability.models import ObservabilityEvent

pytestmark = pytest.mark.django_db

CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture
def diner(alice_restaurant: Restaurant) -> Restaurant:
    """Alice's Diner, open for dinner every day, with two 2-tops that join and a 4-top."""
    open_every_day(alice_restaurant)
    a1 = TableFactory(restaurant=alice_restaurant, label="A1", max_party=2)
    a2 = TableFactory(restaurant=alice_restaurant, label="A2", max_party=2)
    TableFactory(restaurant=alice_restaurant, label="A4", max_party=4)
    adjacency(a1, a2)
    return alice_restaurant


@pytest.fixture
def staff(alice: AbstractBaseUser) -> APIClient:
    client = APIClient()
    client.force_login(alice)
    return client


def book(restaurant: Restaurant, *, hour: int = 19, party: int = 2) -> Booking:
    """Book through the public API and return the confirmed booking."""
    response = post_booking(APIClient(), booking_body(restaurant.slug, party=party, hour=hour))
    assert response.status_code == 201, response.json()
    return Booking.objects.get(reference=response.json()["reference"])


def tables_of(booking: Booking) -> list[str]:
    return sorted(
        TableOccupancy.objects.active().filter(booking=booking).values_list("table__label", flat=True)
    )


def move(client: APIClient, booking: Booking, **body: Any) -> Any:
    return client.post(f"/api/v1/staff/bookings/{booking.reference}/move", body, format="json")


def set_status(client: APIClient, booking: Booking, status: str) -> Any:
    return client.post(
        f"/api/v1/staff/bookings/{booking.reference}/status", {"status": status}, format="json"
    )


def state(booking: Booking) -> tuple[Any, ...]:
    booking.refresh_from_db()
    return (booking.status, booking.starts_at, booking.ends_at, booking.capacity_override, tables_of(booking))


# --- moves ------------------------------------------------------------------------------------------


def test_staff_move_a_booking_to_named_free_tables(staff: APIClient, diner: Restaurant) -> None:
    booking = book(diner)

    response = move(staff, booking, tables=["A4"])

    assert response.status_code == 200, response.json()
    assert response.json()["tables"] == ["A4"] and tables_of(booking) == ["A4"]


def test_staff_move_a_booking_to_another_time_and_the_planner_seats_it(
    staff: APIClient, diner: Restaurant
) -> None:
    booking = book(diner, hour=19)

    response = move(staff, booking, date=evening().date().isoformat(), time="20:30")

    assert response.status_code == 200, response.json()
    booking.refresh_from_db()
    assert booking.starts_at == evening(20, 30) and response.json()["time"] == "20:30"
    assert len(tables_of(booking)) == 1


def test_a_move_onto_taken_tables_is_409_and_changes_nothing(staff: APIClient, diner: Restaurant) -> None:
    first, second = book(diner), book(diner)
    taken = tables_of(first)
    before_first, before_second = state(first), state(second)

    response = move(staff, second, tables=taken)

    assert response.status_code == 409
    assert response.json()["error"] == "TABLES_UNAVAILABLE"
    assert state(first) == before_first and state(second) == before_second


def test_a_move_onto_tables_too_small_for_the_party_is_409(staff: APIClient, diner: Restaurant) -> None:
    booking = book(diner, party=4)
    before = state(booking)

    response = move(staff, booking, tables=["A1"])

    assert response.status_code == 409 and response.json()["error"] == "TABLES_UNAVAILABLE"
    assert state(booking) == before


def full_at_seven(restaurant: Restaurant) -> tuple[Booking, Booking]:
    """Allow 2 covers at once; book 2 at 19:00 (full) and 2 at 17:00 (to be moved onto 19:00)."""
    CapacityRule.objects.filter(period__restaurant=restaurant).update(max_covers=2)
    return book(restaurant, hour=19), book(restaurant, hour=17)


def test_a_move_past_capacity_without_override_is_409(staff: APIClient, diner: Restaurant) -> None:
    _, early = full_at_seven(diner)
    before = state(early)

    response = move(staff, early, date=evening().date().isoformat(), time="19:00")

    assert response.status_code == 409 and response.json()["error"] == "CAPACITY_EXCEEDED"
    assert state(early) == before


def test_an_override_is_refused_where_the_restaurant_does_not_allow_it(
    staff: APIClient, diner: Restaurant
) -> None:
    _, early = full_at_seven(diner)
    before = state(early)

    response = move(staff, early, date=evening().date().isoformat(), time="19:00", override=True)

    assert response.status_code == 403 and response.json()["error"] == "OVERRIDE_NOT_ALLOWED"
    assert state(early) == before
    assert not ObservabilityEvent.objects.filter(type="booking.staff_override").exists()


def test_an_allowed_override_seats_a_booking_past_capacity_and_is_audited(
    staff: APIClient,
    diner: Restaurant,
    alice: AbstractBaseUser,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    diner.allow_staff_override = True
    diner.save(update_fields=["allow_staff_override"])
    seven, early = full_at_seven(diner)

    with django_capture_on_commit_callbacks(execute=True):
        response = move(staff, early, date=evening().date().isoformat(), time="19:00", override=True)

    assert response.status_code == 200, response.json()
    assert response.json()["capacity_override"] is True
    early.refresh_from_db()
    assert early.capacity_override and early.starts_at == evening(19)
    assert not set(tables_of(early)) & set(tables_of(seven))  # past the rules, never past the tables
    event = ObservabilityEvent.objects.get(type="booking.staff_override", booking_id=early.pk)
    assert event.context["approver_id"] == alice.pk and event.restaurant_id == diner.pk


def test_an_override_within_capacity_is_not_marked_as_one(
    staff: APIClient,
    diner: Restaurant,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    diner.allow_staff_override = True
    diner.save(update_fields=["allow_staff_override"])
    booking = book(diner)

    with django_capture_on_commit_callbacks(execute=True):
        response = move(staff, booking, tables=["A4"], override=True)

    assert response.status_code == 200 and response.json()["capacity_override"] is False
    assert not ObservabilityEvent.objects.filter(type="booking.staff_override").exists()


def test_a_cancelled_booking_cannot_be_moved(staff: APIClient, diner: Restaurant) -> None:
    booking = book(diner)
    assert set_status(staff, booking, "cancelled").status_code == 200

    response = move(staff, booking, tables=["A4"])

    assert response.status_code == 409 and response.json()["error"] == "INVALID_STATUS"
    assert tables_of(booking) == []


def test_a_move_needs_a_time_or_tables(staff: APIClient, diner: Restaurant) -> None:
    booking = book(diner)

    response = move(staff, booking, date=evening().date().isoformat())

    assert response.status_code == 400 and response.json()["error"] == "VALIDATION_ERROR"


# --- status ------------------------------------------------------------------------------------------


def test_staff_seat_then_complete_a_booking_and_the_table_is_freed(
    staff: APIClient, diner: Restaurant, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    booking = book(diner)

    with django_capture_on_commit_callbacks(execute=True):
        seated = set_status(staff, booking, "seated")
        completed = set_status(staff, booking, "completed")

    assert seated.status_code == 200 and seated.json()["status"] == "seated"
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    assert tables_of(booking) == []
    assert (
        ObservabilityEvent.objects.filter(type="booking.status_changed", booking_id=booking.pk).count() == 2
    )


def test_a_no_show_frees_the_table(staff: APIClient, diner: Restaurant) -> None:
    booking = book(diner)

    response = set_status(staff, booking, "no_show")

    assert response.status_code == 200 and response.json()["status"] == "no_show"
    assert tables_of(booking) == []


@pytest.mark.parametrize(("first", "then"), [("cancelled", "seated"), ("no_show", "completed")])
def test_an_impossible_status_change_is_409_and_changes_nothing(
    staff: APIClient, diner: Restaurant, first: str, then: str
) -> None:
    booking = book(diner)
    assert set_status(staff, booking, first).status_code == 200
    before = state(booking)

    response = set_status(staff, booking, then)

    assert response.status_code == 409 and response.json()["error"] == "INVALID_STATUS"
    assert state(booking) == before


def test_an_unknown_status_is_400(staff: APIClient, diner: Restaurant) -> None:
    booking = book(diner)

    response = set_status(staff, booking, "pending")

    assert response.status_code == 400 and "status" in response.json()["fields"]
