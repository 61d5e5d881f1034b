"""Background work that services ask for after their commit, sent by task name.

By name, so the services that free capacity (cancel, move, release) and the waitlist itself can
ask for an offer run without importing the tasks module, which imports them. Publishing never
raises: the waitlist sweeper runs every waiting day again, and a message that could not be queued
is logged (the offer it announces is still readable at its status link).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from celery import current_app
from django.utils import timezone

logger = logging.getLogger(__name__)

OFFER_TASK = "allocator.tasks.offer_waitlist"
MESSAGE_TASK = "bookings.tasks.send_guest_message"
# Messages have a queue of their own: a slow mail server never delays allocation.
NOTIFICATIONS_QUEUE = "notifications"


def enqueue_waitlist_offers(restaurant_id: int, local_date: date, freed_at: datetime | None = None) -> None:
    """Ask the allocator to offer freed capacity on a restaurant's day to its waitlist."""
    freed = (freed_at or timezone.now()).isoformat()
    try:
        current_app.send_task(OFFER_TASK, args=(restaurant_id, local_date.isoformat(), freed), retry=False)
    except Exception as exc:  # noqa: BLE001 - after the commit, nothing may turn into an error
        logger.warning("could not enqueue waitlist offers of restaurant %s: %s", restaurant_id, exc)


def enqueue_offers_for_window(
    restaurant_id: int, starts_at: datetime, ends_at: datetime, tz_name: str
) -> None:
    """As enqueue_waitlist_offers, for the local day of a freed window not yet over (a no-show's
    table is free for the rest of its window)."""
    if ends_at <= timezone.now():
        return
    enqueue_waitlist_offers(restaurant_id, starts_at.astimezone(ZoneInfo(tz_name)).date())


def enqueue_message(kind: str, object_id: int) -> None:
    """Send a guest message (offer, confirmation, cancellation, reminder) on the notifications queue."""
    try:
        current_app.send_task(MESSAGE_TASK, args=(kind, object_id), queue=NOTIFICATIONS_QUEUE, retry=False)
    except Exception as exc:  # noqa: BLE001 - a message lost to the broker is logged, never a 500
        logger.warning("could not enqueue the %s message for %s: %s", kind, object_id, exc)
