"""Staff take bookings: POST /api/v1/staff/restaurants/{slug}/bookings, by phone or for a walk-in.

The same admission as a guest's booking (capacity rules, tables, the Idempotency-Key), with
source = staff, a walk-in seated now, and an override only where the restaurant allows it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.config import config_for
from bookings.errors import SlotUnavailable
from bookings.models import Booking, CapacityRule, Restaurant, ServicePeriod, TableOccupancy
from bookings.services.admission import booking_admit
from bookings.services.staff import walk_in_start
from bookings.tests.factories import (
    CapacityRuleFactory,
    ServicePeriodFactory,
    TableFactory,
    UserFactory,
    adjacency,
    open_every_day,
)
from bookings.tests.helpers import evening, tables_of
from observability.models import AllocationAttempt, ObservabilityEvent

pytestmark = pytest.mark.django_db

GUEST = {"guest_name": "Ada Lovelace", "guest_phone": "+44 1223 555 0100", "notes": "By the window"}


@pytest.fixture
def diner(alice_restaurant: Restaurant) -> Restaurant:
    """Alice's Diner (UTC), dinner 17:00–23:00 every day: A1 and A2 (2, joinable), A4 (4)."""
    open_every_day(alice_restaurant)
    a1 = TableFactory(restaurant=alice_restaurant, label="A1", max_party=2)
    a2 = TableFactory(restaurant=alice_restaurant, label="A2", max_party=2)
    TableFactory(restaurant=alice_restaurant, label="A4", max_party=4)
    adjacency(a1, a2)
    return alice_restaurant


@pytest.fixture
def open_now(alice_restaurant: Restaurant) -> Restaurant:
    """Alice's Diner open all day, every day (a walk-in can come at any hour the suite runs)."""
    for weekday in range(7):
        period = ServicePeriodFactory(
            restaurant=alice_restaurant, weekday=weekday, opens=time(0), closes=time(23, 59),
            last_seating=time(23, 59),
        )  # fmt: skip
        CapacityRuleFactory(period=period)
    TableFactory(restaurant=alice_restaurant, label="A2", max_party=2)
    TableFactory(restaurant=alice_restaurant, label="A4", max_party=4)
    return alice_restaurant


def signed_in(user: AbstractBaseUser) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def staff(alice: AbstractBaseUser) -> APIClient:
    return signed_in(alice)


def phone_body(party: int = 2, hour: int = 19, **extra: Any) -> dict[str, Any]:
    return {
        "date": evening(hour).date().isoformat(),
        "time": f"{hour:02d}:00",
        "party_size": party,
        **GUEST,
        **extra,
    }


def take(
    client: APIClient, restaurant: Restaurant, body: dict[str, Any] | str, key: str | None = None
) -> Any:
    """POST a booking as staff; a string body is sent as it is, as JSON."""
    url = f"/api/v1/staff/restaurants/{restaurant.slug}/bookings"
    headers = {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    if isinstance(body, str):
        return client.post(url, body, content_type="application/json", **headers)
    return client.post(url, body, format="json", **headers)


def full_at_seven(restaurant: Restaurant) -> None:
    """Allow 2 covers at once and book them at 19:00."""
    CapacityRule.objects.filter(period__restaurant=restaurant).update(max_covers=2)
    assert take(signed_in(restaurant.staff.get()), restaurant, phone_body()).status_code == 201


def allow_override(restaurant: Restaurant) -> None:
    restaurant.allow_staff_override = True
    restaurant.save(update_fields=["allow_staff_override"])


# --- phone bookings ----------------------------------------------------------------------------------


def test_a_phone_booking_is_confirmed_with_tables_and_guest_details(
    staff: APIClient, diner: Restaurant, alice: AbstractBaseUser
) -> None:
    response = take(staff, diner, phone_body(party=4, guest_email="ada@example.org"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["source"], body["tables"], body["time"]) == (
        "confirmed",
        "staff",
        ["A4"],
        "19:00",
    )
    assert {k: body[k] for k in GUEST} == GUEST and body["guest_email"] == "ada@example.org"
    booking = Booking.objects.get(reference=body["reference"])
    assert (booking.source, booking.status, booking.starts_at) == ("staff", "confirmed", evening(19))
    assert tables_of(booking) == ["A4"]
    created = ObservabilityEvent.objects.get(type="booking.created", booking_id=booking.pk)
    assert created.context["source"] == "staff" and created.context["approver_id"] == alice.pk


def test_a_phone_booking_on_tables_staff_chose_records_a_staff_attempt(
    staff: APIClient, diner: Restaurant, alice: AbstractBaseUser
) -> None:
    response = take(staff, diner, phone_body(party=3, tables=["A1", "A2"]))

    assert response.status_code == 201, response.json()
    assert response.json()["tables"] == ["A1", "A2"] and response.json()["allocation"]["mode"] == "staff"
    booking = Booking.objects.get(reference=response.json()["reference"])
    assert tables_of(booking) == ["A1", "A2"]
    assert booking.allocation_reason == {"chosen_by_staff": alice.pk, "tables": ["A1", "A2"]}
    attempt = AllocationAttempt.objects.get(booking_id=booking.pk)
    assert (attempt.mode, attempt.outcome, attempt.seat_waste) == ("staff", "assigned", 1)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (["A1"], "Those tables seat 2, not 3."),
        (["A9"], "No table A9 in this restaurant."),
        (["A1", "A4"], "Those tables cannot be joined."),
    ],
)
def test_tables_that_cannot_seat_the_party_are_refused_and_nothing_is_kept(
    staff: APIClient, diner: Restaurant, tables: list[str], message: str
) -> None:
    response = take(staff, diner, phone_body(party=3, tables=tables))

    assert response.status_code == 409
    assert response.json() == {"error": "TABLES_UNAVAILABLE", "message": message}
    assert not Booking.objects.exists()


