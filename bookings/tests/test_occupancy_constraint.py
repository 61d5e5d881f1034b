"""Invariant 1: no two active occupancy windows of one table overlap, enforced by Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from psycopg.types.range import Range

from bookings.models import Booking, Table, TableOccupancy
from bookings.tests.factories import BookingFactory, TableFactory

T0 = datetime(2030, 1, 7, 19, 0, tzinfo=UTC)


def window(start_minutes: int, end_minutes: int) -> Range[datetime]:
    return Range(T0 + timedelta(minutes=start_minutes), T0 + timedelta(minutes=end_minutes), "[)")


def occupy(table: Table, booking: Booking, start: int, end: int) -> TableOccupancy:
    return TableOccupancy.objects.create(
        restaurant=table.restaurant,
        table=table,
        booking=booking,
        kind="assignment",
        during=window(start, end),
    )


@pytest.fixture
def table(db: None) -> Table:
    return TableFactory()


@pytest.fixture
def booking(table: Table) -> Booking:
    return BookingFactory(restaurant=table.restaurant)


def test_it_rejects_an_overlapping_window_through_the_orm(table: Table, booking: Booking) -> None:
    occupy(table, booking, 0, 90)
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        occupy(table, booking, 60, 150)
    assert excinfo.value.__cause__.sqlstate == "23P01"  # type: ignore[union-attr]


def test_it_rejects_an_overlapping_window_through_raw_sql(table: Table, booking: Booking) -> None:
    occupy(table, booking, 0, 90)
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bookings_tableoccupancy"
            " (restaurant_id, table_id, during, kind, booking_id, created_at)"
            " VALUES (%s, %s, tstzrange(%s, %s, '[)'), 'assignment', %s, now())",
            [
                table.restaurant_id,
                table.pk,
                T0 + timedelta(minutes=30),
                T0 + timedelta(minutes=45),
                booking.pk,
            ],
        )
    assert excinfo.value.__cause__.sqlstate == "23P01"  # type: ignore[union-attr]


def test_it_accepts_touching_windows_and_other_tables(table: Table, booking: Booking) -> None:
    other_table = TableFactory(restaurant=table.restaurant)
    occupy(table, booking, 0, 90)
    occupy(table, booking, 90, 180)  # starts exactly when the first ends
    occupy(table, booking, -90, 0)  # ends exactly when the first starts
    occupy(other_table, booking, 0, 90)  # same time, other table
    assert TableOccupancy.objects.count() == 4


def test_released_windows_do_not_block(table: Table, booking: Booking) -> None:
    first = occupy(table, booking, 0, 90)
    first.released_at = T0
    first.save()
    occupy(table, booking, 30, 120)
    assert TableOccupancy.objects.active().count() == 1


def test_releasing_cannot_be_undone_into_an_overlap(table: Table, booking: Booking) -> None:
    first = occupy(table, booking, 0, 90)
    TableOccupancy.objects.filter(pk=first.pk).update(released_at=T0)
    occupy(table, booking, 30, 120)
    with pytest.raises(IntegrityError), transaction.atomic():
        TableOccupancy.objects.filter(pk=first.pk).update(released_at=None)


def test_it_rejects_an_empty_window(table: Table, booking: Booking) -> None:
    with pytest.raises(IntegrityError, match="occupancy_during_bounded"), transaction.atomic():
        occupy(table, booking, 90, 90)


def test_it_rejects_a_backwards_window(table: Table, booking: Booking) -> None:
    with pytest.raises(DataError, match="lower bound"), transaction.atomic():
        occupy(table, booking, 90, 0)


def test_a_hold_window_needs_its_hold_and_expiry(table: Table) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        TableOccupancy.objects.create(
            restaurant=table.restaurant, table=table, kind="hold", during=window(0, 90)
        )
