"""Anonymous endpoints are throttled in Redis per IP and per restaurant, and fail open without Redis.

The counters are fixed windows (INCR + EXPIRE), all throttles of a request in one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.connection
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from rest_framework.request import Request
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from bookings.models import Booking, Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import evening
from flags import store as flag_store
from reservex.api import FailOpenThrottle, PerIPThrottle

pytestmark = pytest.mark.django_db

SetRates = Callable[..., None]
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture(autouse=True)
def _throttles_not_standing_aside() -> Iterator[None]:
    """Start and leave every test with the throttles in charge (a fail-open test makes them stand aside).

    The flag cache stands aside after a Redis failure too; it is reset on the way out as well.
    """
    FailOpenThrottle._skip_until = 0.0
    yield
    FailOpenThrottle._skip_until = 0.0
    flag_store.reset_cache_state()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Freeze the throttles' clock at the start of a minute + 45 s; move it with ``clock[0] = ...``."""
    now = [60.0 * 29_000_000 + 45]
    monkeypatch.setattr(FailOpenThrottle, "timer", staticmethod(lambda: now[0]))
    return now


@pytest.fixture
def redis_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every write to a Redis socket by the real client: one per round trip.

    redis-py writes a command, or a whole pipeline, in one ``send_packed_command`` and then reads the
    replies, so the writes are the round trips.
    """
    writes: list[bytes] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def spy(connection: Any, command: Any, check_health: bool = True) -> None:
        writes.append(command if isinstance(command, bytes) else b"".join(command))
        send(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", spy)
    return writes


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


def test_the_count_restarts_with_the_next_window_and_retry_after_is_the_rest_of_this_one(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates, clock: list[float]
) -> None:
    set_rates(ip="2/min")

    answers = [availability(api, small_restaurant, "10.0.3.1").status_code for _ in range(2)]
    over = availability(api, small_restaurant, "10.0.3.1")
    clock[0] += 14.5  # 59.5 s into the window: half a second left
    still_over = availability(api, small_restaurant, "10.0.3.1")
    clock[0] += 1  # the next minute
    next_window = availability(api, small_restaurant, "10.0.3.1")

    assert answers == [200, 200]
    assert_rate_limited(over)
    assert over["Retry-After"] == "15"
    assert_rate_limited(still_over)
    assert still_over["Retry-After"] == "1"
    assert next_window.status_code == 200


def test_the_counter_is_one_key_per_window_under_the_cache_prefix_and_expires_with_it(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates, clock: list[float]
) -> None:
    set_rates(ip="10/min", restaurant="10/min")
    window_start = int(clock[0] // 60 * 60)

    for _ in range(3):
        availability(api, small_restaurant, "10.0.4.1")

    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    ip_key = cache.make_key(f"throttle:anon_ip:10.0.4.1:{window_start}")
    restaurant_key = cache.make_key(f"throttle:anon_restaurant:{small_restaurant.slug}:{window_start}")
    assert ip_key.startswith(f"{cache.key_prefix}:")  # so the test fixture's cleanup finds it
    assert [client.get(ip_key), client.get(restaurant_key)] == [b"3", b"3"]
    assert 0 < client.ttl(ip_key) <= 60


def test_one_request_costs_one_redis_round_trip_for_both_throttles(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates, redis_writes: list[bytes]
) -> None:
    set_rates(ip="100/min", restaurant="100/min")
    availability(api, small_restaurant, "10.0.5.1")  # the connection is open and warm
    redis_writes.clear()

    response = availability(api, small_restaurant, "10.0.5.1")

    throttle_trips = [write for write in redis_writes if b":throttle:" in write]
    assert response.status_code == 200
    assert len(throttle_trips) == 1, throttle_trips
    (trip,) = throttle_trips
    assert trip.count(b"\r\nINCRBY\r\n") == 2 and trip.count(b"\r\nEXPIRE\r\n") == 2
    assert b"anon_ip:10.0.5.1:" in trip and f"anon_restaurant:{small_restaurant.slug}:".encode() in trip


def test_a_booking_counts_both_scopes_in_one_round_trip(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates, redis_writes: list[bytes]
) -> None:
    set_rates(ip="100/min", restaurant="100/min")
    post_booking(api, booking_body(small_restaurant.slug, hour=18))
    redis_writes.clear()

    response = post_booking(api, booking_body(small_restaurant.slug, hour=20))

    throttle_trips = [write for write in redis_writes if b":throttle:" in write]
    assert response.status_code == 201, response.json()
    assert len(throttle_trips) == 1 and throttle_trips[0].count(b"\r\nINCRBY\r\n") == 2


def test_each_remote_addr_is_counted_on_its_own(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(ip="1/min")

    first = [availability(api, small_restaurant, f"10.0.6.{n}").status_code for n in range(1, 4)]
    again = [availability(api, small_restaurant, f"10.0.6.{n}").status_code for n in range(1, 4)]

    assert first == [200, 200, 200]
    assert again == [429, 429, 429]


def availability_via(api: APIClient, restaurant: Restaurant, proxy: str, forwarded_for: str) -> Any:
    day = evening().date().isoformat()
    return api.get(
        f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size=2",
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_x_forwarded_for_is_ignored_without_trusted_proxies(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(ip="2/min")

    answers = [
        availability_via(api, small_restaurant, "10.0.7.1", forwarded_for=f"203.0.113.{n}").status_code
        for n in range(3)
    ]

    assert answers == [200, 200, 429]  # a new X-Forwarded-For each time does not make a new client


@override_settings(THROTTLE_TRUSTED_PROXIES=1)
def test_behind_one_trusted_proxy_the_client_is_the_address_it_saw(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates
) -> None:
    set_rates(ip="2/min")
    proxy = "10.0.8.1"

    guest = [availability_via(api, small_restaurant, proxy, "203.0.113.7").status_code for _ in range(2)]
    # The guest writes its own X-Forwarded-For; the proxy appends the address it saw.
    spoofed = availability_via(api, small_restaurant, proxy, "198.51.100.1, 203.0.113.7")
    another_guest = availability_via(api, small_restaurant, proxy, "203.0.113.8")

    assert guest == [200, 200]
    assert_rate_limited(spoofed)
    assert another_guest.status_code == 200  # the proxy's own address is not the client


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "client"),
    [
        (0, None, "10.0.0.9"),
        (0, "203.0.113.7", "10.0.0.9"),
        (1, None, "10.0.0.9"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (2, "198.51.100.1, 203.0.113.7, 192.0.2.1", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),  # skipped the outer proxy: what the inner one saw
        (1, "  ", "10.0.0.9"),
    ],
)
def test_the_ident_is_the_client_address(trusted: int, forwarded_for: str | None, client: str) -> None:
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    request = Request(RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", **headers))

    with override_settings(THROTTLE_TRUSTED_PROXIES=trusted):
        assert PerIPThrottle().get_ident(request) == client


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [("{not json", "application/json", 400), ("restaurant=small-place", "text/plain", 415)],
)
def test_a_body_the_restaurant_throttle_cannot_read_is_not_counted_and_does_not_switch_throttles_off(
    api: APIClient,
    small_restaurant: Restaurant,
    set_rates: SetRates,
    body: str,
    content_type: str,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_rates(ip="2/min", restaurant="1/min")

    unreadable = api.post(
        "/api/v1/bookings", body, content_type=content_type, HTTP_IDEMPOTENCY_KEY="k", REMOTE_ADDR="10.0.9.1"
    )
    after = [availability(api, small_restaurant, "10.0.9.2").status_code for _ in range(2)]

    assert unreadable.status_code == status
    assert after == [200, 429]  # the restaurant's one request is still free, and throttles still stand
    assert "throttles skipped" not in caplog.text


def test_without_redis_the_throttles_stand_aside_with_one_warning_then_return(
    api: APIClient, small_restaurant: Restaurant, set_rates: SetRates, caplog: pytest.LogCaptureFixture
) -> None:
    set_rates(ip="1/min", restaurant="1/min")

    with caplog.at_level(logging.WARNING, logger="reservex.api"):
        with override_settings(CACHES=UNREACHABLE_REDIS):
            during = [availability(api, small_restaurant, "10.0.10.1").status_code for _ in range(3)]
        FailOpenThrottle._skip_until = 0.0  # the 5 s are up and Redis is back
        after = [availability(api, small_restaurant, "10.0.10.1").status_code for _ in range(2)]

    warnings = [record.getMessage() for record in caplog.records if record.name == "reservex.api"]
    assert during == [200, 200, 200]
    assert len(warnings) == 1 and warnings[0].startswith("throttles skipped for 5s"), warnings
    assert after == [200, 429]
