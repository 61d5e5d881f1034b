"""Every way a booking gets tables is recorded as an allocation attempt with its mode: the planner
inline, the background job, a converted hold (the widget's path) and staff assigning or moving."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.models import Booking, Restaurant
from bookings.services.changes import booking_move
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.factories import UserFactory
from bookings.tests.helpers import evening
from observability.dashboard import Window, dashboard_data
from observability.models import AllocationAttempt

pytestmark = pytest.mark.django_db


def test_a_booking_from_a_hold_is_an_attempt_the_dashboard_counts(
    one_table_restaurant: Restaurant,
) -> None:
    api = APIClient()
    day = evening().date().isoformat()
    hold = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/holds",
        {"date": day, "time": "19:00", "party_size": 2},
        format="json",
    ).json()

    response = post_booking(api, booking_body(one_table_restaurant.slug, hold_id=hold["id"]))

    assert response.status_code == 201
    attempt = AllocationAttempt.objects.get(booking_id=Booking.objects.get().pk)
    assert (attempt.mode, attempt.outcome, attempt.tables) == ("hold", "assigned", ["ONLY"])
    assert attempt.seat_waste == 2  # a table of 4 for a party of 2
    today = timezone.now().astimezone(ZoneInfo("UTC")).date()
    summary = dashboard_data(Window.ending_on(today, "day", ZoneInfo("UTC")), None).summary
    assert (summary.attempts, summary.assigned, summary.inline_assigned) == (1, 1, 1)


def test_staff_moving_a_booking_is_an_attempt_of_its_own(small_restaurant: Restaurant) -> None:
    api = APIClient()
    reference = post_booking(api, booking_body(small_restaurant.slug, party=2)).json()["reference"]
    booking = Booking.objects.get(reference=reference)
    staff = UserFactory(username="mover")

    booking_move(booking=booking, actor_id=staff.pk, table_labels=["T4"])

    modes = list(
        AllocationAttempt.objects.filter(booking_id=booking.pk)
        .order_by("created_at")
        .values_list("mode", "tables")
    )
    assert modes == [("inline", modes[0][1]), ("staff", ["T4"])]
