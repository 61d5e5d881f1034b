"""Helpers to book the test restaurants (see the root conftest) at a future time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone


def evening(hour: int = 19, minute: int = 0, days_ahead: int = 7) -> datetime:
    """Return a start time on the slot grid a week from now (the restaurants here run on UTC)."""
    day: date = (timezone.now() + timedelta(days=days_ahead)).date()
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def tables_of(booking: Any) -> list[str]:
    return sorted(booking.occupancies.active().values_list("table__label", flat=True))


def restore_no_overlap_constraint() -> None:
    """Add occupancy_no_overlap back as the model declares it (after a test dropped it)."""
    from django.db import connection

    from bookings.models import TableOccupancy

    constraint = next(c for c in TableOccupancy._meta.constraints if c.name == "occupancy_no_overlap")
    with connection.schema_editor() as editor:
        editor.add_constraint(TableOccupancy, constraint)
