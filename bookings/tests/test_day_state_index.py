"""The day-state read finds a restaurant's table windows through the exclusion constraint's index,
by restaurant first: its cost does not grow with other restaurants' bookings (decision 0001)."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bookings.models import Restaurant
from bookings.snapshots import _DAY_STATE_WINDOWS_SQL
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db


def _index_conditions(plan: dict[str, object]) -> list[tuple[str, str]]:
    """Return (index name, index condition) of every index scan in a JSON plan."""
    found = []
    if "Index Name" in plan:
        found.append((str(plan["Index Name"]), str(plan.get("Index Cond", ""))))
    for child in plan.get("Plans", []) or []:  # type: ignore[union-attr]
        found += _index_conditions(child)
    return found


def test_the_windows_are_found_by_restaurant_and_time_in_the_constraints_index(
    small_restaurant: Restaurant,
) -> None:
    windows_sql = _DAY_STATE_WINDOWS_SQL.split("UNION ALL", 1)[1]
    params = {
        "rid": small_restaurant.pk,
        "now": timezone.now(),
        "wide_start": evening(17),
        "wide_end": evening(23),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is small enough to scan
        cursor.execute("EXPLAIN (FORMAT JSON) " + windows_sql, params)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    scans = _index_conditions(plan)
    assert scans, plan
    assert all(name == "occupancy_no_overlap" for name, _ in scans), scans
    assert any("restaurant_id" in condition and "during" in condition for _, condition in scans), scans
