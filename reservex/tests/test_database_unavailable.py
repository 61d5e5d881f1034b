"""When PostgreSQL cannot be reached, every endpoint answers 503 with Retry-After, never a 500.

The connection is pointed at a local port where nothing listens (a real refused connection, as
during a restart), then pointed back; the pool is rebuilt both times, so nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client

from bookings.tests.processes import free_port


def _reset_connection() -> None:
    connection.close()
    connection.close_pool()


@contextmanager
def _unreachable() -> Iterator[None]:
    """Point the connection at a port where nothing listens; point it back (a fresh pool) on exit."""
    saved = dict(connection.settings_dict)
    _reset_connection()
    connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": str(free_port())})
    connection.settings_dict["OPTIONS"] = {
        **saved.get("OPTIONS", {}),
        "pool": {**saved["OPTIONS"]["pool"], "timeout": 1},
    }
    try:
        yield
    finally:
        _reset_connection()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.fixture
def database_unreachable(django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock(), _unreachable():
        yield


def assert_service_unavailable(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "SERVICE_UNAVAILABLE" and body["message"]
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/restaurants/white-horse/availability?date=2030-01-01&party_size=2",
        "/api/v1/bookings/some-reference",
        "/widget/white-horse/",
    ],
)
def test_every_kind_of_endpoint_answers_503_without_the_database(
    database_unreachable: None, path: str
) -> None:
    assert_service_unavailable(Client(raise_request_exception=False).get(path))


def test_a_staff_sign_in_without_the_database_is_503_not_an_error_page(database_unreachable: None) -> None:
    response = Client(raise_request_exception=False).post(
        "/admin/login/", {"username": "demo-staff", "password": "whatever"}
    )
    assert_service_unavailable(response)


def test_a_booking_without_the_database_is_503_and_the_widget_may_retry(database_unreachable: None) -> None:
    response = Client(raise_request_exception=False).post(
        "/api/v1/bookings",
        {
            "restaurant": "white-horse",
            "date": "2030-01-01",
            "time": "19:00",
            "party_size": 2,
            "guest_name": "Ada Lovelace",
        },
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="retry-me",
    )
    assert_service_unavailable(response)


def test_readyz_says_the_database_is_unavailable(database_unreachable: None) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


@pytest.mark.django_db(transaction=True)
def test_the_pool_serves_again_once_the_database_is_back() -> None:
    with _unreachable():
        assert Client().get("/readyz").status_code == 503
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["database"] == "ok"
