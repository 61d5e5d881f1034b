from __future__ import annotations

from datetime import time

from django.utils import timezone

from bookings.availability import availability_at, availability_day
from bookings.models import CapacityRule, Restaurant
from bookings.services.admission import booking_admit
from bookings.tests.helpers import evening


def book(restaurant: Restaurant, hour: int, minute: int = 0, party: int = 2) -> None:
    booking_admit(restaurant=restaurant, party_size=party, starts_at=evening(hour, minute), guest_name="G")


def test_every_slot_of_the_evening_is_listed(small_restaurant: Restaurant) -> None:
    day = availability_day(small_restaurant, evening().date(), 2, now=timezone.now())
    assert [s.time for s in day][:3] == [time(17, 0), time(17, 15), time(17, 30)]
    assert day[-1].time == time(21, 0)
    assert len(day) == 17 and all(s.available for s in day)


def test_a_full_time_is_unavailable_with_the_nearest_alternatives_first(
    one_table_restaurant: Restaurant,
) -> None:
    book(one_table_restaurant, 19)  # 90 minutes on the only table: 17:45–20:15 starts cannot fit
    answer = availability_at(one_table_restaurant, evening().date(), time(19, 0), 2, now=timezone.now())
    assert not answer.available
    assert answer.slot is not None and answer.slot.reason == "all_tables_busy"
    assert answer.alternatives[:2] == [time(17, 30), time(20, 30)]
    assert answer.alternatives == sorted(
        answer.alternatives, key=lambda t: abs(t.hour * 60 + t.minute - 19 * 60)
    )


def test_capacity_figures_count_booked_covers(small_restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(max_covers=10)
    book(small_restaurant, 19, party=4)
    book(small_restaurant, 19, 30, party=2)
    answer = availability_at(small_restaurant, evening().date(), time(19, 0), 6, now=timezone.now())
    assert answer.slot is not None
    assert (answer.slot.max_covers, answer.slot.booked_covers, answer.slot.remaining_covers) == (10, 6, 4)
    assert answer.slot.utilization_percent == 60.0
    assert not answer.available and answer.slot.reason == "max_covers"


def test_a_closed_day_has_no_slots(small_restaurant: Restaurant) -> None:
    small_restaurant.periods.all().delete()
    assert availability_day(small_restaurant, evening().date(), 2, now=timezone.now()) == []
