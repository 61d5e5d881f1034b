"""A booking that is stored is answered 202, whatever stops its background job from being sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import pools
from rest_framework.test import APIClient

from bookings.models import Booking, Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.processes import celery_broker
from reservex.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_producer_pool() -> Iterator[None]:
    """Leave the app's producer pool closed, as a forced close elsewhere in the process does."""
    app.amqp.producer_pool.force_close_all()
    try:
        yield
    finally:
        pools.reset()
        app.amqp._producer_pool = None
        app._pool = None


def test_a_closed_producer_pool_answers_202_and_keeps_the_booking(
    api: APIClient,
    small_restaurant: Restaurant,
    set_flags,  # type: ignore[no-untyped-def]
    closed_producer_pool: None,
) -> None:
    # given a budget of 0, so the booking must go to the queue, and a pool that cannot publish
    set_flags(**{"allocator.inline_timeout_ms": 0})
    with pytest.raises(RuntimeError, match="closed pool"), app.amqp.producer_pool.acquire(timeout=1):
        pass
    # when the guest books
    response = post_booking(api, booking_body(small_restaurant.slug))
    # then they are told to poll, and the booking waits for the sweeper (nothing marks it enqueued)
    assert response.status_code == 202, response.content
    assert response["Retry-After"] == "2"
    body = response.json()
    assert body["poll_url"] == f"/api/v1/bookings/{body['reference']}"
    booking = Booking.objects.get(reference=body["reference"])
    assert booking.status == Booking.Status.PENDING
    assert booking.allocation_enqueued_at is None


def test_swapping_the_broker_leaves_the_app_able_to_publish() -> None:
    previous = app.conf.broker_url
    with celery_broker("redis://127.0.0.1:1/0"):
        assert app.conf.broker_url == "redis://127.0.0.1:1/0"
    assert app.conf.broker_url == previous
    # The pool for the original URL is a new, open one (acquiring does not connect).
    with app.amqp.producer_pool.acquire(block=True, timeout=1) as producer:
        assert producer is not None
