from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from bookings.tests.helpers import evening


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def booking_body(
    restaurant: str, party: int = 2, hour: int = 19, minute: int = 0, **extra: Any
) -> dict[str, Any]:
    when = evening(hour, minute)
    return {
        "restaurant": restaurant,
        "date": when.date().isoformat(),
        "time": f"{hour:02d}:{minute:02d}",
        "party_size": party,
        "guest_name": "Ada Lovelace",
        "guest_email": "ada@example.org",
        "guest_phone": "+44 1223 555 0100",
        **extra,
    }


def post_booking(api: APIClient, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return api.post("/api/v1/bookings", body, format="json", **headers)
