"""Celery tasks of the booking domain: the background assignment job and the sweepers.

The allocation tasks keep the names they were first queued under (``allocator.tasks.…``), so
messages already in the broker still find them.

Tasks take primary keys and call services. Delivery is at least once (acks_late, reject on
worker lost), so every task is idempotent: allocation is a no-op once a booking is not pending.
"""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta
from smtplib import SMTPException
from typing import Any

from celery import Task, shared_task
from celery.exceptions import MaxRetriesExceededError, SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError as DjangoOperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

import flags
from bookings.config import config_for
from bookings.errors import LockTimeout
from bookings.integrity import check_integrity
from bookings.messages import message_send
from bookings.models import Booking, WaitlistEntry
from bookings.outbox import MESSAGE_TASK, enqueue_waitlist_offers
from bookings.services.allocation import booking_allocate, booking_reject
from bookings.services.holds import holds_purge_expired
from bookings.services.idempotency import idempotency_purge_expired
from bookings.services.reminders import confirmations_queue_due, reminders_queue_due
from bookings.services.reseating import service_day_tidy
from bookings.services.waitlist import waitlist_days_waiting, waitlist_expire_offers, waitlist_offer_run
from observability import metrics
from observability.alerts import send_alert
from observability.events import record_event

logger = logging.getLogger(__name__)

MAX_RETRIES = settings.ALLOCATION_MAX_RETRIES
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter: spreads retries of a hot slot apart."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries))  # noqa: S311


# Failures of the infrastructure, not of the booking: retry, and if they persist leave the booking
# pending for the sweeper rather than reject what was accepted.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DjangoOperationalError,
    InterfaceError,
    BrokerError,
    SoftTimeLimitExceeded,
    MaxRetriesExceededError,
)


class AllocationTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """A bug (not a lost race, not an outage) ends the booking's chances: reject it and alert."""
        booking_id = args[0] if args else kwargs.get("booking_id")
        if isinstance(exc, TRANSIENT_ERRORS):
            logger.warning(
                "allocate_booking %s gave up for now (%s); the sweeper retries it", booking_id, exc
            )
            return
        logger.error("allocate_booking %s failed", booking_id, exc_info=exc)
        if booking_id is not None and booking_reject(booking_id=booking_id, reason="allocation_error"):
            record_event("allocation.retry_exhausted", booking_id=booking_id, reason="allocation_error")
            send_alert(
                "Booking rejected after an allocation error",
                f"Booking {booking_id}: {type(exc).__name__}. See the worker log.",
                severity="P2",
            )


def _reject_exhausted(booking_id: int, reason: str, attempts: int) -> None:
    if booking_reject(booking_id=booking_id, reason=reason):
        booking = Booking.objects.get(pk=booking_id)
        record_event(
            "allocation.retry_exhausted",
            restaurant_id=booking.restaurant_id,
            booking_id=booking_id,
            attempts=attempts,
            reason=reason,
        )
        send_alert(
            "Booking rejected after retries",
            f"Booking {booking_id} could not be seated after {attempts} attempts ({reason}).",
            severity="P2",
        )


