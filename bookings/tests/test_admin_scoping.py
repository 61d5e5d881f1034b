"""Staff see and edit only their own restaurants in admin; superusers see all."""

from __future__ import annotations

import pytest
from django.test import Client

from bookings.models import Restaurant
from bookings.tests.factories import BookingFactory, TableFactory, UserFactory


@pytest.fixture
def floors(alice_restaurant: Restaurant, bob_restaurant: Restaurant) -> None:
    TableFactory(restaurant=alice_restaurant, label="ALICE-T1")
    TableFactory(restaurant=bob_restaurant, label="BOB-T1")
    BookingFactory(restaurant=alice_restaurant, guest_name="Guest Of Alice")
    BookingFactory(restaurant=bob_restaurant, guest_name="Guest Of Bob")


@pytest.mark.usefixtures("floors")
def test_alice_sees_only_her_restaurant(client: Client, alice) -> None:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    restaurants = client.get("/admin/bookings/restaurant/").content.decode()
    assert "Alice&#x27;s Diner" in restaurants
    assert "Bob&#x27;s Bistro" not in restaurants
    tables = client.get("/admin/bookings/table/").content.decode()
    assert "ALICE-T1" in tables and "BOB-T1" not in tables
    bookings = client.get("/admin/bookings/booking/").content.decode()
    assert "Guest Of Alice" in bookings and "Guest Of Bob" not in bookings


@pytest.mark.usefixtures("floors")
def test_bob_cannot_open_alices_rows(client: Client, bob, alice_restaurant: Restaurant) -> None:  # type: ignore[no-untyped-def]
    client.force_login(bob)
    table = alice_restaurant.tables.get()
    assert client.get(f"/admin/bookings/restaurant/{alice_restaurant.pk}/change/").status_code == 302
    assert client.get(f"/admin/bookings/table/{table.pk}/change/").status_code == 302
    response = client.post(
        f"/admin/bookings/table/{table.pk}/change/",
        {"restaurant": alice_restaurant.pk, "label": "HACKED", "min_party": 1, "max_party": 2},
    )
    assert response.status_code == 302
    table.refresh_from_db()
    assert table.label == "ALICE-T1"


@pytest.mark.usefixtures("floors")
def test_bob_cannot_add_a_table_to_alices_restaurant(
    client: Client, bob, alice_restaurant: Restaurant
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(bob)
    response = client.post(
        "/admin/bookings/table/add/",
        {
            "restaurant": alice_restaurant.pk,
            "label": "SNEAKY",
            "section": "x",
            "min_party": 1,
            "max_party": 2,
            "x": 0,
            "y": 0,
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert not alice_restaurant.tables.filter(label="SNEAKY").exists()


@pytest.mark.usefixtures("floors")
def test_a_superuser_sees_every_restaurant(client: Client) -> None:
    client.force_login(UserFactory(username="root", is_superuser=True))
    restaurants = client.get("/admin/bookings/restaurant/").content.decode()
    assert "Alice&#x27;s Diner" in restaurants and "Bob&#x27;s Bistro" in restaurants


def test_alice_can_edit_her_own_table(client: Client, alice, alice_restaurant: Restaurant) -> None:  # type: ignore[no-untyped-def]
    table = TableFactory(restaurant=alice_restaurant, label="A1", max_party=4)
    client.force_login(alice)
    response = client.post(
        f"/admin/bookings/table/{table.pk}/change/",
        {
            "restaurant": alice_restaurant.pk,
            "label": "A1",
            "section": "window",
            "min_party": 1,
            "max_party": 6,
            "x": 0,
            "y": 0,
            "active": "on",
            "combinable": "on",
            "adjacencies-TOTAL_FORMS": 0,
            "adjacencies-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    table.refresh_from_db()
    assert (table.section, table.max_party) == ("window", 6)
