"""Book, cancel, hold, expire, purge and convert in random order; the invariants hold after every step."""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from uuid import UUID

from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bookings.errors import DomainError
from bookings.integrity import check_integrity
from bookings.models import Booking, CapacityRule, Hold, Restaurant, TableOccupancy
from bookings.services.admission import booking_admit
from bookings.services.allocation import booking_allocate
from bookings.services.changes import booking_cancel
from bookings.services.holds import hold_create, hold_release, holds_purge_expired
from bookings.tests.helpers import evening

SLOTS = [evening(17) + timedelta(minutes=15 * k) for k in range(9)]  # 17:00–19:00


class BookingMachine(RuleBasedStateMachine):
    restaurant: Restaurant

    bookings = Bundle("bookings")
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        # Every example starts from an empty evening (all inside the test's transaction).
        TableOccupancy.objects.all().delete()
        Hold.objects.all().delete()
        Booking.objects.all().delete()

    @rule(target=bookings, party=st.integers(1, 8), slot=st.sampled_from(SLOTS), inline=st.booleans())
    def book(self, party: int, slot: object, inline: bool) -> int:
        try:
            return booking_admit(
                restaurant=self.restaurant, party_size=party, starts_at=slot, guest_name="S", assign=inline
            ).booking.pk
        except DomainError:
            return -1

    @rule(booking_id=bookings)
    def allocate(self, booking_id: int) -> None:
        if booking_id > 0:
            booking_allocate(booking_id=booking_id, mode="background", attempt=1)

    @rule(booking_id=consumes(bookings))
    def cancel(self, booking_id: int) -> None:
        if booking_id > 0:
            with suppress(DomainError):
                booking_cancel(booking=Booking.objects.get(pk=booking_id))

    @rule(target=holds, party=st.integers(1, 8), slot=st.sampled_from(SLOTS))
    def hold(self, party: int, slot: object) -> UUID | None:
        try:
            return hold_create(restaurant=self.restaurant, party_size=party, starts_at=slot).pk
        except DomainError:
            return None

    @rule(hold_id=holds)
    def expire(self, hold_id: UUID | None) -> None:
        """Let the hold's time run out (without purging it)."""
        past = timezone.now() - timedelta(seconds=1)
        Hold.objects.filter(pk=hold_id).update(expires_at=past)
        TableOccupancy.objects.filter(hold_id=hold_id, kind="hold").update(expires_at=past)

    @rule(hold_id=consumes(holds))
    def release(self, hold_id: UUID | None) -> None:
        if hold_id is not None:
            with suppress(DomainError):
                hold_release(hold_id=hold_id)

    @rule()
    def purge(self) -> None:
        holds_purge_expired()

    @rule(target=bookings, hold_id=consumes(holds))
    def convert(self, hold_id: UUID | None) -> int:
        hold = Hold.objects.filter(pk=hold_id).first()
        if hold is None:
            return -1
        windows_before = TableOccupancy.objects.active().filter(hold=hold).count()
        try:
            booking = booking_admit(
                restaurant=self.restaurant,
                party_size=hold.party_size,
                starts_at=hold.starts_at,
                guest_name="S",
                hold_id=hold.pk,
            ).booking
        except DomainError:
            return -1
        # Converted in place: the same rows, now the booking's.
        assert TableOccupancy.objects.active().filter(booking=booking).count() == windows_before
        return booking.pk

    @invariant()
    def invariants_hold(self) -> None:
        report = check_integrity(now=timezone.now(), stale_after=timedelta(hours=1))
        assert report.ok, report.render()


def test_random_sequences_keep_the_invariants(small_restaurant: Restaurant) -> None:
    CapacityRule.objects.filter(period__restaurant=small_restaurant).update(
        max_covers=12, max_parties=4, pacing_covers=6
    )
    BookingMachine.restaurant = small_restaurant
    run_state_machine_as_test(
        BookingMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