def test_a_table_taken_at_that_time_is_refused_and_nothing_is_kept(
    staff: APIClient, diner: Restaurant
) -> None:
    first = take(staff, diner, phone_body(party=4, tables=["A4"]))
    assert first.status_code == 201

    response = take(staff, diner, phone_body(party=2, hour=20, tables=["A4"]))

    assert response.status_code == 409 and response.json()["error"] == "TABLES_UNAVAILABLE"
    assert Booking.objects.count() == 1


def test_a_phone_booking_in_the_past_or_off_the_grid_says_why(staff: APIClient, diner: Restaurant) -> None:
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()

    past = take(staff, diner, phone_body(date=yesterday))
    off_grid = take(staff, diner, phone_body(time="19:07"))

    assert past.status_code == 409 and past.json()["error"] == "SLOT_UNAVAILABLE"
    assert "passed" in past.json()["message"]
    assert off_grid.status_code == 409 and "every 15 minutes" in off_grid.json()["message"]
    assert not Booking.objects.exists()


# --- walk-ins ----------------------------------------------------------------------------------------


def test_a_walk_in_is_seated_now_without_a_name(staff: APIClient, open_now: Restaurant) -> None:
    before = timezone.now()

    response = take(staff, open_now, {"walk_in": True, "party_size": 2})

    after = timezone.now()
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["source"], body["guest_name"], body["tables"]) == (
        "seated",
        "staff",
        "Walk-in",
        ["A2"],
    )
    booking = Booking.objects.get(reference=body["reference"])
    # It starts in the slot it walked into and keeps the table for the turn time from now.
    assert before - timedelta(minutes=15) < booking.starts_at <= after
    assert booking.starts_at.minute % 15 == 0 and booking.starts_at.second == 0
    assert booking.ends_at >= before + timedelta(minutes=90)
    assert booking.ends_at <= after + timedelta(minutes=91)
    assert booking.status == Booking.Status.SEATED and tables_of(booking) == ["A2"]


def test_a_walk_in_keeps_the_name_it_gives_and_may_not_name_a_time(
    staff: APIClient, open_now: Restaurant
) -> None:
    named = take(staff, open_now, {"walk_in": True, "party_size": 4, "guest_name": "Grace Hopper"})
    timed = take(staff, open_now, {"walk_in": True, "party_size": 2, "time": "19:00"})

    assert named.status_code == 201 and named.json()["guest_name"] == "Grace Hopper"
    assert named.json()["tables"] == ["A4"]
    assert timed.status_code == 400 and timed.json()["error"] == "VALIDATION_ERROR"


def test_a_walk_in_with_no_free_table_is_refused(staff: APIClient, open_now: Restaurant) -> None:
    assert take(staff, open_now, {"walk_in": True, "party_size": 4}).status_code == 201

    response = take(staff, open_now, {"walk_in": True, "party_size": 4})

    assert response.status_code == 409 and response.json()["error"] == "CAPACITY_EXCEEDED"
    assert "alternatives" not in response.json()  # a walk-in is now or never
    assert Booking.objects.count() == 1


