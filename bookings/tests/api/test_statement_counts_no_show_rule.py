"""The no-show rule's cost on the booking path: nothing when off, one history lookup when on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from bookings.models import Booking, Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.api.test_statement_counts import count  # noqa: F401 - the fixture
from bookings.tests.factories import BookingFactory
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db(transaction=True)


def _no_show(restaurant: Restaurant, guest_email: str) -> None:
    starts = evening(days_ahead=-30)
    BookingFactory(
        restaurant=restaurant,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        status=Booking.Status.NO_SHOW,
        guest_email=guest_email,
    )


@pytest.mark.parametrize("has_history", [False, True])
def test_with_the_rule_on_a_booking_costs_one_statement_more_and_still_one_commit(
    small_restaurant: Restaurant,
    count: Callable[..., Any],  # noqa: F811 - the fixture imported above
    has_history: bool,
) -> None:
    api = APIClient()
    small_restaurant.confirm_after_no_shows = 1
    small_restaurant.save()
    if has_history:
        _no_show(small_restaurant, "ada@example.org")  # booking_body's guest
    _warm_other_guest(api, small_restaurant)

    response, cost = count(lambda: post_booking(api, booking_body(small_restaurant.slug, hour=19)))

    assert response.status_code == (202 if has_history else 201), response.json()
    assert response.json()["awaiting_staff"] is has_history
    assert cost.write_transactions == 1, cost.statements
    # 11 for a direct booking (test_statement_counts.py) + the guest's no-shows.
    assert len(cost.statements) == 12, "\n".join(cost.statements)


def _warm_other_guest(api: APIClient, restaurant: Restaurant) -> None:
    """Warm the caches with a booking of a guest without history (confirmed, 201)."""
    day = evening().date().isoformat()
    assert (
        api.get(f"/api/v1/restaurants/{restaurant.slug}/availability?date={day}&party_size=2").status_code
        == 200
    )
    body = booking_body(restaurant.slug, hour=17, guest_email="grace@example.org", guest_phone="")
    assert post_booking(api, body).status_code == 201
