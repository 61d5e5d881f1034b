"""The assignment service on real Postgres: admission, assignment, cancellation, holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.errors import CapacityExceeded, HoldExpired, HoldMismatch, SlotUnavailable
from bookings.models import Booking, CapacityOverride, CapacityRule, Hold, Restaurant, TableOccupancy
from bookings.services.admission import BookingRequest, booking_admit
from bookings.services.allocation import booking_allocate, booking_reject
from bookings.services.changes import booking_cancel
from bookings.services.holds import hold_create, hold_release, holds_purge_expired
from bookings.tests.helpers import evening, tables_of
from observability.models import AllocationAttempt, ObservabilityEvent


def admit(restaurant: Restaurant, party: int = 2, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("starts_at", evening())
    return booking_admit(restaurant=restaurant, party_size=party, guest_name="Grace Hopper", **kwargs)


def test_a_booking_is_admitted_and_assigned_in_one_go(small_restaurant: Restaurant) -> None:
    admission = admit(small_restaurant, party=4)
    booking = admission.booking
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert tables_of(booking) in (["T3"], ["T4"])
    assert booking.ends_at - booking.starts_at == timedelta(minutes=105)
    assert booking.allocation_reason["plan"]["seat_waste"] == 0
    attempt = AllocationAttempt.objects.get(booking_id=booking.pk)
    assert (attempt.mode, attempt.attempt, attempt.outcome) == ("inline", 1, "assigned")


def test_a_party_of_four_joins_two_adjacent_twos_when_the_fours_are_taken(
    small_restaurant: Restaurant,
) -> None:
    admit(small_restaurant, party=4)
    admit(small_restaurant, party=4)
    third = admit(small_restaurant, party=4).booking
    assert tables_of(third) == ["T1", "T2"]


def test_it_refuses_when_no_table_is_free(one_table_restaurant: Restaurant) -> None:
    admit(one_table_restaurant, party=2)
    with pytest.raises(CapacityExceeded) as excinfo:
        admit(one_table_restaurant, party=2)
    assert excinfo.value.extra["reason"] == "all_tables_busy"
    assert Booking.objects.count() == 1  # the refused booking left nothing behind


def test_it_refuses_past_the_covers_rule(small_restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=6)
    admit(small_restaurant, party=4)
    admit(small_restaurant, party=2)
    with pytest.raises(CapacityExceeded) as excinfo:
        admit(small_restaurant, party=2)
    assert excinfo.value.extra["reason"] == "max_covers"
    # A later sitting that does not overlap is fine.
    admit(small_restaurant, party=2, starts_at=evening(hour=21))


def test_pacing_limits_covers_starting_together(small_restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(pacing_covers=4)
    admit(small_restaurant, party=4)
    with pytest.raises(CapacityExceeded) as excinfo:
        admit(small_restaurant, party=2)
    assert excinfo.value.extra["reason"] == "pacing"
    admit(small_restaurant, party=2, starts_at=evening(minute=15))


def test_an_override_beats_the_rule_and_can_close_the_day(small_restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=2)
    day = evening().date()
    override = CapacityOverride.objects.create(restaurant=small_restaurant, date=day, max_covers=20)
    admit(small_restaurant, party=4)  # allowed by the override
    override.closed = True
    override.save()
    with pytest.raises(SlotUnavailable, match="closed"):
        admit(small_restaurant, party=2)


def test_shadow_mode_admits_and_records_what_it_would_refuse(
    small_restaurant: Restaurant,
    set_flags,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    set_flags(**{"capacity.enforcement": "shadow"})
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=2)
    admit(small_restaurant, party=2)
    with django_capture_on_commit_callbacks(execute=True):
        over = admit(small_restaurant, party=2).booking
    assert over.status == Booking.Status.CONFIRMED
    event = ObservabilityEvent.objects.get(type="booking.capacity_shadow_refusal")
    assert event.context["reason"] == "max_covers"
    assert event.context["peak_covers"] == 4


@pytest.mark.parametrize(
    "hour,minute,message",
    [(12, 0, "does not take bookings"), (19, 5, "every 15 minutes"), (21, 15, "does not take bookings")],
)
def test_it_refuses_times_outside_service_or_off_the_grid(
    small_restaurant: Restaurant, hour: int, minute: int, message: str
) -> None:
    with pytest.raises(SlotUnavailable, match=message):
        admit(small_restaurant, starts_at=evening(hour=hour, minute=minute))


def test_it_refuses_the_past_and_beyond_the_horizon(small_restaurant: Restaurant) -> None:
    with pytest.raises(SlotUnavailable, match="passed"):
        admit(small_restaurant, starts_at=evening(days_ahead=-1))
    with pytest.raises(SlotUnavailable, match="days ahead"):
        admit(small_restaurant, starts_at=evening(days_ahead=small_restaurant.booking_horizon_days + 2))


def test_cancelling_frees_the_table(one_table_restaurant: Restaurant) -> None:
    first = admit(one_table_restaurant).booking
    booking_cancel(booking=first)
    first.refresh_from_db()
    assert first.status == Booking.Status.CANCELLED
    assert tables_of(first) == []
    second = admit(one_table_restaurant).booking
    assert tables_of(second) == ["ONLY"]
    booking_cancel(booking=first)  # twice is fine


def test_allocation_is_idempotent(small_restaurant: Restaurant) -> None:
    booking = admit(small_restaurant, assign=False).booking
    assert booking.status == Booking.Status.PENDING
    first = booking_allocate(booking_id=booking.pk, mode="background", attempt=1)
    again = booking_allocate(booking_id=booking.pk, mode="background", attempt=2)
    assert first.outcome == "assigned" and again.outcome == "already_done"
    assert TableOccupancy.objects.filter(booking=booking).count() == 1
    assert AllocationAttempt.objects.filter(booking_id=booking.pk).count() == 1


def test_a_rejected_booking_stays_rejected(small_restaurant: Restaurant) -> None:
    booking = admit(small_restaurant, assign=False).booking
    assert booking_reject(booking_id=booking.pk, reason="retries_exhausted")
    assert not booking_reject(booking_id=booking.pk, reason="retries_exhausted")
    assert booking_allocate(booking_id=booking.pk, mode="background", attempt=9).outcome == "already_done"


def test_a_hold_counts_against_capacity_and_converts_in_place(one_table_restaurant: Restaurant) -> None:
    hold = hold_create(restaurant=one_table_restaurant, party_size=2, starts_at=evening())
    window = TableOccupancy.objects.get(hold=hold)
    with pytest.raises(CapacityExceeded):
        admit(one_table_restaurant)  # the hold has the only table
    booking = admit(one_table_restaurant, hold_id=hold.pk).booking
    assert booking.status == Booking.Status.CONFIRMED
    window.refresh_from_db()
    assert (window.kind, window.booking_id, window.expires_at) == ("assignment", booking.pk, None)
    assert booking.allocation_reason["converted_from_hold"] == str(hold.pk)
    assert TableOccupancy.objects.count() == 1  # updated in place, never a second row


def test_a_hold_must_match_the_booking(one_table_restaurant: Restaurant) -> None:
    hold = hold_create(restaurant=one_table_restaurant, party_size=2, starts_at=evening())
    with pytest.raises(HoldMismatch):
        admit(one_table_restaurant, party=3, hold_id=hold.pk)
    with pytest.raises(HoldMismatch):
        admit(one_table_restaurant, party=2, hold_id=hold.pk, starts_at=evening(minute=15))


def test_an_expired_hold_neither_converts_nor_blocks(one_table_restaurant: Restaurant) -> None:
    ttl = timedelta(seconds=one_table_restaurant.hold_ttl_seconds)
    hold = hold_create(
        restaurant=one_table_restaurant,
        party_size=2,
        starts_at=evening(),
        now=timezone.now() - ttl - timedelta(1),
    )
    with pytest.raises(HoldExpired):
        admit(one_table_restaurant, hold_id=hold.pk)
    booking = admit(one_table_restaurant).booking  # the expired hold's table is released lazily
    assert tables_of(booking) == ["ONLY"]
    assert TableOccupancy.objects.get(hold=hold).released_at is not None


def test_released_and_purged_holds_free_their_tables(one_table_restaurant: Restaurant) -> None:
    hold = hold_create(restaurant=one_table_restaurant, party_size=2, starts_at=evening())
    hold_release(hold_id=hold.pk)
    hold_release(hold_id=hold.pk)  # twice is fine
    assert Hold.objects.get(pk=hold.pk).released_at is not None
    later = hold_create(restaurant=one_table_restaurant, party_size=2, starts_at=evening())
    assert holds_purge_expired(now=timezone.now()) == 0
    assert holds_purge_expired(now=later.expires_at + timedelta(seconds=1)) == 1
    assert TableOccupancy.objects.active().count() == 0


def test_admission_keeps_tables_for_bookings_still_waiting_for_their_job(
    small_restaurant: Restaurant,
) -> None:
    # Four pairs waiting for the background job take T1, T2, T3 and T4 on paper; T6 seats 3+ only.
    for _ in range(4):
        assert admit(small_restaurant, assign=False).booking.status == Booking.Status.PENDING
    with pytest.raises(CapacityExceeded):
        admit(small_restaurant, assign=False)
    admit(small_restaurant, party=3)  # T6 is still free for a party it can seat


def test_capacity_profiling_records_the_figures_of_each_admission(
    small_restaurant: Restaurant,
    set_flags,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    set_flags(**{"debug.capacity_profiling": True})
    with django_capture_on_commit_callbacks(execute=True):
        admit(small_restaurant, party=4)
    assert ObservabilityEvent.objects.get(type="booking.created").context["peak_covers"] == 4
    set_flags(**{"debug.capacity_profiling": False})
    with django_capture_on_commit_callbacks(execute=True):
        admit(small_restaurant, party=2)
    assert "peak_covers" not in ObservabilityEvent.objects.filter(type="booking.created").first().context  # type: ignore[union-attr]


def test_merges_off_keeps_large_parties_off_joined_tables(small_restaurant: Restaurant, set_flags) -> None:  # type: ignore[no-untyped-def]
    set_flags(**{"allocator.merges_enabled": False})
    for _ in range(3):  # T3, T4, then T6
        admit(small_restaurant, party=4)
    with pytest.raises(CapacityExceeded):  # T1+T2 could seat four, but joining is off
        admit(small_restaurant, party=4, starts_at=evening())


def test_a_refusal_is_recorded_as_an_event(one_table_restaurant: Restaurant) -> None:
    admit(one_table_restaurant)
    with pytest.raises(CapacityExceeded):
        admit(one_table_restaurant)
    event = ObservabilityEvent.objects.get(type="booking.capacity_exceeded")
    assert event.context["reason"] == "all_tables_busy" and event.restaurant_id == one_table_restaurant.pk


def test_a_hold_for_a_large_party_cannot_seat_a_small_one_at_a_big_table(
    small_restaurant: Restaurant,
) -> None:
    hold = hold_create(restaurant=small_restaurant, party_size=6, starts_at=evening())  # T6, minimum 3
    with pytest.raises(HoldMismatch, match="larger parties"):
        admit(small_restaurant, party=2, hold_id=hold.pk)
    booking = admit(small_restaurant, party=5, hold_id=hold.pk).booking
    assert tables_of(booking) == ["T6"]
    assert booking.ends_at == hold.ends_at  # keeps the held window


def test_strict_holds_are_not_refused_because_of_an_expired_hold(
    one_table_restaurant: Restaurant, set_flags
) -> None:  # type: ignore[no-untyped-def]
    set_flags(**{"holds.strict_conflicts": True})
    ttl = timedelta(seconds=one_table_restaurant.hold_ttl_seconds)
    hold_create(
        restaurant=one_table_restaurant,
        party_size=2,
        starts_at=evening(),
        now=timezone.now() - ttl - timedelta(1),
    )
    fresh = hold_create(restaurant=one_table_restaurant, party_size=2, starts_at=evening())
    assert TableOccupancy.objects.active().filter(hold=fresh).count() == 1


def test_a_key_already_bound_to_a_booking_answers_with_it_and_makes_no_second(
    small_restaurant: Restaurant,
) -> None:
    from bookings.config import config_for
    from bookings.models import IdempotencyKey
    from bookings.services.create import BookingOutcome, booking_create
    from bookings.services.idempotency import IdempotencyRequest

    # given a key whose first request committed its booking and is still assigning tables
    first = admit(small_restaurant).booking
    IdempotencyKey.objects.create(
        restaurant=small_restaurant,
        key="still-assigning",
        fingerprint="f",
        booking=first,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    # when the guest's retry arrives with the same key and body
    outcome = booking_create(
        config=config_for(small_restaurant.pk),
        request=BookingRequest(party_size=2, starts_at=evening(), guest_name="Grace Hopper"),
        idempotency=IdempotencyRequest(key="still-assigning", fingerprint="f"),
    )
    # then it is answered with that booking, and no second one is made
    assert isinstance(outcome, BookingOutcome) and outcome.booking.pk == first.pk
    assert Booking.objects.count() == 1


def test_turn_times_are_real_minutes_across_a_daylight_saving_change(db: None) -> None:
    from datetime import date, time

    from bookings.slots import local_datetime
    from bookings.tests.factories import (
        CapacityRuleFactory,
        RestaurantFactory,
        ServicePeriodFactory,
        TableFactory,
    )

    restaurant = RestaurantFactory(timezone="Europe/London", booking_horizon_days=2000)
    TableFactory(restaurant=restaurant, max_party=8, label="BIG")
    for day in (date(2027, 3, 27), date(2027, 10, 30)):  # the Saturdays before the clocks change
        period = ServicePeriodFactory(
            restaurant=restaurant,
            weekday=day.weekday(),
            opens=time(22),
            closes=time(23, 59),
            last_seating=time(23, 30),
        )
        CapacityRuleFactory(period=period)
        booking = booking_admit(
            restaurant=restaurant,
            party_size=8,
            starts_at=local_datetime(restaurant, day, time(23, 30)),
            guest_name="G",
        ).booking
        assert booking.ends_at - booking.starts_at == timedelta(minutes=150)
        period.delete()
