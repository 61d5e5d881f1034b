"""check_integrity finds each kind of broken invariant, and only broken ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from psycopg.types.range import Range

from bookings.integrity import check_integrity
from bookings.models import Booking, CapacityRule, Restaurant, TableOccupancy
from bookings.services.admission import booking_admit
from bookings.tests.helpers import evening, restore_no_overlap_constraint


def report(**kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("stale_after", timedelta(minutes=10))
    return check_integrity(now=timezone.now(), **kwargs)


def book(restaurant: Restaurant, party: int = 2, **kwargs) -> Booking:  # type: ignore[no-untyped-def]
    kwargs.setdefault("starts_at", evening())
    return booking_admit(restaurant=restaurant, party_size=party, guest_name="G", **kwargs).booking


def test_a_healthy_evening_is_clean(small_restaurant: Restaurant) -> None:
    for party in (2, 4, 4, 6, 2):
        book(small_restaurant, party)
    result = report()
    assert result.ok, result.render()
    assert result.checked_bookings == 5


def test_it_reports_over_capacity_written_behind_the_services_back(small_restaurant: Restaurant) -> None:
    book(small_restaurant, 4)
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=4)
    Booking.objects.create(
        restaurant=small_restaurant,
        party_size=2,
        starts_at=evening(),
        ends_at=evening() + timedelta(hours=1),
        guest_name="Sneaky",
        status=Booking.Status.PENDING,
    )
    assert report().counts()["over_capacity"] >= 1


def test_staff_overrides_are_not_violations(small_restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=4)
    book(small_restaurant, 4)
    book(small_restaurant, 2, staff_override=True)
    Booking.objects.filter(party_size=2).update(capacity_override=True)
    assert report().counts()["over_capacity"] == 0


def test_it_reports_confirmed_bookings_without_seats(small_restaurant: Restaurant) -> None:
    booking = book(small_restaurant, 4)
    Booking.objects.filter(pk=booking.pk).update(party_size=5)
    bare = Booking.objects.create(
        restaurant=small_restaurant,
        party_size=2,
        starts_at=evening(21),
        ends_at=evening(21) + timedelta(hours=1),
        guest_name="No Table",
        status=Booking.Status.CONFIRMED,
    )
    problems = report().violations["unseated_confirmed"]
    assert len(problems) == 2
    assert any("4 seats for a party of 5" in p for p in problems)
    assert any(bare.reference in p and "without tables" in p for p in problems)


def test_it_reports_stale_pending_bookings(small_restaurant: Restaurant) -> None:
    booking = book(small_restaurant, assign=False)
    assert report().counts()["stale_pending"] == 0
    Booking.objects.filter(pk=booking.pk).update(created_at=timezone.now() - timedelta(minutes=30))
    assert report().counts()["stale_pending"] == 1


@pytest.mark.django_db(transaction=True)
def test_it_reports_overlaps_when_the_constraint_is_gone(small_restaurant: Restaurant) -> None:
    booking = book(small_restaurant, 2)
    window = TableOccupancy.objects.get(booking=booking)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE bookings_tableoccupancy DROP CONSTRAINT occupancy_no_overlap")
    try:
        TableOccupancy.objects.create(
            restaurant=small_restaurant, table=window.table, booking=booking, kind="assignment",
            during=Range(window.during.lower + timedelta(minutes=30), window.during.upper, "[)"),
        )  # fmt: skip
        found = report().violations["overlap"]
        assert any("missing" in v for v in found) and any("overlap" in v for v in found)
    finally:
        TableOccupancy.objects.all().delete()
        restore_no_overlap_constraint()


def test_the_command_exits_non_zero_on_a_violation(small_restaurant: Restaurant, capsys) -> None:  # type: ignore[no-untyped-def]
    book(small_restaurant, 2)
    call_command("check_integrity")
    assert "OK" in capsys.readouterr().out
    Booking.objects.update(party_size=9)
    with pytest.raises(SystemExit) as excinfo:
        call_command("check_integrity")
    assert excinfo.value.code == 1
    assert "VIOLATIONS FOUND" in capsys.readouterr().out
