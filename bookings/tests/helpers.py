"""Helpers to book the test restaurants (see the root conftest) at a future time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone


def evening(hour: int = 19, minute: int = 0, days_ahead: int = 7) -> datetime:
    """Return a start time on the slot grid a week from now (the restaurants here run on UTC)."""
    day: date = (timezone.now() + timedelta(days=days_ahead)).date()
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def day_of(restaurant: Any, when: date, party: int = 2, **query: str) -> Any:
    """GET the restaurant's availability for the day, as a guest's widget does."""
    from rest_framework.test import APIClient

    return APIClient().get(
        f"/api/v1/restaurants/{restaurant.slug}/availability",
        {"date": when.isoformat(), "party_size": party, **query},
    )


def tables_of(booking: Any) -> list[str]:
    return sorted(booking.occupancies.active().values_list("table__label", flat=True))


def restore_no_overlap_constraint() -> None:
    """Add occupancy_no_overlap back as the model declares it (after a test dropped it)."""
    from django.db import connection

    from bookings.models import TableOccupancy

    constraint = next(c for c in TableOccupancy._meta.constraints if c.name == "occupancy_no_overlap")
    with connection.schema_editor() as editor:
        editor.add_constraint(TableOccupancy, constraint)


def join_waitlist(restaurant: Any, name: str = "Ada Lovelace", party: int = 2, **extra: Any) -> Any:
    """Put a guest on the waitlist for 19:00 a week ahead (``earliest``/``latest`` widen the window)."""
    from bookings.config import config_for
    from bookings.models import WaitlistEntry
    from bookings.services.waitlist import WaitlistRequest, waitlist_join

    when = evening(19)
    extra.setdefault("guest_email", f"{name.split()[0].lower()}@example.org")
    entry = waitlist_join(
        config=config_for(restaurant.pk),
        request=WaitlistRequest(
            local_date=when.date(),
            earliest_time=extra.pop("earliest", when.time()),
            latest_time=extra.pop("latest", when.time()),
            party_size=party,
            guest_name=name,
            **extra,
        ),
    )
    assert isinstance(entry, WaitlistEntry)
    return entry
