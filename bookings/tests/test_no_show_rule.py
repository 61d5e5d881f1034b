"""The no-show rule (issue 17): a guest with N no-shows in 12 months waits for staff, table held."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.errors import InvalidTransition
from bookings.integrity import check_integrity
from bookings.models import Booking, Restaurant, WaitlistEntry
from bookings.services.admission import booking_admit
from bookings.services.allocation import booking_allocate
from bookings.services.staff_confirm import booking_staff_confirm, booking_staff_decline
from bookings.services.waitlist import waitlist_offer_run
from bookings.tasks import requeue_stale_pending
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.factories import BookingFactory
from bookings.tests.helpers import evening, join_waitlist, tables_of

pytestmark = pytest.mark.django_db

GRACE = {"guest_email": "grace@example.org", "guest_phone": "+44 1223 555 0100"}


def no_show(restaurant: Restaurant, days_ago: int = 30, **guest: str) -> Booking:
    starts = evening(days_ahead=-days_ago)
    booking: Booking = BookingFactory(
        restaurant=restaurant,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        status=Booking.Status.NO_SHOW,
        **guest,
    )
    return booking


def rule(restaurant: Restaurant, after: int | None) -> Restaurant:
    restaurant.confirm_after_no_shows = after
    restaurant.save()
    return restaurant


def book(restaurant: Restaurant, **extra: Any) -> Booking:
    fields = {"source": Booking.Source.WIDGET, "guest_name": "Grace Hopper", **GRACE, **extra}
    return booking_admit(restaurant=restaurant, party_size=2, starts_at=evening(19), **fields).booking


def test_with_the_rule_off_a_guest_with_no_shows_is_confirmed(small_restaurant: Restaurant) -> None:
    no_show(small_restaurant, **GRACE)
    no_show(small_restaurant, **GRACE)

    booking = book(small_restaurant)

    assert (booking.status, booking.awaiting_staff, booking.status_reason) == ("confirmed", False, "")


def test_with_the_rule_on_the_booking_waits_for_staff_and_keeps_its_table(
    small_restaurant: Restaurant,
) -> None:
    rule(small_restaurant, 2)
    no_show(small_restaurant, **GRACE)
    no_show(small_restaurant, **GRACE)

    booking = book(small_restaurant)

    assert booking.status == Booking.Status.PENDING and booking.awaiting_staff
    assert booking.status_reason == "awaiting staff confirmation (2 no-shows in 12 months)"
    assert booking.confirmed_at is None
    assert tables_of(booking) == ["T1"]


def test_below_the_threshold_or_from_staff_the_booking_is_confirmed(small_restaurant: Restaurant) -> None:
    rule(small_restaurant, 2)
    no_show(small_restaurant, **GRACE)
    no_show(small_restaurant, days_ago=400, **GRACE)  # more than a year ago

    assert book(small_restaurant).status == Booking.Status.CONFIRMED
    no_show(small_restaurant, **GRACE)
    assert book(small_restaurant, source=Booking.Source.STAFF).status == Booking.Status.CONFIRMED


def test_guests_are_matched_by_email_in_any_case_and_by_phone_digits(small_restaurant: Restaurant) -> None:
    rule(small_restaurant, 1)
    no_show(small_restaurant, guest_email=" GRACE@Example.ORG", guest_phone="")
    no_show(small_restaurant, guest_email="", guest_phone="+44 (1223) 555-0100")

    by_email = book(small_restaurant, guest_email="grace@example.org", guest_phone="")
    by_phone = book(small_restaurant, guest_email="someone@example.org", guest_phone="+441223555 0100")
    both = book(small_restaurant)  # email and phone: both past no-shows are hers

    assert by_email.status_reason == "awaiting staff confirmation (1 no-show in 12 months)"
    assert by_phone.status_reason == "awaiting staff confirmation (1 no-show in 12 months)"
    assert both.status_reason == "awaiting staff confirmation (2 no-shows in 12 months)"
    assert by_email.awaiting_staff and by_phone.awaiting_staff and both.awaiting_staff
    stranger = book(small_restaurant, guest_email="ada@example.org", guest_phone="+44 1223 555 0199")
    assert stranger.status == Booking.Status.CONFIRMED


def test_other_restaurants_history_is_ignored(
    small_restaurant: Restaurant, bob_restaurant: Restaurant
) -> None:
    rule(small_restaurant, 1)
    no_show(bob_restaurant, **GRACE)
    no_show(bob_restaurant, **GRACE)

    assert book(small_restaurant).status == Booking.Status.CONFIRMED


def test_staff_confirm_confirms_with_the_held_table(
    small_restaurant: Restaurant, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rule(small_restaurant, 1)
    no_show(small_restaurant, **GRACE)
    booking = book(small_restaurant)

    with django_capture_on_commit_callbacks(execute=True):  # the event is recorded after the commit
        confirmed = booking_staff_confirm(booking=booking, actor_id=alice.pk)
    again = booking_staff_confirm(booking=booking, actor_id=alice.pk)  # a second click

    assert confirmed.status == again.status == Booking.Status.CONFIRMED
    assert confirmed.confirmed_at is not None and confirmed.status_reason == ""
    assert tables_of(confirmed) == ["T1"]
    with pytest.raises(InvalidTransition):
        booking_staff_decline(booking=confirmed, actor_id=alice.pk)


def test_staff_decline_cancels_and_offers_the_table_to_the_waitlist(
    one_table_restaurant: Restaurant, alice: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    restaurant = rule(one_table_restaurant, 1)
    no_show(restaurant, **GRACE)
    booking = book(restaurant)
    entry = join_waitlist(restaurant)
    assert waitlist_offer_run(restaurant_id=restaurant.pk, local_date=evening(19).date()) == []  # held
    asked: list[tuple[Any, ...]] = []
    monkeypatch.setattr("bookings.services.changes.enqueue_offers_for_window", lambda *a: asked.append(a))

    with django_capture_on_commit_callbacks(execute=True):
        declined = booking_staff_decline(booking=booking, actor_id=alice.pk)

    assert declined.status == Booking.Status.CANCELLED
    assert declined.status_reason == "declined by staff (no-show history)"
    assert tables_of(declined) == []
    assert asked == [(restaurant.pk, booking.starts_at, booking.ends_at, restaurant.timezone)]
    # The run the hook asks for offers the freed table to the guest waiting.
    assert waitlist_offer_run(restaurant_id=restaurant.pk, local_date=evening(19).date()) == [entry.pk]


def test_the_allocator_sweeper_and_integrity_leave_a_held_booking_alone(
    small_restaurant: Restaurant, settings: Any, monkeypatch: Any
) -> None:
    rule(small_restaurant, 1)
    no_show(small_restaurant, **GRACE)
    booking = book(small_restaurant)
    Booking.objects.filter(pk=booking.pk).update(created_at=timezone.now() - timedelta(hours=2))
    published: list[Any] = []
    monkeypatch.setattr("bookings.tasks.allocate_booking.apply_async", lambda **kw: published.append(kw))

    report = check_integrity(now=timezone.now(), stale_after=timedelta(minutes=5))
    attempt = booking_allocate(booking_id=booking.pk, mode="background", attempt=1)

    assert report.violations["stale_pending"] == []
    assert requeue_stale_pending() == 0 and published == []
    assert attempt.outcome == "already_done"
    assert tables_of(booking) == ["T1"]
    # A second guest at that time is seated elsewhere: the held table is not planned twice.
    other = booking_admit(restaurant=small_restaurant, party_size=2, starts_at=evening(19), guest_name="Ada")
    assert tables_of(other.booking) == ["T2"]


def test_the_api_answers_202_with_the_reason_and_the_widget_status(small_restaurant: Restaurant) -> None:
    api = APIClient()
    rule(small_restaurant, 1)
    no_show(small_restaurant, guest_email="ada@example.org")

    response = post_booking(api, booking_body(small_restaurant.slug))

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["awaiting_staff"] is True
    assert body["status_reason"] == "awaiting staff confirmation (1 no-show in 12 months)"
    assert body["tables"] == ["T1"]
    read = api.get(body["poll_url"]).json()
    assert read["awaiting_staff"] is True and read["status"] == "pending"


def test_staff_find_held_bookings_in_admin_and_confirm_or_decline_them(
    client: Any, alice: Any, small_restaurant: Restaurant
) -> None:
    small_restaurant.staff.add(alice)
    client.force_login(alice)
    rule(small_restaurant, 1)
    no_show(small_restaurant, **GRACE)
    first, second = book(small_restaurant), book(small_restaurant)
    book(small_restaurant, guest_email="ada@example.org", guest_phone="")  # no history: confirmed

    listed = client.get("/admin/bookings/booking/?awaiting_staff=yes").context["cl"].result_list
    day = f"/admin/bookings/restaurant/{small_restaurant.pk}/timeline/?date={evening(19).date().isoformat()}"
    panel = client.get(f"{day}&booking={first.pk}").content.decode()

    assert {b.pk for b in listed} == {first.pk, second.pk}
    assert "awaiting staff confirmation (1 no-show in 12 months)" in panel
    assert "Confirm booking" in panel and "Decline (cancel)" in panel and "confirm?" in panel
    status_url = f"/admin/bookings/restaurant/{small_restaurant.pk}/bookings/{first.pk}/status/"
    client.post(status_url, {"status": "staff_confirm"})
    client.post(
        "/admin/bookings/booking/",
        {"action": "staff_decline", "_selected_action": [second.pk]},
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Booking.Status.CONFIRMED and tables_of(first)
    assert second.status == Booking.Status.CANCELLED and tables_of(second) == []


def test_an_accepted_waitlist_offer_is_held_for_staff_and_confirmed_only_when_they_confirm(
    one_table_restaurant: Restaurant, alice: Any, monkeypatch: Any
) -> None:
    from bookings.models import GuestMessage
    from bookings.services.reminders import confirmations_queue_due
    from bookings.services.waitlist_accept import waitlist_accept

    monkeypatch.setattr("bookings.services.reminders.enqueue_message", lambda *a: None)
    restaurant = rule(one_table_restaurant, 1)
    no_show(restaurant, **GRACE)
    entry = join_waitlist(restaurant, "Grace Hopper", source=WaitlistEntry.Source.WIDGET, **GRACE)
    assert isinstance(entry, WaitlistEntry)
    assert waitlist_offer_run(restaurant_id=restaurant.pk, local_date=evening(19).date()) == [entry.pk]

    accepted, booking = waitlist_accept(token=entry.token)

    assert accepted.status == WaitlistEntry.Status.ACCEPTED
    assert booking.status == Booking.Status.PENDING and booking.awaiting_staff
    assert tables_of(booking) == ["ONLY"]  # the offer's held table, kept for her
    assert not GuestMessage.objects.filter(booking=booking).exists()  # not told "confirmed" yet
    assert confirmations_queue_due() == []
    booking_staff_confirm(booking=booking, actor_id=alice.pk)
    assert confirmations_queue_due() == [booking.pk]
