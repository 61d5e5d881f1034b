"""The waitlist's offer chain on a real Celery worker and a real SMTP server (issue 17).

The API runs in this process (Django's test client); the offers and messages run in a worker
process against the test database and a private redis-server (processes.py); email goes over
SMTP to an aiosmtpd server in this process.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from rest_framework.test import APIClient

from bookings.models import Booking, Hold, Restaurant, WaitlistEntry
from bookings.outbox import NOTIFICATIONS_QUEUE
from bookings.tasks import offer_waitlist
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import evening, join_waitlist
from bookings.tests.processes import CeleryWorker, Stack, free_port, stack_fixture, wait_until

__all__ = ["stack_fixture"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(180)]

WHEN = evening(19)


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def start_worker(stack: Stack, smtp_port: int, *, concurrency: int = 1) -> CeleryWorker:
    """A worker on the default queue (the offer runs) and the notifications queue (the messages)."""
    number = len(stack.processes) + 1
    command = [sys.executable, "-m", "celery", "-A", "reservex", "worker", "--pool", "prefork"]
    command += ["--loglevel", "INFO", "--concurrency", str(concurrency)]
    command += ["--queues", f"reservex,allocation,{NOTIFICATIONS_QUEUE}"]
    command += ["--hostname", f"waitlist{number}-{os.getpid()}@%h"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    env = stack.env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        PUBLIC_BASE_URL="http://testserver",
    )
    worker = CeleryWorker(command, env, stack.directory / f"worker-{number}.log")
    stack.processes.append(worker)
    return worker.ready()


def body_of(message: Message, mime: str) -> str:
    for part in message.walk():
        if part.get_content_type() == mime:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no {mime} part")


def test_a_cancellation_offers_the_table_by_email_and_the_guest_accepts(
    stack: Stack, smtp: tuple[Inbox, int], one_table_restaurant: Restaurant
) -> None:
    inbox, port = smtp
    worker = start_worker(stack, port)
    api = APIClient()
    # Given the only table is booked at 19:00 and a guest waits for 19:00 that evening,
    taken = post_booking(
        api, booking_body(one_table_restaurant.slug, party=2, guest_email="grace@example.org")
    )
    assert taken.status_code == 201, taken.json()
    joined = api.post(
        f"/api/v1/restaurants/{one_table_restaurant.slug}/waitlist",
        {
            "date": WHEN.date().isoformat(),
            "earliest_time": "19:00",
            "latest_time": "19:00",
            "party_size": 2,
            "guest_name": "Ada Lovelace",
            "guest_email": "ada@example.org",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert joined.status_code == 201, joined.json()
    token = joined.json()["token"]
    worker.wait_for_log(r"offer_waitlist\[[^\]]+\] succeeded in [\d.]+s: \[\]")  # nothing free yet
    assert WaitlistEntry.objects.get().status == WaitlistEntry.Status.WAITING

    # when the booking is cancelled,
    cancelled = api.post(f"/api/v1/bookings/{taken.json()['reference']}/cancel")
    assert cancelled.status_code == 200

    # then the worker holds the table for the guest and emails the offer over SMTP,
    (offer,) = wait_until(lambda: inbox.to("ada@example.org"), what="the offer email")
    entry = WaitlistEntry.objects.get()
    assert entry.status == WaitlistEntry.Status.OFFERED and entry.hold is not None
    assert entry.hold.starts_at == WHEN
    text, html = body_of(offer, "text/plain"), body_of(offer, "text/html")
    link = re.search(r"http://testserver/waitlist/([\w-]+)/\?answer=accept", text)
    assert link is not None and link.group(1) == token, text
    assert link.group(0) in html and "19:00" in offer["Subject"]
    # (the cancelled guest is told too)
    wait_until(lambda: inbox.to("grace@example.org"), what="the cancellation email")

    # and accepting the offer books the held table.
    accepted = api.post(f"/api/v1/waitlist/{token}/accept")
    assert accepted.status_code == 200, accepted.json()
    booking = accepted.json()["booking"]
    assert booking["status"] == "confirmed" and booking["tables"] == ["ONLY"]
    assert (
        Hold.objects.get(pk=entry.hold_id).booking_id
        == Booking.objects.get(reference=booking["reference"]).pk
    )
    (confirmation,) = wait_until(
        lambda: [m for m in inbox.to("ada@example.org") if "Booked" in str(m["Subject"])],
        what="the confirmation email",
    )
    assert booking["code"] in str(confirmation["Subject"])


def test_runs_racing_on_two_worker_processes_offer_one_hold(
    stack: Stack, smtp: tuple[Inbox, int], one_table_restaurant: Restaurant
) -> None:
    """Many frees at once (each enqueues a run): the day lock lets one run offer the one table."""
    for name in ("Ada Lovelace", "Alan Turing"):
        join_waitlist(one_table_restaurant, name)
    runs = 8
    for _ in range(runs):  # queued before the worker starts, so its two processes race for them
        offer_waitlist.apply_async(args=(one_table_restaurant.pk, WHEN.date().isoformat()))

    worker = start_worker(stack, smtp[1], concurrency=2)
    # The join's own runs (2, after their commits) and the eight queued here.
    log = worker.wait_for_log(r"offer_waitlist\[[^\]]+\] succeeded", count=runs + 2)

    offers = re.findall(r"offer_waitlist\[[^\]]+\] succeeded in [\d.]+s: \[(\d+)\]", log)
    first = WaitlistEntry.objects.order_by("created_at").first()
    assert first is not None
    assert offers == [str(first.pk)], log  # exactly one run made an offer, to the first guest
    assert first.status == WaitlistEntry.Status.OFFERED and first.offers_made == 1
    assert Hold.objects.filter(released_at__isnull=True).count() == 1
    assert WaitlistEntry.objects.filter(status=WaitlistEntry.Status.WAITING).count() == 1
