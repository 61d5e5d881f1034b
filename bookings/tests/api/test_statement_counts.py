"""What one booking request costs the database: statements and commits, pinned (DESIGN §10).

Counts are deterministic, unlike times: a change that adds a statement or a commit to the hot path
fails here. Each scenario warms the per-process caches (configuration, flags) first, as a running
server has them, then counts one request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from bookings.models import Booking, CapacityRule, Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db(transaction=True)

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    autocommit_writes: int = 0

    @property
    def write_transactions(self) -> int:
        return self.commits + self.autocommit_writes


@pytest.fixture
def count(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], tuple[Any, Cost]]:
    """Return a function that runs a call and reports the statements and commits it cost."""

    def run(call: Callable[[], Any]) -> tuple[Any, Cost]:
        cost = Cost()
        connection.ensure_connection()
        real_commit = connection._commit  # type: ignore[attr-defined]

        def counting_commit() -> None:
            cost.commits += 1
            real_commit()

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            cost.statements.append(sql)
            if not connection.in_atomic_block and _WRITE.match(sql):
                cost.autocommit_writes += 1
            return execute(sql, params, many, context)

        with monkeypatch.context() as patch:
            patch.setattr(connection, "_commit", counting_commit)
            with connection.execute_wrapper(record):
                result = call()
        return result, cost

    return run


def _warm(api: APIClient, restaurant: Restaurant) -> None:
    """Load the configuration and flag caches, as every running server process has them."""
    day = evening().date().isoformat()
    assert (
        api.get(f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size=2").status_code
        == 200
    )
    assert post_booking(api, booking_body(restaurant.slug, hour=17)).status_code == 201


@pytest.fixture
def api() -> Iterator[APIClient]:
    yield APIClient()


def test_a_direct_booking_is_one_commit_and_eleven_statements(
    api: APIClient, small_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    _warm(api, small_restaurant)

    response, cost = count(lambda: post_booking(api, booking_body(small_restaurant.slug, hour=19)))

    assert response.status_code == 201, response.json()
    assert cost.write_transactions == 1, cost.statements
    assert len(cost.statements) == 11, "\n".join(cost.statements)


def test_a_replayed_booking_reads_its_stored_answer_and_writes_nothing(
    api: APIClient, small_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    _warm(api, small_restaurant)
    key = str(uuid.uuid4())
    first = post_booking(api, booking_body(small_restaurant.slug, hour=19), key=key)

    replay, cost = count(lambda: post_booking(api, booking_body(small_restaurant.slug, hour=19), key=key))

    assert replay.status_code == 201 and replay.json() == first.json()
    assert Booking.objects.filter(starts_at=evening(19)).count() == 1
    assert cost.autocommit_writes == 0
    assert len(cost.statements) <= 4, "\n".join(cost.statements)


def test_a_hold_conversion_is_one_commit_and_at_most_ten_statements(
    api: APIClient, one_table_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    restaurant = one_table_restaurant
    day = evening().date().isoformat()
    assert (
        api.get(f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size=2").status_code
        == 200
    )
    hold = api.post(
        f"/api/v1/restaurants/{restaurant.slug}/holds",
        {"date": day, "time": "19:00", "party_size": 2},
        format="json",
    ).json()

    response, cost = count(lambda: post_booking(api, booking_body(restaurant.slug, hold_id=hold["id"])))

    assert response.status_code == 201, response.json()
    assert response.json()["tables"] == ["ONLY"]
    assert cost.write_transactions == 1, cost.statements
    assert len(cost.statements) <= 10, "\n".join(cost.statements)


def test_a_refusal_is_at_most_six_statements_and_leaves_no_claim(
    api: APIClient, one_table_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    restaurant = one_table_restaurant
    CapacityRule.objects.filter(period__restaurant=restaurant).update(max_covers=2)
    _warm(api, restaurant)  # the 17:00 booking fills the covers until 18:30
    assert post_booking(api, booking_body(restaurant.slug, hour=19)).status_code == 201

    response, cost = count(lambda: post_booking(api, booking_body(restaurant.slug, hour=19)))

    assert response.status_code == 409 and response.json()["error"] == "CAPACITY_EXCEEDED"
    assert len(cost.statements) <= 6, "\n".join(cost.statements)
    assert cost.write_transactions <= 1  # the refusal's telemetry, nothing else


def test_a_refusal_the_cached_day_knows_skips_the_lock_and_costs_two_statements(
    api: APIClient, one_table_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    restaurant = one_table_restaurant
    _warm(api, restaurant)
    assert post_booking(api, booking_body(restaurant.slug, hour=19)).status_code == 201
    day = evening().date().isoformat()
    assert (
        api.get(f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size=2").status_code
        == 200
    )

    response, cost = count(lambda: post_booking(api, booking_body(restaurant.slug, hour=19)))

    assert response.status_code == 409 and response.json()["reason"] == "all_tables_busy"
    assert response.json()["alternatives"]
    assert not any("pg_advisory_xact_lock" in sql for sql in cost.statements)
    # the restaurant, its versions and "was this key used?" in one; the refusal's event
    assert len(cost.statements) == 2, "\n".join(cost.statements)


def test_a_hold_is_one_commit_and_at_most_six_statements(
    api: APIClient, small_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    _warm(api, small_restaurant)
    day = evening().date().isoformat()

    response, cost = count(
        lambda: api.post(
            f"/api/v1/restaurants/{small_restaurant.slug}/holds",
            {"date": day, "time": "19:00", "party_size": 2},
            format="json",
        )
    )

    assert response.status_code == 201, response.json()
    assert cost.write_transactions == 1, cost.statements
    assert len(cost.statements) <= 6, "\n".join(cost.statements)


def test_availability_from_the_cache_is_one_statement(
    api: APIClient, small_restaurant: Restaurant, count: Callable[..., Any]
) -> None:
    _warm(api, small_restaurant)
    url = f"/api/v1/restaurants/{small_restaurant.slug}/availability?date={evening().date()}&party_size=2"
    first = api.get(url)

    again, cost = count(lambda: api.get(url))

    assert again.status_code == 200 and again.json() == first.json()
    assert len(cost.statements) == 1, "\n".join(cost.statements)


def test_a_booking_makes_one_redis_round_trip_the_throttles(
    api: APIClient, small_restaurant: Restaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    _warm(api, small_restaurant)
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)

    response = post_booking(api, booking_body(small_restaurant.slug, hour=19))

    assert response.status_code == 201, response.json()
    assert len(sent) == 1, sent
    assert b"INCR" in sent[0] and b"EXPIRE" in sent[0]  # the throttles' pipeline
