"""Anonymous endpoints are throttled in Redis per IP and per restaurant, and fail open without Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from allocator.tests.conftest import evening
from bookings.models import Booking, Restaurant
from bookings.tests.api.conftest import booking_body, post_booking

pytestmark = pytest.mark.django_db

SetRates = Callable[..., None]
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def set_rates(monkeypatch: pytest.MonkeyPatch) -> SetRates:
    """Set the throttle rates for one test; ``None`` turns a throttle off.

    DRF binds ``SimpleRateThrottle.THROTTLE_RATES`` to the settings' dict when it is imported, so
    overriding REST_FRAMEWORK (even with ``api_settings.reload()``) would not reach the throttles.
    """

    def apply(*, ip: str | None = None, restaurant: str | None = None) -> None:
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon_ip", ip)
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon_restaurant", restaurant)

    return apply


def availability(api: APIClient, restaurant: Restaurant, ip: str) -> Any:
    day = evening().date().isoformat()
    return api.get(
        f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size=2", REMOTE_ADDR=ip
    )


def assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "RATE_LIMITED" and body["message"]
    assert 1 <= body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])


def test_one_ip_past_its_rate_gets_429_with_retry_after(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(ip="3/min")

    answers = [availability(api, small_restaurant, "10.0.0.1").status_code for _ in range(3)]
    over = availability(api, small_restaurant, "10.0.0.1")

    assert answers == [200, 200, 200]
    assert_rate_limited(over)
    assert availability(api, small_restaurant, "10.0.0.2").status_code == 200  # another guest


def test_a_throttled_booking_is_not_taken(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(ip="2/min")
    body = booking_body(small_restaurant.slug)

    answers = [post_booking(api, body, key=f"key-{n}").status_code for n in range(2)]
    over = post_booking(api, body, key="key-over")

    assert answers == [201, 201]
    assert_rate_limited(over)
    assert Booking.objects.count() == 2


def test_one_restaurant_past_its_rate_is_throttled_for_every_ip_and_another_is_not(
    api: APIClient, small_restaurant: Restaurant, one_table_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(restaurant="5/min")

    answers = [availability(api, small_restaurant, f"10.0.1.{n}").status_code for n in range(5)]
    over_from_a_new_ip = availability(api, small_restaurant, "10.0.1.99")
    booking_there = post_booking(api, booking_body(small_restaurant.slug), key="to-the-busy-one")

    assert answers == [200] * 5
    assert_rate_limited(over_from_a_new_ip)
    assert_rate_limited(booking_there)  # a booking counts against the restaurant in its body
    assert availability(api, one_table_restaurant, "10.0.1.100").status_code == 200
    assert post_booking(api, booking_body(one_table_restaurant.slug)).status_code == 201


def test_requests_succeed_when_redis_is_unreachable(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(ip="1/min", restaurant="1/min")

    with override_settings(CACHES=UNREACHABLE_REDIS):  # also resets django.core.cache.caches
        reads = [availability(api, small_restaurant, "10.0.2.1").status_code for _ in range(3)]
        booking = post_booking(api, booking_body(small_restaurant.slug))

    assert reads == [200, 200, 200]  # 1/min would have refused two of them with Redis up
    assert booking.status_code == 201, booking.json()