def walk_in_at(restaurant: Restaurant, hour: int, minute: int) -> datetime:
    return walk_in_start(config_for(restaurant.pk), now=evening(hour, minute).replace(second=41))


def test_a_walk_in_starts_in_the_slot_it_arrived_in(diner: Restaurant) -> None:
    assert walk_in_at(diner, 19, 7) == evening(19, 0)
    assert walk_in_at(diner, 17, 0) == evening(17, 0)
    assert walk_in_at(diner, 21, 14) == evening(21, 0)  # within the last seating's slot


@pytest.mark.parametrize(("hour", "minute"), [(16, 59), (21, 15), (23, 30)])
def test_a_walk_in_outside_service_is_refused_with_the_hours(
    diner: Restaurant, hour: int, minute: int
) -> None:
    with pytest.raises(SlotUnavailable, match=re.escape("(17:00–21:00 today)")):
        walk_in_at(diner, hour, minute)


def test_a_walk_in_on_a_day_without_service_says_so(diner: Restaurant) -> None:
    ServicePeriod.objects.filter(restaurant=diner, weekday=evening().weekday()).delete()

    with pytest.raises(SlotUnavailable, match="no service today"):
        walk_in_at(diner, 19, 7)


def test_a_walk_in_keeps_its_table_for_the_turn_time_from_its_arrival(diner: Restaurant) -> None:
    """At 19:07:41 a pair needs its table from now until 20:38, not only 19:00–20:30."""
    arrival = evening(19, 7).replace(second=41)

    booking = booking_admit(
        restaurant=diner,
        now=arrival,
        party_size=2,
        starts_at=walk_in_start(config_for(diner.pk), now=arrival),
        guest_name="Walk-in",
        walk_in=True,
    ).booking

    assert (booking.starts_at, booking.ends_at, booking.status) == (evening(19), evening(20, 38), "seated")
    assert TableOccupancy.objects.get(booking=booking).during.upper == evening(20, 38)


# --- capacity and override ---------------------------------------------------------------------------


def test_a_booking_past_capacity_is_refused_with_alternatives(staff: APIClient, diner: Restaurant) -> None:
    full_at_seven(diner)

    response = take(staff, diner, phone_body())

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "CAPACITY_EXCEEDED" and body["reason"] == "max_covers"
    assert body["alternatives"] and "19:00" not in body["alternatives"]
    assert Booking.objects.count() == 1


def test_an_override_is_refused_where_the_restaurant_does_not_allow_it(
    staff: APIClient, diner: Restaurant
) -> None:
    full_at_seven(diner)

    response = take(staff, diner, phone_body(override=True))

    assert response.status_code == 403 and response.json()["error"] == "OVERRIDE_NOT_ALLOWED"
    assert Booking.objects.count() == 1
    assert not ObservabilityEvent.objects.filter(type="booking.staff_override").exists()


def test_an_allowed_override_books_past_capacity_and_is_audited(
    staff: APIClient, diner: Restaurant, alice: AbstractBaseUser
) -> None:
    full_at_seven(diner)
    allow_override(diner)

    response = take(staff, diner, phone_body(override=True))

    assert response.status_code == 201, response.json()
    assert response.json()["capacity_override"] is True and response.json()["tables"]
    booking = Booking.objects.get(reference=response.json()["reference"])
    assert booking.capacity_override
    event = ObservabilityEvent.objects.get(type="booking.staff_override")
    assert (event.booking_id, event.restaurant_id) == (booking.pk, diner.pk)
    assert event.context["approver_id"] == alice.pk and event.context["reason"] == "max_covers"


def test_an_override_within_capacity_is_not_marked_as_one(staff: APIClient, diner: Restaurant) -> None:
    allow_override(diner)

    response = take(staff, diner, phone_body(override=True))

    assert response.status_code == 201 and response.json()["capacity_override"] is False
    assert not ObservabilityEvent.objects.filter(type="booking.staff_override").exists()


def test_an_override_never_goes_past_the_tables(staff: APIClient, diner: Restaurant) -> None:
    allow_override(diner)
    assert take(staff, diner, phone_body(party=4, tables=["A4"])).status_code == 201
    assert take(staff, diner, phone_body(party=4, tables=["A1", "A2"])).status_code == 201

    response = take(staff, diner, phone_body(party=4, override=True))

    assert response.status_code == 409 and response.json()["error"] == "CAPACITY_EXCEEDED"
    assert response.json()["reason"] == "all_tables_busy"


