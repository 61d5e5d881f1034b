"""Shared fixtures: the fixed cast for permission tests and a small restaurant."""

from __future__ import annotations

import pytest

from bookings.models import Restaurant
from bookings.tests.factories import RestaurantFactory, UserFactory


@pytest.fixture
def alice_restaurant(db: None) -> Restaurant:
    return RestaurantFactory(slug="alices-diner", name="Alice's Diner")


@pytest.fixture
def bob_restaurant(db: None) -> Restaurant:
    return RestaurantFactory(slug="bobs-bistro", name="Bob's Bistro")


@pytest.fixture
def alice(alice_restaurant: Restaurant):  # type: ignore[no-untyped-def]
    """Staff of Alice's Diner."""
    from bookings.demo import staff_group

    user = UserFactory(username="alice")
    user.groups.add(staff_group())
    alice_restaurant.staff.add(user)
    return user


@pytest.fixture
def bob(bob_restaurant: Restaurant):  # type: ignore[no-untyped-def]
    """Staff of another restaurant (Bob's Bistro)."""
    from bookings.demo import staff_group

    user = UserFactory(username="bob")
    user.groups.add(staff_group())
    bob_restaurant.staff.add(user)
    return user
