"""Re-seating racing a guest's cancellation on real Postgres: the cancellation wins, nothing is
brought back to life, and the moves the search chose are dropped as a whole."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

import bookings.services.reseating as reseating_service
from bookings.errors import CapacityExceeded
from bookings.integrity import check_integrity
from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.services.changes import booking_cancel
from bookings.tasks import tidy_service_day
from bookings.tests.factories import two_fours_restaurant
from bookings.tests.helpers import evening, tables_of
from observability import metrics

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

SEVEN = evening(19, 0)
HALF_PAST = evening(19, 30)


@pytest.fixture
def couples_on_the_fours(db: None) -> tuple[Restaurant, list[Booking]]:
    restaurant = two_fours_restaurant("two-fours-race")
    early = [book(restaurant, 2, SEVEN) for _ in range(2)]
    couples = [book(restaurant, 2, SEVEN) for _ in range(2)]
    for booking in early:
        booking_cancel(booking=booking)
    return restaurant, couples


def book(restaurant: Restaurant, party: int, starts_at: Any) -> Booking:
    return booking_admit(restaurant=restaurant, party_size=party, starts_at=starts_at, guest_name="G").booking


def in_another_connection(work: Callable[[], None]) -> None:
    """Run ``work`` in a thread with its own database connection, to its commit, and wait for it."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed back to the test
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and not failures, failures


def test_a_couple_cancelled_between_the_search_and_the_moves_stays_cancelled_and_nothing_moves(
    couples_on_the_fours: tuple[Restaurant, list[Booking]],
    set_flags: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    restaurant, couples = couples_on_the_fours
    other_tables = tables_of(couples[1])
    set_flags(**{"allocator.reshuffle_enabled": True})
    tidy_requests: list[Any] = []
    monkeypatch.setattr(tidy_service_day, "apply_async", lambda *a, **kw: tidy_requests.append(kw["args"]))
    search = reseating_service.reseat

    def search_then_the_guest_cancels(*args: Any, **kwargs: Any) -> Any:
        found = search(*args, **kwargs)
        assert {m.booking_id for m in found.moves} == {b.pk for b in couples}  # both were to move
        in_another_connection(lambda: booking_cancel(booking=Booking.objects.get(pk=couples[0].pk)))
        return found

    monkeypatch.setattr(reseating_service, "reseat", search_then_the_guest_cancels)
    conflicts = metrics.RESEATINGS.labels("conflict")._value.get()

    with pytest.raises(CapacityExceeded):
        book(restaurant, 6, HALF_PAST)

    cancelled, other = (Booking.objects.get(pk=b.pk) for b in couples)
    assert cancelled.status == Booking.Status.CANCELLED and tables_of(cancelled) == []
    assert other.status == Booking.Status.CONFIRMED and tables_of(other) == other_tables
    assert "reseated_by" not in (other.allocation_reason or {})
    assert metrics.RESEATINGS.labels("conflict")._value.get() == conflicts + 1
    assert (restaurant.pk, SEVEN.date().isoformat()) in tidy_requests  # the cancellation asked for a tidy-up
    report = check_integrity(now=timezone.now(), stale_after=timedelta(minutes=10))
    assert report.ok, report.render()

    # With the cancellation committed, the next party of six needs one move only.
    monkeypatch.setattr(reseating_service, "reseat", search)
    six = book(restaurant, 6, HALF_PAST)
    assert tables_of(six) == ["F1", "F2"]
    assert tables_of(Booking.objects.get(pk=other.pk)) in (["C1"], ["C2"])
