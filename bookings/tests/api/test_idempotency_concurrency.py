"""Invariant 5 over HTTP: one Idempotency-Key yields one booking, however many requests race.

Each request runs in its own thread with its own database connection (``transaction=True``);
a barrier releases them together. The key is claimed inside the booking's transaction: the other
requests wait on the first one's claim and then replay its committed answer. A switch that slows
the request holding the claim widens that window, so the waiting path is exercised every time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from bookings.models import Booking, IdempotencyKey, Restaurant
from bookings.services import create
from bookings.services.idempotency import IdempotencyRequest
from bookings.tests.api.conftest import booking_body, post_booking

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REQUESTS = 50


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    retry_after: str | None


def race(count: int, send: Callable[[APIClient, int], Any]) -> list[Answer]:
    """Send ``count`` requests at once from as many threads and return their answers in order."""
    barrier = threading.Barrier(count)
    answers: list[Answer | BaseException | None] = [None] * count

    def run(index: int) -> None:
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            response = send(client, index)
            answers[index] = Answer(response.status_code, response.json(), response.get("Retry-After"))
        except BaseException as exc:  # reported below, with the thread's index
            answers[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), name=f"request-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [(i, a) for i, a in enumerate(answers) if not isinstance(a, Answer)]
    assert not failures, failures
    return [a for a in answers if isinstance(a, Answer)]


@pytest.fixture
def slow_first_booking(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    """Widen the race window: the request holding the claim takes ``seconds`` longer to commit."""

    def widen(seconds: float) -> None:
        original = create.admit_in_transaction

        def slow_admit(**kwargs: Any) -> Any:
            time.sleep(seconds)
            return original(**kwargs)

        monkeypatch.setattr(create, "admit_in_transaction", slow_admit)

    yield widen


def test_control_without_the_key_guard_the_same_requests_book_more_than_once(
    small_restaurant: Restaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Show that the race harness catches duplicates: give every request a key of its own."""
    claim = create.idempotency_claim

    def claim_a_fresh_key(*, restaurant_id: int, request: IdempotencyRequest, now: Any) -> Any:
        fresh = replace(request, key=f"{request.key}:{uuid.uuid4()}")
        return claim(restaurant_id=restaurant_id, request=fresh, now=now)

    monkeypatch.setattr(create, "idempotency_claim", claim_a_fresh_key)
    body = booking_body(small_restaurant.slug)

    race(10, lambda client, _: post_booking(client, body, key="one-key-for-all"))

    assert Booking.objects.count() > 1


def assert_in_progress(answer: Answer) -> None:
    assert answer.body["error"] == "IDEMPOTENCY_IN_PROGRESS", answer
    assert answer.retry_after is not None and int(answer.retry_after) >= 1
    assert answer.body["retry_after"] == int(answer.retry_after)


@pytest.mark.parametrize("window_seconds", [0.0, 0.5], ids=["natural", "widened"])
def test_fifty_requests_with_one_key_make_one_booking_and_agree(
    small_restaurant: Restaurant, slow_first_booking: Callable[[float], None], window_seconds: float
) -> None:
    slow_first_booking(window_seconds)
    body = booking_body(small_restaurant.slug)

    answers = race(REQUESTS, lambda client, _: post_booking(client, body, key="one-key-for-all"))

    booking = Booking.objects.get()  # exactly one
    for answer in answers:
        if answer.status in (201, 202):
            assert answer.body["reference"] == booking.reference, answer
        else:
            assert answer.status == 409, answer
            assert_in_progress(answer)
    done = [a for a in answers if a.status in (201, 202)]
    assert done and all(a.body == done[0].body for a in done)
    if window_seconds:
        # Everyone waited on the claim and replayed the one answer: nobody was told to come back.
        assert len(done) == REQUESTS

    replay = post_booking(APIClient(), body, key="one-key-for-all")
    assert replay.status_code == 201 and replay.json() == done[0].body
    key = IdempotencyKey.objects.get(key="one-key-for-all")
    assert key.state == IdempotencyKey.State.COMPLETED and key.booking_id == booking.pk
    assert Booking.objects.count() == 1


def test_the_same_key_with_two_bodies_at_once_books_one_and_refuses_the_other_with_422(
    small_restaurant: Restaurant, slow_first_booking: Callable[[float], None]
) -> None:
    slow_first_booking(0.3)
    bodies = {
        2: booking_body(small_restaurant.slug, party=2),
        3: booking_body(small_restaurant.slug, party=3),
    }

    answers = race(20, lambda client, i: post_booking(client, bodies[2 + i % 2], key="shared-key"))

    booking = Booking.objects.get()
    winner, loser = booking.party_size, 5 - booking.party_size
    for index, answer in enumerate(answers):
        if 2 + index % 2 == loser:
            assert answer.status == 422 and answer.body["error"] == "IDEMPOTENCY_KEY_REUSED", answer
        elif answer.status == 409:
            assert_in_progress(answer)
        else:
            assert answer.status in (201, 202) and answer.body["reference"] == booking.reference, answer
    assert post_booking(APIClient(), bodies[loser], key="shared-key").status_code == 422
    assert (
        post_booking(APIClient(), bodies[winner], key="shared-key").json()["reference"] == booking.reference
    )
