"""seed_telemetry writes realistic, deterministic telemetry and replaces only what it wrote."""

from __future__ import annotations

from datetime import date
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from observability.models import AllocationAttempt, ObservabilityEvent
from observability.seeding import SEED_BOOKING_BASE, generate_day


def snapshot() -> list[tuple[object, ...]]:
    return sorted(
        AllocationAttempt.objects.values_list(
            "restaurant_id", "booking_id", "mode", "attempt", "outcome", "total_ms", "created_at"
        )
    )


@pytest.mark.django_db
def test_it_is_deterministic_and_replaces_its_own_rows(alice_restaurant) -> None:  # type: ignore[no-untyped-def]
    real = ObservabilityEvent.objects.create(
        type="booking.created", restaurant_id=alice_restaurant.pk, booking_id=7
    )
    args = ["--days", "3", "--until", "2030-01-09", "--restaurant", alice_restaurant.slug]

    call_command("seed_telemetry", *args, stdout=StringIO())
    first = snapshot()
    events = ObservabilityEvent.objects.count()
    call_command("seed_telemetry", *args, stdout=StringIO())

    assert snapshot() == first
    assert ObservabilityEvent.objects.count() == events
    assert ObservabilityEvent.objects.filter(pk=real.pk).exists()
    assert all(row[1] >= SEED_BOOKING_BASE for row in first)


@pytest.mark.django_db
def test_it_refuses_without_restaurants() -> None:
    with pytest.raises(CommandError):
        call_command("seed_telemetry", "--restaurant", "nowhere", stdout=StringIO())


def test_a_day_looks_like_a_busy_pub() -> None:
    rows = generate_day(
        seed=1, restaurant_id=1, day=__import__("datetime").date(2030, 1, 11), zone=ZoneInfo("UTC")
    )
    outcomes = [row[4] for row in rows.attempts]
    bookings = {row[1] for row in rows.attempts}
    assert 150 < len(bookings) < 300  # a Friday
    assert outcomes.count("assigned") / len(bookings) > 0.95  # nearly every booking is seated
    assert {row[2] for row in rows.attempts} <= {"inline", "background"}
    kinds = {row[0] for row in rows.events}
    assert {"booking.created", "allocation.assigned", "booking.confirmed"} <= kinds
    # Bookings arrive with the day's rhythm: the evening is busier than the small hours.
    hours = [row[10].hour for row in rows.attempts]
    assert sum(18 <= h <= 20 for h in hours) > 5 * sum(2 <= h <= 4 for h in hours)


def test_each_day_has_its_own_stream() -> None:
    day = generate_day(seed=1, restaurant_id=1, day=date(2030, 1, 11), zone=ZoneInfo("UTC"))
    again = generate_day(seed=1, restaurant_id=1, day=date(2030, 1, 11), zone=ZoneInfo("UTC"))
    other = generate_day(seed=1, restaurant_id=2, day=date(2030, 1, 11), zone=ZoneInfo("UTC"))
    assert day.attempts == again.attempts
    assert day.attempts != other.attempts


@pytest.mark.django_db
def test_seeded_events_hold_no_pii(alice_restaurant) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_telemetry", "--days", "1", "--until", "2030-01-09", stdout=StringIO())
    keys = set()
    for context in ObservabilityEvent.objects.values_list("context", flat=True):
        keys |= set(context)
    assert not keys & {"guest_name", "guest_email", "guest_phone", "notes", "name", "email", "phone"}
    assert ObservabilityEvent.objects.values("type").annotate(n=Count("id")).count() >= 3
