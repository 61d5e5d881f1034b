from __future__ import annotations

import pytest
from django.core.management import call_command

from bookings.demo import DEMO_SLUG, DEMO_STAFF_USERNAME
from bookings.models import CapacityRule, Restaurant, ServicePeriod, Table, TableAdjacency

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Restaurant, Table, TableAdjacency, ServicePeriod, CapacityRule))


def test_seed_demo_is_deterministic_and_safe_to_run_twice(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first
    restaurant = Restaurant.objects.get(slug=DEMO_SLUG)
    assert restaurant.name == "White Horse Pub (Waterbeach)"
    assert set(restaurant.tables.values_list("section", flat=True)) == {"bar", "dining room", "garden"}
    assert 20 <= restaurant.tables.count() <= 30
    assert set(restaurant.tables.values_list("max_party", flat=True)) == {2, 4, 6, 8}
    assert restaurant.staff.filter(username=DEMO_STAFF_USERNAME).exists()
    assert (
        restaurant.periods.filter(kind="lunch").exists() and restaurant.periods.filter(kind="dinner").exists()
    )
    assert CapacityRule.objects.filter(period__restaurant=restaurant, pacing_covers__isnull=False).exists()
    assert DEMO_STAFF_USERNAME in capsys.readouterr().out


def test_seed_demo_stress_builds_large_layouts() -> None:
    call_command("seed_demo", "--stress", "3")
    stress = Restaurant.objects.filter(slug__startswith="stress-")
    assert stress.count() == 3
    assert all(r.tables.count() == 60 for r in stress)
