"""The admin telemetry dashboard: numbers, scoping by restaurant, the admin link, the charts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from bookings.tests.factories import RestaurantFactory, UserFactory
from observability.charts import Series, bar_chart, hbar_chart, line_chart, nice_scale
from observability.dashboard import Window, dashboard_data
from observability.models import AllocationAttempt, ObservabilityEvent

URL = "/admin/observability/dashboard/"
DAY = date(2030, 1, 7)
UTC_ZONE = ZoneInfo("UTC")


def attempt(restaurant_id: int, hour: int, outcome: str, total_ms: float, mode: str = "inline", **kw) -> None:  # type: ignore[no-untyped-def]
    row = AllocationAttempt.objects.create(
        restaurant_id=restaurant_id,
        booking_id=kw.pop("booking_id", 1),
        mode=mode,
        attempt=1,
        outcome=outcome,
        total_ms=total_ms,
        **kw,
    )
    at = datetime(DAY.year, DAY.month, DAY.day, hour, 30, tzinfo=UTC)
    AllocationAttempt.objects.filter(pk=row.pk).update(created_at=at)


def event(restaurant_id: int, hour: int, kind: str) -> None:
    row = ObservabilityEvent.objects.create(type=kind, restaurant_id=restaurant_id)
    at = datetime(DAY.year, DAY.month, DAY.day, hour, 10, tzinfo=UTC)
    ObservabilityEvent.objects.filter(pk=row.pk).update(created_at=at)


@pytest.mark.django_db
class TestNumbers:
    def test_it_computes_rates_shares_and_percentiles_per_hour(self) -> None:
        for n, ms in enumerate([10, 20, 30, 40]):
            attempt(1, 12, "assigned", ms, booking_id=n)
        attempt(1, 12, "skipped", 50, failure_reason="no_table_fits_party")
        attempt(1, 12, "conflict", 60, failure_reason="conflict")
        attempt(1, 12, "assigned", 70, mode="background", booking_id=9)
        attempt(1, 15, "error", 100, failure_reason="db_error")
        event(1, 15, "allocation.retry_exhausted")
        attempt(2, 12, "assigned", 999)  # another restaurant: out of scope below

        data = dashboard_data(Window.ending_on(DAY, "day", UTC_ZONE), [1])

        assert len(data.hours) == 24
        noon = data.hours[12]
        assert (noon.assigned, noon.skipped, noon.conflict, noon.error) == (5, 1, 1, 0)
        assert noon.success_rate == pytest.approx(5 / 6)
        assert (noon.inline_assigned, noon.background_assigned) == (4, 1)
        # percentile_cont over 10, 20, 30, 40, 50, 60, 70 (linear interpolation).
        assert noon.p50 == pytest.approx(40)
        assert noon.p95 == pytest.approx(67)
        assert data.hours[15].retry_exhausted == 1
        assert data.hours[3].success_rate is None
        assert data.summary.attempts == 8
        assert data.summary.inline_share == pytest.approx(4 / 5)
        assert data.summary.retry_exhausted == 1
        assert data.taxonomy == [
            ("conflict", "conflict", 1),
            ("error", "db_error", 1),
            ("skipped", "no_table_fits_party", 1),
        ]
        assert [row.restaurant_id for row in data.restaurants] == [1]

    def test_buckets_follow_the_restaurants_hours(self) -> None:
        attempt(1, 23, "assigned", 10)  # 23:30 UTC on 7 Jan is 18:30 in New York
        zone = ZoneInfo("America/New_York")
        data = dashboard_data(Window.ending_on(DAY, "day", zone), [1])
        [busy] = [row for row in data.hours if row.assigned]
        assert busy.hour.hour == 18

    def test_a_week_has_168_hours_and_dst_days_keep_their_local_hours(self) -> None:
        london = ZoneInfo("Europe/London")
        assert len(Window.ending_on(DAY, "week", UTC_ZONE).hours()) == 168
        assert len(Window.ending_on(date(2030, 3, 31), "day", london).hours()) == 23
        # The repeated 01:00 of the autumn change is one bucket, as date_trunc in local time sees it.
        assert len(Window.ending_on(date(2030, 10, 27), "day", london).hours()) == 24

    def test_it_counts_the_waitlist_and_guest_messages_of_the_scope(self) -> None:
        event(1, 12, "waitlist.joined")
        event(1, 13, "waitlist.joined")
        event(1, 13, "waitlist.offered")
        event(1, 14, "waitlist.accepted")
        event(1, 14, "message.sent")
        event(2, 14, "waitlist.joined")  # another restaurant: out of scope below

        guests = dashboard_data(Window.ending_on(DAY, "day", UTC_ZONE), [1]).guests

        assert {kind: count for _, kind, count in guests} == {
            "waitlist.joined": 2,
            "waitlist.offered": 1,
            "waitlist.accepted": 1,
            "waitlist.declined": 0,
            "waitlist.expired": 0,
            "message.sent": 1,
            "booking.guest_confirmed": 0,
        }

    def test_it_stays_a_fixed_number_of_queries(self, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
        for hour in range(24):
            for n in range(5):
                attempt(1 + n % 3, hour, "assigned", 10 + n, booking_id=n)
        with django_assert_max_num_queries(8):  # 7 for allocation, 1 for the waitlist and messages
            dashboard_data(Window.ending_on(DAY, "week", UTC_ZONE), None)


@pytest.mark.django_db
class TestAccess:
    def test_anonymous_users_are_sent_to_the_login(self, client: Client) -> None:
        response = client.get(URL)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]

    def test_users_who_are_not_staff_are_sent_to_the_login(self, client: Client) -> None:
        client.force_login(UserFactory(username="guest", is_staff=False))
        assert client.get(URL).status_code == 302

    def test_staff_see_only_their_restaurants(
        self, client: Client, alice, alice_restaurant, bob_restaurant
    ) -> None:  # type: ignore[no-untyped-def]
        attempt(alice_restaurant.pk, 12, "assigned", 10)
        attempt(bob_restaurant.pk, 12, "skipped", 10)
        client.force_login(alice)

        response = client.get(URL, {"date": DAY.isoformat()})

        assert response.status_code == 200
        assert [r.id for r in response.context["restaurants"]] == [alice_restaurant.pk]
        assert response.context["data"].summary.attempts == 1
        assert "Bob&#x27;s Bistro" not in response.content.decode()
        assert "Bob's Bistro" not in response.content.decode()

    def test_staff_cannot_pick_another_restaurant(self, client: Client, alice, bob_restaurant) -> None:  # type: ignore[no-untyped-def]
        attempt(bob_restaurant.pk, 12, "assigned", 10)
        client.force_login(alice)
        response = client.get(URL, {"restaurant": bob_restaurant.pk, "date": DAY.isoformat()})
        assert response.context["chosen"] is None
        assert response.context["data"].summary.attempts == 0

    def test_superusers_see_every_restaurant(self, client: Client, alice_restaurant, bob_restaurant) -> None:  # type: ignore[no-untyped-def]
        attempt(alice_restaurant.pk, 12, "assigned", 10)
        attempt(bob_restaurant.pk, 12, "assigned", 10)
        client.force_login(UserFactory(username="root", is_superuser=True))
        response = client.get(URL, {"date": DAY.isoformat(), "period": "week"})
        assert response.context["data"].summary.attempts == 2
        assert len(response.context["per_restaurant"]) == 2

    def test_one_restaurant_can_be_chosen(self, client: Client, alice_restaurant, bob_restaurant) -> None:  # type: ignore[no-untyped-def]
        RestaurantFactory(slug="tokyo", timezone="Asia/Tokyo")
        attempt(alice_restaurant.pk, 12, "assigned", 10)
        attempt(bob_restaurant.pk, 12, "assigned", 10)
        client.force_login(UserFactory(username="root", is_superuser=True))
        response = client.get(URL, {"date": DAY.isoformat(), "restaurant": alice_restaurant.pk})
        assert response.context["chosen"].id == alice_restaurant.pk
        assert response.context["data"].summary.attempts == 1

    def test_the_admin_index_links_the_dashboard_for_staff(self, client: Client, alice) -> None:  # type: ignore[no-untyped-def]
        client.force_login(alice)
        assert URL in client.get("/admin/").content.decode()

    def test_bad_parameters_fall_back_to_defaults(self, client: Client, alice) -> None:  # type: ignore[no-untyped-def]
        client.force_login(alice)
        response = client.get(URL, {"date": "yesterday", "period": "decade", "restaurant": "x"})
        assert response.status_code == 200
        assert response.context["period"] == "day"
        assert response.context["day"] == timezone.now().astimezone(response.context["window"].zone).date()
        for extreme, period in (("9999-12-31", "day"), ("0001-01-01", "week")):
            assert client.get(URL, {"date": extreme, "period": period}).status_code == 200

    def test_staff_see_only_their_restaurants_telemetry_in_the_lists(
        self, client: Client, alice, alice_restaurant, bob_restaurant
    ) -> None:  # type: ignore[no-untyped-def]
        from django.contrib.auth.models import Permission

        alice.user_permissions.add(Permission.objects.get(codename="view_allocationattempt"))
        attempt(alice_restaurant.pk, 12, "assigned", 10, booking_id=111)
        attempt(bob_restaurant.pk, 12, "assigned", 10, booking_id=222)
        client.force_login(alice)
        response = client.get("/admin/observability/allocationattempt/")
        assert response.status_code == 200
        assert [row.booking_id for row in response.context["cl"].result_list] == [111]


class TestCharts:
    def test_nice_scales_are_round(self) -> None:
        assert nice_scale(0, 38, integer=True) == [0, 10, 20, 30, 40]
        assert nice_scale(0, 3, integer=True) == [0, 1, 2, 3]
        assert nice_scale(0.9, 1.0) == pytest.approx([0.9, 0.92, 0.94, 0.96, 0.98, 1.0])

    def test_labels_are_escaped(self) -> None:
        svg = line_chart(
            label="<x>",
            categories=["a", "b"],
            ticks=[(0, "<b>")],
            series=[Series("<script>", [1, None])],
        )
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg
        assert hbar_chart(label="t", items=[("<i>", 3)]).count("&lt;i&gt;") == 2

    def test_an_empty_chart_says_so(self) -> None:
        svg = bar_chart(label="t", categories=["a"], ticks=[], series=[Series("s", [0])])
        assert "Nothing in this period" in svg

    def test_a_gap_breaks_the_line(self) -> None:
        svg = line_chart(
            label="t", categories=list("abcde"), ticks=[], series=[Series("s", [1, 2, None, 3, 4])]
        )
        assert svg.count("<polyline") == 2


def test_window_is_midnight_to_midnight_local() -> None:
    zone = ZoneInfo("Europe/London")
    window = Window.ending_on(date(2030, 7, 1), "week", zone)
    assert window.start == datetime(2030, 6, 25, tzinfo=zone)
    assert window.end - window.start == timedelta(days=7)
