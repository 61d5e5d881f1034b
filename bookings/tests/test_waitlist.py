"""The waitlist (issue 17) in this process: join, offers under the day lock, accept, decline, expiry.

The offer chain on a real Celery worker and SMTP server is in test_waitlist_worker.py.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.messages import LocmemSMSBackend, message_send
from bookings.models import Booking, Hold, Restaurant, TableOccupancy, WaitlistEntry
from bookings.services.admission import booking_admit
from bookings.services.changes import booking_cancel
from bookings.services.waitlist import (
    waitlist_decline,
    waitlist_expire_offers,
    waitlist_offer_run,
)
from bookings.services.waitlist_accept import waitlist_accept
from bookings.tests.helpers import evening, tables_of
from bookings.tests.helpers import join_waitlist as join

pytestmark = pytest.mark.django_db

WHEN = evening(19)


def take_the_only_table(restaurant: Restaurant) -> Booking:
    booking = booking_admit(
        restaurant=restaurant, party_size=2, starts_at=WHEN, guest_name="Grace Hopper"
    ).booking
    assert booking.status == Booking.Status.CONFIRMED
    return booking


def run(restaurant: Restaurant, **kwargs: Any) -> list[int]:
    return waitlist_offer_run(restaurant_id=restaurant.pk, local_date=WHEN.date(), **kwargs)


def join_body(restaurant: Restaurant, **extra: Any) -> dict[str, Any]:
    return {
        "date": WHEN.date().isoformat(),
        "earliest_time": "18:30",
        "latest_time": "20:00",
        "party_size": 2,
        "guest_name": "Ada Lovelace",
        "guest_email": "ada@example.org",
        **extra,
    }


def post_join(api: APIClient, slug: str, body: Any, key: str | None = None, **kwargs: Any) -> Any:
    return api.post(
        f"/api/v1/restaurants/{slug}/waitlist",
        body,
        format=kwargs.pop("format", "json"),
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
        **kwargs,
    )


# --- join --------------------------------------------------------------------------------------------


def test_a_guest_joins_and_a_repeated_request_gets_the_same_entry(one_table_restaurant: Restaurant) -> None:
    api = APIClient()
    first = post_join(api, one_table_restaurant.slug, join_body(one_table_restaurant), key="k-1")
    again = post_join(api, one_table_restaurant.slug, join_body(one_table_restaurant), key="k-1")

    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["status"] == "waiting" and body["position"] == 1 and body["offer"] is None
    assert "guest_email" not in body
    assert again.status_code == 201 and again.json()["token"] == body["token"]
    assert WaitlistEntry.objects.count() == 1
    read = api.get(body["status_url"])
    assert read.status_code == 200 and read.json()["token"] == body["token"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"guest_email": "", "guest_phone": ""}, 400, "VALIDATION_ERROR"),
        ({"earliest_time": "21:00", "latest_time": "19:00"}, 400, "VALIDATION_ERROR"),
        ({"party_size": 0}, 400, "VALIDATION_ERROR"),
        ({"date": "2001-01-01"}, 409, "WAITLIST_UNAVAILABLE"),
        ({"party_size": 9}, 422, "PARTY_TOO_LARGE"),
    ],
)
def test_a_join_that_cannot_be_taken_answers_in_the_envelope(
    one_table_restaurant: Restaurant, change: dict[str, Any], status: int, code: str
) -> None:
    response = post_join(APIClient(), one_table_restaurant.slug, join_body(one_table_restaurant, **change))

    assert response.status_code == status, response.json()
    assert response.json()["error"] == code and response.json()["message"]
    assert not WaitlistEntry.objects.exists()


def test_malformed_json_missing_key_and_unknown_restaurant(one_table_restaurant: Restaurant) -> None:
    api = APIClient()
    malformed = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/waitlist",
        "{not json",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    no_key = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/waitlist",
        join_body(one_table_restaurant),
        format="json",
    )
    unknown = post_join(api, "nowhere", join_body(one_table_restaurant))

    assert (malformed.status_code, malformed.json()["error"]) == (400, "PARSE_ERROR")
    assert (no_key.status_code, no_key.json()["error"]) == (400, "VALIDATION_ERROR")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "NOT_FOUND")


def test_an_unknown_token_is_404_on_every_endpoint(db: None) -> None:
    api = APIClient()
    for method, path in [("get", ""), ("post", "/accept"), ("post", "/decline")]:
        response = getattr(api, method)(f"/api/v1/waitlist/no-such-token{path}")
        assert (response.status_code, response.json()["error"]) == (404, "NOT_FOUND")


# --- offers ------------------------------------------------------------------------------------------


def test_a_freed_table_is_offered_to_the_first_waiting_guest_who_fits(
    one_table_restaurant: Restaurant,
) -> None:
    booking = take_the_only_table(one_table_restaurant)
    too_big = join(one_table_restaurant, "Big Party", party=6)  # ONLY seats 4: never fits
    first = join(one_table_restaurant, "Ada Lovelace")
    second = join(one_table_restaurant, "Alan Turing")

    assert run(one_table_restaurant) == []  # nothing free yet

    booking_cancel(booking=booking)
    freed = timezone.now()
    offered = run(one_table_restaurant, freed_at=freed)

    assert offered == [first.pk]
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.OFFERED and first.hold is not None
    assert first.hold.starts_at == WHEN and first.freed_at == freed
    # waitlist.offer_minutes (10) is the offer's and its hold's lifetime.
    assert timedelta(minutes=9) < first.offer_expires_at - timezone.now() <= timedelta(minutes=10)
    assert TableOccupancy.objects.active().filter(hold=first.hold).count() == 1
    assert WaitlistEntry.objects.get(pk=second.pk).status == WaitlistEntry.Status.WAITING
    assert WaitlistEntry.objects.get(pk=too_big.pk).status == WaitlistEntry.Status.WAITING
    assert run(one_table_restaurant) == []  # a second run changes nothing


def test_the_offer_minutes_flag_sets_how_long_an_offer_holds(
    one_table_restaurant: Restaurant, set_flags: Any
) -> None:
    set_flags(**{"waitlist.offer_minutes": 3})
    entry = join(one_table_restaurant)

    run(one_table_restaurant)

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert entry.offer_expires_at - entry.offered_at == timedelta(minutes=3)


def test_the_offer_takes_the_earliest_free_time_of_the_window(one_table_restaurant: Restaurant) -> None:
    take_the_only_table(one_table_restaurant)  # 19:00-20:30
    entry = join(one_table_restaurant, earliest=evening(18).time(), latest=evening(21).time())

    run(one_table_restaurant)

    entry.refresh_from_db()
    # 18:00 would run into the 19:00 booking; after it, 20:30 is the first free start.
    assert entry.hold is not None and entry.hold.starts_at == evening(20, 30)


def test_accepting_turns_the_offer_into_a_confirmed_booking_once(one_table_restaurant: Restaurant) -> None:
    entry = join(one_table_restaurant)
    run(one_table_restaurant)
    api = APIClient()

    accepted = api.post(f"/api/v1/waitlist/{entry.token}/accept")
    again = api.post(f"/api/v1/waitlist/{entry.token}/accept")

    assert accepted.status_code == 200, accepted.json()
    body = accepted.json()
    assert body["status"] == "accepted" and body["booking"]["status"] == "confirmed"
    assert body["booking"]["tables"] == ["ONLY"]
    assert again.status_code == 200 and again.json()["booking"]["reference"] == body["booking"]["reference"]
    booking = Booking.objects.get()
    assert booking.starts_at == WHEN and tables_of(booking) == ["ONLY"]
    assert Hold.objects.get().booking_id == booking.pk  # converted in place, not re-planned
    entry.refresh_from_db()
    assert entry.booking_id == booking.pk and entry.hold is None


def test_declining_passes_the_table_to_the_next_guest(one_table_restaurant: Restaurant) -> None:
    first = join(one_table_restaurant, "Ada Lovelace")
    second = join(one_table_restaurant, "Alan Turing")
    run(one_table_restaurant)
    first.refresh_from_db()
    first_hold = first.hold
    assert first_hold is not None

    response = APIClient().post(f"/api/v1/waitlist/{first.token}/decline")
    run(one_table_restaurant)

    assert response.status_code == 200 and response.json()["status"] == "declined"
    first_hold.refresh_from_db()
    assert first_hold.released_at is not None
    second.refresh_from_db()
    assert second.status == WaitlistEntry.Status.OFFERED
    refused = APIClient().post(f"/api/v1/waitlist/{first.token}/accept")
    assert (refused.status_code, refused.json()["error"]) == (409, "OFFER_NOT_OPEN")


def test_an_unanswered_offer_expires_and_passes_on(one_table_restaurant: Restaurant) -> None:
    first = join(one_table_restaurant, "Ada Lovelace")
    second = join(one_table_restaurant, "Alan Turing")
    run(one_table_restaurant)
    later = timezone.now() + timedelta(minutes=11)

    assert waitlist_expire_offers(now=later) == 1
    run(one_table_restaurant, now=later)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == WaitlistEntry.Status.EXPIRED and first.hold is None
    assert second.status == WaitlistEntry.Status.OFFERED
    late = APIClient().post(f"/api/v1/waitlist/{first.token}/accept")
    assert (late.status_code, late.json()["error"]) == (409, "OFFER_NOT_OPEN")


def test_an_offer_past_its_time_is_refused_before_the_sweeper_runs(one_table_restaurant: Restaurant) -> None:
    entry = join(one_table_restaurant)
    run(one_table_restaurant)

    with pytest.raises(Exception) as raised:
        waitlist_accept(token=entry.token, now=timezone.now() + timedelta(minutes=11))

    assert getattr(raised.value, "code", None) == "OFFER_EXPIRED"
    assert not Booking.objects.exists()


def test_leaving_the_list_while_waiting_cancels_the_entry(one_table_restaurant: Restaurant) -> None:
    take_the_only_table(one_table_restaurant)
    entry = join(one_table_restaurant)

    assert waitlist_decline(token=entry.token).status == WaitlistEntry.Status.CANCELLED
    assert waitlist_decline(token=entry.token).status == WaitlistEntry.Status.CANCELLED  # twice is fine


# --- one offer per entry -----------------------------------------------------------------------------


def test_the_database_refuses_an_offer_without_its_hold(one_table_restaurant: Restaurant) -> None:
    entry = join(one_table_restaurant)

    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntry.objects.filter(pk=entry.pk).update(
            status=WaitlistEntry.Status.OFFERED, offer_expires_at=timezone.now()
        )


def test_two_entries_cannot_share_one_hold(one_table_restaurant: Restaurant) -> None:
    first = join(one_table_restaurant, "Ada Lovelace")
    second = join(one_table_restaurant, "Alan Turing")
    run(one_table_restaurant)
    first.refresh_from_db()

    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntry.objects.filter(pk=second.pk).update(
            status=WaitlistEntry.Status.OFFERED, hold=first.hold, offer_expires_at=first.offer_expires_at
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_offer_each_entry_one_hold(one_table_restaurant: Restaurant) -> None:
    """Frees arriving together start runs together: the day lock makes them one after the other."""
    entry = join(one_table_restaurant)
    join(one_table_restaurant, "Alan Turing")
    barrier = threading.Barrier(4)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            barrier.wait()
            results.append(run(one_table_restaurant))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]  # one run offered, the others found it done
    assert Hold.objects.filter(released_at__isnull=True).count() == 1
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert Hold.objects.get().pk == entry.hold_id


# --- messages ----------------------------------------------------------------------------------------


def test_the_offer_message_has_text_html_and_the_links(
    one_table_restaurant: Restaurant, settings: Any
) -> None:
    settings.SMS_BACKEND = "bookings.messages.LocmemSMSBackend"
    settings.PUBLIC_BASE_URL = "https://book.example.org"
    LocmemSMSBackend.outbox.clear()
    entry = join(one_table_restaurant, guest_phone="+44 1223 555 0100")
    run(one_table_restaurant)

    assert message_send(kind="waitlist_offer", object_id=entry.pk) == "email+sms"

    (sent,) = mail.outbox
    assert sent.to == ["ada@example.org"]
    assert "19:00" in sent.subject and one_table_restaurant.name in sent.subject
    page = f"https://book.example.org/waitlist/{entry.token}/"
    assert f"{page}?answer=accept" in sent.body and "Ada Lovelace" in sent.body
    html, mime = sent.alternatives[0]  # type: ignore[attr-defined]
    assert mime == "text/html" and f"{page}?answer=accept" in str(html)
    ((to, text),) = LocmemSMSBackend.outbox
    assert to == "+44 1223 555 0100" and page in text


def test_an_offer_no_longer_open_sends_nothing(one_table_restaurant: Restaurant) -> None:
    entry = join(one_table_restaurant)

    assert message_send(kind="waitlist_offer", object_id=entry.pk) == "skipped"  # still waiting
    assert mail.outbox == []


def test_confirmation_and_cancellation_messages(one_table_restaurant: Restaurant) -> None:
    booking = take_the_only_table(one_table_restaurant)
    booking.guest_email = "grace@example.org"
    booking.save(update_fields=["guest_email"])

    assert message_send(kind="booking_confirmation", object_id=booking.pk) == "email"
    booking_cancel(booking=booking)
    assert message_send(kind="booking_confirmation", object_id=booking.pk) == "skipped"
    assert message_send(kind="booking_cancellation", object_id=booking.pk) == "email"

    confirmation, cancellation = mail.outbox
    assert booking.code in confirmation.subject and "Booked" in confirmation.subject
    assert booking.reference in confirmation.body
    assert "Cancelled" in cancellation.subject and "cancelled" in cancellation.body


def test_the_guest_page_accepts_with_a_post_and_never_with_a_get(
    one_table_restaurant: Restaurant, client: Any
) -> None:
    entry = join(one_table_restaurant)
    run(one_table_restaurant)

    page = client.get(f"/waitlist/{entry.token}/?answer=accept")
    assert page.status_code == 200 and b"Accept the table" in page.content
    assert not Booking.objects.exists()

    answered = client.post(f"/waitlist/{entry.token}/", {"answer": "accept"})

    assert answered.status_code == 200 and b"You are booked" in answered.content
    assert Booking.objects.get().status == Booking.Status.CONFIRMED
    assert client.get("/waitlist/nothing-here/").status_code == 404


# --- metrics -----------------------------------------------------------------------------------------


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    body = client.get("/metrics").content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_count_offers_by_outcome_and_time_free_table_to_acceptance(
    one_table_restaurant: Restaurant, client: Any, settings: Any
) -> None:
    settings.DEBUG = True  # /metrics without a token
    sent, accepted = (
        ("reservex_waitlist_offers_total", (("outcome", "sent"),)),
        (
            "reservex_waitlist_offers_total",
            (("outcome", "accepted"),),
        ),
    )
    latency = ("reservex_waitlist_freed_to_accepted_seconds_count", ())
    before = scrape(client)
    entry = join(one_table_restaurant)

    run(one_table_restaurant, freed_at=timezone.now() - timedelta(seconds=30))
    waitlist_accept(token=entry.token)

    after = scrape(client)
    assert after[sent] - before.get(sent, 0) == 1
    assert after[accepted] - before.get(accepted, 0) == 1
    assert after[latency] - before.get(latency, 0) == 1