# --- who may ------------------------------------------------------------------------------------------


def test_staff_of_another_restaurant_are_refused(bob: AbstractBaseUser, diner: Restaurant) -> None:
    response = take(signed_in(bob), diner, phone_body())

    assert response.status_code == 403 and response.json()["error"] == "FORBIDDEN"
    assert not Booking.objects.exists()


def test_anonymous_callers_are_asked_to_sign_in(diner: Restaurant) -> None:
    response = take(APIClient(), diner, phone_body())

    assert response.status_code == 401 and response.json()["error"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"].startswith("Basic")
    assert not Booking.objects.exists()


def test_staff_who_may_only_view_bookings_cannot_take_one(diner: Restaurant) -> None:
    viewer = UserFactory(username="dora")
    viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
    diner.staff.add(viewer)
    client = signed_in(viewer)
    assert client.get(f"/api/v1/staff/restaurants/{diner.slug}/bookings?date=2030-01-07").status_code == 200

    response = take(client, diner, phone_body())

    assert response.status_code == 403 and response.json()["error"] == "FORBIDDEN"
    assert not Booking.objects.exists()


def test_an_unknown_restaurant_is_404(staff: APIClient, diner: Restaurant) -> None:
    response = staff.post(
        "/api/v1/staff/restaurants/nowhere/bookings", phone_body(), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND"


# --- the request ---------------------------------------------------------------------------------------


def test_the_same_key_and_body_give_one_booking(staff: APIClient, diner: Restaurant) -> None:
    first = take(staff, diner, phone_body(), key="phone-1")
    again = take(staff, diner, phone_body(), key="phone-1")
    other = take(staff, diner, phone_body(party=4), key="phone-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert other.status_code == 422 and other.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert Booking.objects.count() == 1


def test_a_missing_idempotency_key_is_a_validation_error(staff: APIClient, diner: Restaurant) -> None:
    response = staff.post(f"/api/v1/staff/restaurants/{diner.slug}/bookings", phone_body(), format="json")

    assert response.status_code == 400 and "Idempotency-Key" in response.json()["fields"]
    assert not Booking.objects.exists()


def test_malformed_json_is_a_parse_error(staff: APIClient, diner: Restaurant) -> None:
    response = take(staff, diner, '{"party_size": 2,')

    assert response.status_code == 400
    assert response.json()["error"] == "PARSE_ERROR" and "JSON" in response.json()["message"]


def test_a_phone_booking_needs_a_date_a_time_and_a_name(staff: APIClient, diner: Restaurant) -> None:
    response = take(staff, diner, {"party_size": 2, "guest_name": "  "})

    assert response.status_code == 400 and response.json()["error"] == "VALIDATION_ERROR"
    assert set(response.json()["fields"]) == {"date", "time", "guest_name"}


# --- what it costs ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_staff_phone_booking_is_one_commit_and_at_most_sixteen_statements(
    alice: AbstractBaseUser, diner: Restaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public booking's 11 (DESIGN §10), plus session, user, two permission reads and the scope."""
    client = signed_in(alice)
    assert take(client, diner, phone_body(hour=17)).status_code == 201  # warms the caches
    statements: list[str] = []
    commits: list[int] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    connection.ensure_connection()
    real_commit = connection._commit  # type: ignore[attr-defined]

    def counting_commit() -> None:
        commits.append(1)
        real_commit()

    monkeypatch.setattr(connection, "_commit", counting_commit)
    with connection.execute_wrapper(record):
        response = take(client, diner, phone_body(hour=19))

    assert response.status_code == 201, response.json()
    assert len(commits) == 1, statements
    assert len(statements) <= 16, "\n".join(statements)


def test_the_booking_starts_at_the_local_time_staff_named(staff: APIClient, diner: Restaurant) -> None:
    diner.timezone = "Europe/London"
    diner.save(update_fields=["timezone"])
    day = evening().date()

    response = take(staff, diner, phone_body())

    assert response.status_code == 201, response.json()
    booking = Booking.objects.get(reference=response.json()["reference"])
    local = datetime.combine(day, time(19), tzinfo=diner.tz)
    assert booking.starts_at == local.astimezone(UTC)
