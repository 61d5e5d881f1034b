"""A busy evening at the demo restaurant, booked through bookings.services (for screenshots)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, time

from bookings.errors import DomainError
from bookings.models import Booking, Hold, Restaurant
from bookings.services.admission import booking_admit
from bookings.services.changes import booking_cancel, booking_set_status
from bookings.services.holds import hold_create
from bookings.slots import local_datetime

GUESTS = [
    "Olivia Bennett", "Priya Sharma", "Tom Hughes", "Aisha Khan", "James Whitfield", "Sofia Rossi",
    "Daniel Okafor", "Emily Clarke", "Mohammed Ali", "Charlotte Evans", "Liam Murphy", "Grace Thompson",
    "Oliver Wright", "Hannah Patel", "George Baker", "Isla Campbell", "Harry Walsh", "Chloe Martin",
    "Jack Robinson", "Amelia Turner", "Noah Phillips", "Ella Morgan", "Samuel Green", "Lucy Cooper",
    "Ethan Hall", "Mia Richardson", "Ben Carter", "Zara Ahmed", "Alfie Scott", "Ruby Mitchell",
    "Leo Price", "Freya Ward", "Oscar Bell", "Evie Parker", "Arthur King", "Poppy Hill",
]  # fmt: skip
NOTES = ["Birthday — cake at 20:30", "Nut allergy", "High chair, please", "Window table if possible", ""]
# Start times and how often guests ask for them: the peak is 19:00–20:00.
STARTS = [
    (time(17, 30), 2), (time(17, 45), 1), (time(18, 0), 3), (time(18, 15), 2), (time(18, 30), 4),
    (time(18, 45), 3), (time(19, 0), 6), (time(19, 15), 4), (time(19, 30), 6), (time(19, 45), 4),
    (time(20, 0), 5), (time(20, 15), 3), (time(20, 30), 3), (time(20, 45), 1), (time(21, 0), 1),
]  # fmt: skip
PARTIES = [2, 2, 2, 2, 2, 3, 4, 4, 4, 4, 5, 6, 2, 3, 8]


@dataclass
class Evening:
    bookings: list[Booking] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    refused: int = 0


def seed_busy_evening(
    restaurant: Restaurant, local_date: date, *, staff_id: int, attempts: int = 60
) -> Evening:
    """Book a realistic evening; seat, complete, no-show and cancel a few; leave holds and a pending one."""
    rng = random.Random(20)  # deterministic: the same evening every run
    evening = Evening()
    times = [t for t, _ in STARTS]
    weights = [w for _, w in STARTS]
    for number in range(attempts):
        starts = local_datetime(restaurant, local_date, rng.choices(times, weights)[0])
        name = GUESTS[number % len(GUESTS)]
        try:
            admission = booking_admit(
                restaurant=restaurant,
                party_size=rng.choice(PARTIES),
                starts_at=starts,
                guest_name=name,
                guest_email=f"{name.split()[0].lower()}@example.org",
                guest_phone=f"+44 7700 900{rng.randrange(100, 999)}",
                notes=rng.choice(NOTES) if rng.random() < 0.3 else "",
                source=rng.choice([Booking.Source.WIDGET] * 4 + [Booking.Source.STAFF, Booking.Source.API]),
            )
        except DomainError:
            evening.refused += 1  # full at that time, as on a real busy night
            continue
        evening.bookings.append(admission.booking)

    early = sorted(evening.bookings, key=lambda b: b.starts_at)
    for booking in early[:6]:
        booking_set_status(booking=booking, status=Booking.Status.SEATED, actor_id=staff_id)
    for booking in early[:2]:
        booking_set_status(booking=booking, status=Booking.Status.COMPLETED, actor_id=staff_id)
    booking_set_status(booking=early[7], status=Booking.Status.NO_SHOW, actor_id=staff_id)
    booking_cancel(booking=early[-3])
    for booking in early:
        booking.refresh_from_db()

    # One booking admitted but not yet on a table (its background job has not run).
    for when in (time(19, 45), time(20, 45), time(21, 0), time(18, 45)):
        try:
            pending = booking_admit(
                restaurant=restaurant,
                party_size=2,
                starts_at=local_datetime(restaurant, local_date, when),
                guest_name="Walk-in at the bar",
                source=Booking.Source.STAFF,
                assign=False,
            )
        except DomainError:
            continue
        evening.bookings.append(pending.booking)
        break
    for when, party in ((time(20, 15), 4), (time(20, 30), 2)):
        try:
            hold = hold_create(
                restaurant=restaurant,
                party_size=party,
                starts_at=local_datetime(restaurant, local_date, when),
            )
        except DomainError:
            continue
        evening.holds.append(hold)
    return evening