@shared_task(
    bind=True,
    base=AllocationTask,
    name="allocator.tasks.allocate_booking",
    max_retries=MAX_RETRIES,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def allocate_booking(self: Task, booking_id: int) -> str:
    """Assign tables to a pending booking; retry with backoff; reject once retries are spent."""
    with metrics.track_task("allocator.allocate_booking"):
        attempt = int(self.request.retries) + 1
        # The job is alive: keep the sweeper from starting a second chain for this booking.
        pending = Booking.objects.waiting_for_tables().filter(pk=booking_id)
        if not pending.update(allocation_enqueued_at=timezone.now()):
            return "already_done"
        if pending.filter(starts_at__lte=timezone.now()).exists():
            _reject_exhausted(booking_id, "start_time_passed", attempt - 1)
            return "rejected"
        try:
            result = booking_allocate(booking_id=booking_id, mode="background", attempt=attempt)
        except (DjangoOperationalError, InterfaceError) as exc:
            raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
        if result.assigned:
            return result.outcome
        if self.request.retries >= MAX_RETRIES:
            _reject_exhausted(booking_id, result.failure_reason or "retries_exhausted", attempt)
            return "rejected"
        raise self.retry(countdown=backoff_seconds(self.request.retries))


def enqueue_allocation(booking_id: int) -> bool:
    """Send the booking to the background job now; False if the broker is unreachable.

    A failure loses nothing: the booking stays pending and the sweeper enqueues it again. Any
    exception counts as a failure to publish (a broker error, a socket error, a closed connection
    pool): the booking is already stored, so the guest must get 202, never a 500.
    """
    try:
        allocate_booking.apply_async(args=(booking_id,), retry=False)
    except Exception as exc:  # noqa: BLE001 - whatever stops the publish, the sweeper covers it
        logger.warning("could not enqueue booking %s: %s", booking_id, exc)
        metrics.INLINE_FALLBACKS.labels("enqueue_failed").inc()
        return False
    Booking.objects.filter(pk=booking_id).update(allocation_enqueued_at=timezone.now())
    return True


@shared_task(name="allocator.tasks.requeue_stale_pending", ignore_result=True)
def requeue_stale_pending() -> int:
    """Re-enqueue pending bookings whose job went stale: the pending row is the outbox."""
    with metrics.track_task("allocator.requeue_stale_pending"):
        cutoff = timezone.now() - timedelta(seconds=settings.ALLOCATION_STALE_SECONDS)
        # Not those held for staff by the no-show rule: they have their tables and wait for a person.
        stale = (
            Booking.objects.waiting_for_tables()
            .filter(created_at__lt=cutoff)
            .exclude(allocation_enqueued_at__gte=cutoff)
        )
        requeued = 0
        for booking_id, restaurant_id in stale.values_list("pk", "restaurant_id")[:500]:
            if enqueue_allocation(booking_id):
                requeued += 1
                record_event("allocation.requeued", restaurant_id=restaurant_id, booking_id=booking_id)
        return requeued


@shared_task(name="allocator.tasks.purge_expired_holds", ignore_result=True)
def purge_expired_holds() -> int:
    with metrics.track_task("allocator.purge_expired_holds"):
        return holds_purge_expired()


@shared_task(name="allocator.tasks.run_integrity_check", ignore_result=True)
def run_integrity_check() -> dict[str, int]:
    """The overbooking detector: export violation counts and record each violation kind found."""
    with metrics.track_task("allocator.run_integrity_check"):
        now = timezone.now()
        report = check_integrity(
            now=now,
            since=now - timedelta(days=1),
            stale_after=timedelta(seconds=settings.ALLOCATION_STALE_SECONDS * 10),
        )
        counts = report.counts()
        metrics.set_integrity_violations(counts)
        for kind, items in report.violations.items():
            if items:
                record_event("integrity.violation", kind=kind, count=len(items))
        return counts


@shared_task(name="bookings.tasks.purge_expired_idempotency_keys", ignore_result=True)
def purge_expired_idempotency_keys() -> int:
    """Delete Idempotency-Key rows past their 24 h expiry."""
    with metrics.track_task("bookings.purge_expired_idempotency_keys"):
        return idempotency_purge_expired()


@shared_task(
    name="bookings.tasks.tidy_service_day",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(LockTimeout, DjangoOperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
)
def tidy_service_day(restaurant_id: int, local_date: str) -> int:
    """Re-seat a service day's bookings where they fit better; idempotent (a second run moves nothing)."""
    with metrics.track_task("bookings.tidy_service_day"):
        result = service_day_tidy(restaurant_id=restaurant_id, local_date=date.fromisoformat(local_date))
        return len(result.moves) if result is not None else 0


def enqueue_tidy(restaurant_id: int, starts_at: datetime) -> None:
    """Ask for a tidy-up of the day a cancelled or no-show booking was on (run after its commit).

    Only with allocator.reshuffle_enabled and for a day still to come. The broker being away only
    skips a tidy-up: nothing depends on it.
    """
    try:
        if starts_at <= timezone.now() or not flags.get("allocator.reshuffle_enabled", restaurant_id):
            return
        local_date = starts_at.astimezone(config_for(restaurant_id).restaurant.tz).date()
        tidy_service_day.apply_async(args=(restaurant_id, local_date.isoformat()), retry=False)
    except Exception as exc:  # noqa: BLE001 - after the commit, nothing may turn into an error
        logger.warning("could not enqueue the tidy-up of restaurant %s: %s", restaurant_id, exc)


# --- waitlist and guest messages (issue 17) ----------------------------------------------------------


@shared_task(
    name="allocator.tasks.offer_waitlist",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(LockTimeout, DjangoOperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def offer_waitlist(restaurant_id: int, local_date: str, freed_at: str | None = None) -> list[int]:
    """Offer a day's freed capacity to its waitlist in order; idempotent (offered entries wait no more)."""
    with metrics.track_task("allocator.offer_waitlist"):
        return waitlist_offer_run(
            restaurant_id=restaurant_id,
            local_date=date.fromisoformat(local_date),
            freed_at=datetime.fromisoformat(freed_at) if freed_at else None,
        )


@shared_task(name="allocator.tasks.sweep_waitlist", ignore_result=True)
def sweep_waitlist() -> int:
    """Expire overdue offers, run offers for every day with guests waiting, count who waits.

    The runs catch whatever a trigger missed (the broker was away at a cancellation, a hold ran out
    unseen); a run that finds nothing to offer changes nothing.
    """
    with metrics.track_task("allocator.sweep_waitlist"):
        expired = waitlist_expire_offers()
        days = waitlist_days_waiting()
        for restaurant_id, local_date in days:
            enqueue_waitlist_offers(restaurant_id, local_date)
        metrics.WAITLIST_LENGTH.set(
            WaitlistEntry.objects.filter(
                status=WaitlistEntry.Status.WAITING, date__gte=(timezone.now() - timedelta(days=1)).date()
            ).count()
        )
        return expired


@shared_task(
    name=MESSAGE_TASK,  # published on NOTIFICATIONS_QUEUE (bookings.outbox.enqueue_message)
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OSError, SMTPException),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_guest_message(kind: str, object_id: int) -> str:
    """Send one guest message; a mail server that fails is retried with backoff, on its own queue."""
    with metrics.track_task("bookings.send_guest_message"):
        return message_send(kind=kind, object_id=object_id)


@shared_task(name="bookings.tasks.queue_booking_confirmations", ignore_result=True)
def queue_booking_confirmations() -> int:
    """Queue the confirmation message of each newly confirmed booking, once."""
    with metrics.track_task("bookings.queue_booking_confirmations"):
        return len(confirmations_queue_due())


@shared_task(name="bookings.tasks.queue_booking_reminders", ignore_result=True)
def queue_booking_reminders() -> int:
    """Queue the reminders now due (reminders.hours before each confirmed booking), each once."""
    with metrics.track_task("bookings.queue_booking_reminders"):
        queued = reminders_queue_due()
        metrics.REMINDERS_QUEUED.inc(len(queued))
        return len(queued)
