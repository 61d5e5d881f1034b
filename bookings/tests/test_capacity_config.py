"""Capacity configuration cannot be saved inconsistent, and says why in a manager's words."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from bookings.models import CapacityOverride, CapacityRule, Restaurant, ServicePeriod, Table, TableAdjacency
from bookings.tests.factories import (
    CapacityRuleFactory,
    ServicePeriodFactory,
    TableFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def messages_of(error: ValidationError) -> str:
    return " ".join(error.messages)


# --- service periods -------------------------------------------------------------------------------


def test_it_refuses_two_periods_of_one_day_that_overlap(alice_restaurant: Restaurant) -> None:
    ServicePeriodFactory(
        restaurant=alice_restaurant,
        kind="lunch",
        weekday=0,
        opens=time(12),
        closes=time(18),
        last_seating=time(16),
    )
    dinner = ServicePeriod(
        restaurant=alice_restaurant,
        kind="dinner",
        weekday=0,
        opens=time(17, 30),
        closes=time(22, 30),
        last_seating=time(21),
    )
    with pytest.raises(ValidationError) as caught:
        dinner.full_clean()
    assert "Dinner on Monday (17:30–22:30) overlaps lunch (12:00–18:00)" in messages_of(caught.value)


def test_it_accepts_periods_that_touch_or_fall_on_other_days(alice_restaurant: Restaurant) -> None:
    ServicePeriodFactory(
        restaurant=alice_restaurant,
        kind="lunch",
        weekday=0,
        opens=time(12),
        closes=time(17),
        last_seating=time(15),
    )
    ServicePeriod(
        restaurant=alice_restaurant,
        kind="dinner",
        weekday=0,
        opens=time(17),
        closes=time(23),
        last_seating=time(21),
    ).full_clean()
    ServicePeriod(
        restaurant=alice_restaurant,
        kind="dinner",
        weekday=1,
        opens=time(12),
        closes=time(23),
        last_seating=time(21),
    ).full_clean()


def test_editing_a_period_does_not_collide_with_itself(alice_restaurant: Restaurant) -> None:
    period = ServicePeriodFactory(restaurant=alice_restaurant, weekday=2)
    period.closes = time(23, 30)
    period.full_clean()


def test_it_refuses_a_last_seating_after_closing(alice_restaurant: Restaurant) -> None:
    period = ServicePeriod(
        restaurant=alice_restaurant,
        kind="dinner",
        weekday=3,
        opens=time(17),
        closes=time(22),
        last_seating=time(22, 30),
    )
    with pytest.raises(ValidationError) as caught:
        period.full_clean()
    assert caught.value.message_dict == {
        "last_seating": [
            "Last seating (22:30) is after closing: it must fall within opening hours, 17:00–22:00."
        ]
    }


def test_it_refuses_a_last_seating_before_opening(alice_restaurant: Restaurant) -> None:
    period = ServicePeriod(
        restaurant=alice_restaurant,
        kind="lunch",
        weekday=3,
        opens=time(12),
        closes=time(15),
        last_seating=time(11),
    )
    with pytest.raises(ValidationError) as caught:
        period.full_clean()
    assert "Last seating (11:00) is before opening" in messages_of(caught.value)
    assert "Constraint" not in messages_of(caught.value)  # not the database's wording


def test_it_refuses_closing_before_opening(alice_restaurant: Restaurant) -> None:
    period = ServicePeriod(
        restaurant=alice_restaurant,
        kind="drinks",
        weekday=4,
        opens=time(20),
        closes=time(1),
        last_seating=time(20),
    )
    with pytest.raises(ValidationError) as caught:
        period.full_clean()
    assert "Closing time (01:00) must be after opening time (20:00)" in messages_of(caught.value)


# --- pacing ------------------------------------------------------------------------------------------


def test_it_refuses_a_rule_pacing_above_its_covers(alice_restaurant: Restaurant) -> None:
    period = ServicePeriodFactory(restaurant=alice_restaurant, weekday=5)
    rule = CapacityRule(period=period, max_covers=40, pacing_covers=60)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert caught.value.message_dict == {
        "pacing_covers": [
            "Pacing (60 guests starting per slot) cannot be more than the guests seated at once (40). "
            "Lower the pacing or raise the covers."
        ]
    }


def test_a_rule_with_either_limit_empty_is_fine(alice_restaurant: Restaurant) -> None:
    period = ServicePeriodFactory(restaurant=alice_restaurant, weekday=6)
    CapacityRule(period=period, max_covers=None, pacing_covers=60).full_clean()
    CapacityRule(period=period, max_covers=40, pacing_covers=40).full_clean()


def test_it_refuses_an_override_pacing_above_its_covers(alice_restaurant: Restaurant) -> None:
    override = CapacityOverride(
        restaurant=alice_restaurant,
        date=date(2030, 2, 14),
        max_covers=20,
        pacing_covers=30,
        reason="Valentine's",
    )
    with pytest.raises(ValidationError) as caught:
        override.full_clean()
    assert "Pacing (30 guests starting per slot) cannot be more than the guests seated at once (20)" in (
        messages_of(caught.value)
    )


# --- tables and joins --------------------------------------------------------------------------------


def test_it_refuses_a_table_whose_minimum_party_is_above_its_seats(alice_restaurant: Restaurant) -> None:
    table = Table(restaurant=alice_restaurant, label="W1", min_party=6, max_party=4)
    with pytest.raises(ValidationError) as caught:
        table.full_clean()
    assert caught.value.message_dict == {
        "min_party": [
            "The smallest party (6) is larger than the table seats (4): no party could ever sit here. "
            "Lower the minimum or raise the seats."
        ]
    }


def test_it_refuses_a_table_joined_to_itself(alice_restaurant: Restaurant) -> None:
    table = TableFactory(restaurant=alice_restaurant, label="A1")
    with pytest.raises(ValidationError) as caught:
        TableAdjacency(restaurant=alice_restaurant, table_a=table, table_b=table).full_clean()
    assert "A table cannot be joined to itself" in messages_of(caught.value)


def test_it_refuses_a_join_across_restaurants(
    alice_restaurant: Restaurant, bob_restaurant: Restaurant
) -> None:
    mine = TableFactory(restaurant=alice_restaurant, label="A1")
    theirs = TableFactory(restaurant=bob_restaurant, label="B1")
    with pytest.raises(ValidationError) as caught:
        TableAdjacency(restaurant=alice_restaurant, table_a=mine, table_b=theirs).full_clean()
    assert "Only tables of the same restaurant can be joined (B1 belongs to Bob's Bistro)" in messages_of(
        caught.value
    )


def test_a_join_is_stored_lower_id_first(alice_restaurant: Restaurant) -> None:
    first = TableFactory(restaurant=alice_restaurant, label="A1")
    second = TableFactory(restaurant=alice_restaurant, label="A2")
    join = TableAdjacency(restaurant=alice_restaurant, table_a=second, table_b=first)
    join.full_clean()
    join.save()
    assert (join.table_a_id, join.table_b_id) == (first.pk, second.pk)


# --- through the admin: the manager sees the message on the form --------------------------------


@pytest.fixture
def manager_client(client: Client, alice) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    return client


def test_the_admin_shows_why_a_table_cannot_be_saved(
    manager_client: Client, alice_restaurant: Restaurant
) -> None:
    response = manager_client.post(
        "/admin/bookings/table/add/",
        {
            "restaurant": alice_restaurant.pk,
            "label": "W9",
            "section": "",
            "min_party": 5,
            "max_party": 2,
            "x": 0,
            "y": 0,
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The smallest party (5) is larger than the table seats (2)" in page
    assert "Constraint" not in page
    assert not Table.objects.filter(label="W9").exists()


def test_the_admin_shows_an_overlap_between_inline_periods(
    manager_client: Client, alice_restaurant: Restaurant
) -> None:
    """Two new periods of one day in the restaurant form overlap each other (neither is saved yet)."""
    period = {"restaurant": alice_restaurant.pk, "weekday": 0}
    data = {
        "name": alice_restaurant.name,
        "timezone": "UTC",
        "slot_interval_minutes": 15,
        "booking_horizon_days": 90,
        "hold_ttl_seconds": 300,
        "turn_times": "[[2, 90], [4, 105], [6, 120], [0, 150]]",
        "periods-TOTAL_FORMS": 2,
        "periods-INITIAL_FORMS": 0,
        **{f"periods-0-{k}": v for k, v in period.items()},
        "periods-0-kind": "lunch",
        "periods-0-opens": "12:00",
        "periods-0-closes": "18:00",
        "periods-0-last_seating": "16:00",
        **{f"periods-1-{k}": v for k, v in period.items()},
        "periods-1-kind": "dinner",
        "periods-1-opens": "17:30",
        "periods-1-closes": "22:30",
        "periods-1-last_seating": "21:00",
    }
    response = manager_client.post(f"/admin/bookings/restaurant/{alice_restaurant.pk}/change/", data)
    assert response.status_code == 200
    assert "Dinner on Monday (17:30–22:30) overlaps lunch (12:00–18:00)" in response.content.decode()
    assert not alice_restaurant.periods.exists()

    # Moving both in one submission so that they no longer overlap is accepted.
    data["periods-0-closes"] = "17:00"
    response = manager_client.post(f"/admin/bookings/restaurant/{alice_restaurant.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert alice_restaurant.periods.count() == 2


def test_the_admin_refuses_pacing_above_covers_on_a_rule(
    manager_client: Client, alice_restaurant: Restaurant
) -> None:
    period = ServicePeriodFactory(restaurant=alice_restaurant, weekday=1)
    rule = CapacityRuleFactory(period=period, max_covers=50)
    response = manager_client.post(
        f"/admin/bookings/capacityrule/{rule.pk}/change/",
        {"period": period.pk, "max_covers": 50, "max_parties": 20, "pacing_covers": 80},
    )
    assert response.status_code == 200
    assert "Pacing (80 guests starting per slot) cannot be more than the guests seated at once (50)" in (
        response.content.decode()
    )
    rule.refresh_from_db()
    assert rule.pacing_covers is None


def test_a_superuser_cannot_join_tables_of_two_restaurants(
    client: Client, alice_restaurant: Restaurant, bob_restaurant: Restaurant
) -> None:
    client.force_login(UserFactory(username="root", is_superuser=True))
    mine = TableFactory(restaurant=alice_restaurant, label="A1")
    theirs = TableFactory(restaurant=bob_restaurant, label="B1")
    response = client.post(
        "/admin/bookings/tableadjacency/add/",
        {"restaurant": alice_restaurant.pk, "table_a": mine.pk, "table_b": theirs.pk},
    )
    assert response.status_code == 200
    assert "Only tables of the same restaurant can be joined" in response.content.decode()
    assert not TableAdjacency.objects.exists()
