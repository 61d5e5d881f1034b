"""Contract tests: every status and error code of DESIGN §6, in the documented envelope."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.availability import availability_day
from bookings.models import Booking, CapacityRule, IdempotencyKey, Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db


def assert_envelope(response, code: str) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- availability ---------------------------------------------------------------------------------


def test_availability_lists_the_day(api: APIClient, small_restaurant: Restaurant) -> None:
    day = evening().date().isoformat()
    response = api.get(f"/api/v1/restaurants/{small_restaurant.slug}/availability?date={day}&party_size=2")
    assert response.status_code == 200
    slots = response.json()["slots"]
    assert slots[0] == {"time": "17:00", "available": True, "remaining_covers": None, "reason": None}


def test_a_slot_is_rendered_as_its_declared_fields_render_it(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    # SlotOut builds its dict directly (speed); the fields it declares document the same shape.
    from rest_framework import serializers

    from bookings.api.serializers import SlotOut

    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=4)
    day = evening().date()
    assert post_booking(api, booking_body(small_restaurant.slug, party=4)).status_code == 201
    slots = availability_day(small_restaurant, day, 2, now=timezone.now())
    assert {s.reason for s in slots} > {None}  # both kinds: open and refused, limited covers
    for slot in slots:
        assert SlotOut(slot).data == serializers.Serializer.to_representation(SlotOut(), slot)


def test_availability_for_one_time_gives_capacity_and_alternatives(
    api: APIClient, one_table_restaurant: Restaurant
) -> None:
    CapacityRule.objects.filter(period__restaurant=one_table_restaurant).update(max_covers=8)
    assert post_booking(api, booking_body(one_table_restaurant.slug, party=4)).status_code == 201
    day = evening().date().isoformat()
    body = api.get(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/availability?date={day}&party_size=2&time=19:00"
    ).json()
    assert body["available"] is False
    assert body["capacity"] == {"max_covers": 8, "booked_covers": 4, "utilization_percent": 50.0}
    assert body["alternatives"][:3] == ["17:30", "17:15", "20:45"]  # nearest first, earlier on a tie


def test_availability_validates_its_query(api: APIClient, small_restaurant: Restaurant) -> None:
    response = api.get(f"/api/v1/restaurants/{small_restaurant.slug}/availability?date=tomorrow&party_size=0")
    body = assert_envelope(response, "VALIDATION_ERROR")
    assert response.status_code == 400 and set(body["fields"]) == {"date", "party_size"}


def test_unknown_restaurant_is_404(api: APIClient, db: None) -> None:
    response = api.get("/api/v1/restaurants/nowhere/availability?date=2030-01-01&party_size=2")
    assert response.status_code == 404
    assert_envelope(response, "NOT_FOUND")


# --- holds ----------------------------------------------------------------------------------------


def test_a_hold_is_created_then_released(api: APIClient, one_table_restaurant: Restaurant) -> None:
    when = evening()
    response = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/holds",
        {"date": when.date().isoformat(), "time": "19:00", "party_size": 2},
        format="json",
    )
    assert response.status_code == 201
    hold = response.json()
    assert {"id", "expires_at", "starts_at"} <= hold.keys()
    again = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/holds",
        {"date": when.date().isoformat(), "time": "19:00", "party_size": 2},
        format="json",
    )
    assert again.status_code == 409
    assert "alternatives" in assert_envelope(again, "CAPACITY_EXCEEDED")
    assert api.delete(f"/api/v1/holds/{hold['id']}").status_code == 204
    assert api.delete(f"/api/v1/holds/{uuid.uuid4()}").status_code == 404


# --- bookings -------------------------------------------------------------------------------------


def test_a_booking_is_confirmed_inline_with_201(api: APIClient, small_restaurant: Restaurant) -> None:
    response = post_booking(api, booking_body(small_restaurant.slug, party=4))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "confirmed" and len(body["tables"]) == 1
    assert body["allocation"]["mode"] == "inline" and body["allocation"]["attempts"] == 1
    assert "guest_email" not in body and "guest_name" not in body
    read = api.get(body["poll_url"]).json()
    assert read["status"] == "confirmed" and read["tables"] == body["tables"]
    assert "ada@example.org" not in str(read)


def test_missing_idempotency_key_is_400(api: APIClient, small_restaurant: Restaurant) -> None:
    response = api.post("/api/v1/bookings", booking_body(small_restaurant.slug), format="json")
    assert response.status_code == 400
    assert "Idempotency-Key" in assert_envelope(response, "VALIDATION_ERROR")["fields"]


def test_bad_body_is_400_and_nothing_is_stored(api: APIClient, small_restaurant: Restaurant) -> None:
    body = booking_body(small_restaurant.slug, party=0, guest_email="not-an-email")
    response = post_booking(api, body)
    assert response.status_code == 400
    assert {"party_size", "guest_email"} <= set(assert_envelope(response, "VALIDATION_ERROR")["fields"])
    assert not Booking.objects.exists()


def test_a_replay_returns_the_stored_answer(api: APIClient, small_restaurant: Restaurant) -> None:
    body = booking_body(small_restaurant.slug)
    first = post_booking(api, body, key="replay-me")
    second = post_booking(api, body, key="replay-me")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Booking.objects.count() == 1


def test_the_same_key_with_another_body_is_422(api: APIClient, small_restaurant: Restaurant) -> None:
    post_booking(api, booking_body(small_restaurant.slug), key="one-key")
    response = post_booking(api, booking_body(small_restaurant.slug, party=3), key="one-key")
    assert response.status_code == 422
    assert_envelope(response, "IDEMPOTENCY_KEY_REUSED")


def test_a_key_still_in_progress_is_409_with_retry_after(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    from bookings.services.idempotency import request_fingerprint

    body = booking_body(small_restaurant.slug)
    IdempotencyKey.objects.create(
        restaurant=small_restaurant,
        key="busy-key",
        fingerprint=request_fingerprint(body),
        expires_at=timezone.now() + timedelta(hours=24),
    )
    response = post_booking(api, body, key="busy-key")
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert_envelope(response, "IDEMPOTENCY_IN_PROGRESS")


def test_capacity_exceeded_is_409_with_alternatives_and_not_stored(
    api: APIClient, one_table_restaurant: Restaurant
) -> None:
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201
    response = post_booking(api, booking_body(one_table_restaurant.slug), key="full-key")
    assert response.status_code == 409
    body = assert_envelope(response, "CAPACITY_EXCEEDED")
    assert body["alternatives"] and body["alternatives"][0] in ("17:30", "20:30")
    assert not IdempotencyKey.objects.filter(key="full-key").exists()  # a retry is processed anew


def test_an_inline_budget_of_zero_answers_202_pending(
    api: APIClient,
    small_restaurant: Restaurant,
    set_flags,  # type: ignore[no-untyped-def]
) -> None:
    set_flags(**{"allocator.inline_timeout_ms": 0})
    response = post_booking(api, booking_body(small_restaurant.slug))
    assert response.status_code == 202
    assert response["Retry-After"] == "2"
    body = response.json()
    assert body["status"] == "pending" and body["tables"] == []
    assert body["poll_url"] == f"/api/v1/bookings/{body['reference']}"


def test_a_booking_from_a_hold_converts_it(api: APIClient, one_table_restaurant: Restaurant) -> None:
    when = evening()
    hold = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/holds",
        {"date": when.date().isoformat(), "time": "19:00", "party_size": 2},
        format="json",
    ).json()
    response = post_booking(api, booking_body(one_table_restaurant.slug, hold_id=hold["id"]))
    assert response.status_code == 201
    assert response.json()["allocation"]["mode"] == "hold"
    assert response.json()["tables"] == ["ONLY"]


def test_an_unknown_booking_is_404(api: APIClient, db: None) -> None:
    assert_envelope(api.get("/api/v1/bookings/nope"), "NOT_FOUND")


def test_cancel_frees_the_table(api: APIClient, one_table_restaurant: Restaurant) -> None:
    first = post_booking(api, booking_body(one_table_restaurant.slug)).json()
    cancelled = api.post(f"/api/v1/bookings/{first['reference']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["tables"] == []
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201


def test_cancelling_a_seated_booking_is_409(api: APIClient, one_table_restaurant: Restaurant) -> None:
    first = post_booking(api, booking_body(one_table_restaurant.slug)).json()
    Booking.objects.filter(reference=first["reference"]).update(status=Booking.Status.SEATED)
    response = api.post(f"/api/v1/bookings/{first['reference']}/cancel")
    assert response.status_code == 409
    assert_envelope(response, "INVALID_STATUS")


def test_an_unknown_api_path_is_a_json_404(api: APIClient, db: None) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_availability_far_outside_the_horizon_is_empty_not_an_error(
    api: APIClient, small_restaurant: Restaurant
) -> None:
    for day in ("9999-12-31", "0001-01-01"):
        response = api.get(
            f"/api/v1/restaurants/{small_restaurant.slug}/availability?date={day}&party_size=2"
        )
        assert response.status_code == 200 and response.json()["slots"] == []


@pytest.mark.parametrize(
    "path",
    ["/api/v1/bookings", "/api/v1/restaurants/one-table/holds", "/api/v1/bookings/any-reference/cancel"],
)
def test_malformed_json_is_400_parse_error_on_every_endpoint(
    api: APIClient, one_table_restaurant: Restaurant, path: str
) -> None:
    response = api.post(path, data="{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    body = assert_envelope(response, "PARSE_ERROR")
    assert "parse" in body["message"].lower()


def test_a_booking_says_where_it_came_from(api: APIClient, small_restaurant: Restaurant) -> None:
    from_api = post_booking(api, booking_body(small_restaurant.slug, hour=18)).json()
    from_widget = post_booking(api, booking_body(small_restaurant.slug, hour=19, source="widget")).json()
    sources = dict(Booking.objects.values_list("reference", "source"))
    assert sources[from_api["reference"]] == "api"
    assert sources[from_widget["reference"]] == "widget"
    refused = post_booking(api, booking_body(small_restaurant.slug, source="staff"))
    assert refused.status_code == 400 and "source" in refused.json()["fields"]
