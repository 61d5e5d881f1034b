"""Periodic upkeep of the bookings app."""

from __future__ import annotations

from celery import shared_task

from bookings.services import idempotency_purge_expired
from observability import metrics


@shared_task(name="bookings.tasks.purge_expired_idempotency_keys", ignore_result=True)
def purge_expired_idempotency_keys() -> int:
    """Delete Idempotency-Key rows past their 24 h expiry."""
    with metrics.track_task("bookings.purge_expired_idempotency_keys"):
        return idempotency_purge_expired()
