"""record_event: the one way every part of ReserveX writes telemetry."""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from django.conf import settings
from django.db import connection

from observability.models import ObservabilityEvent
from observability.sanitizer import sanitize_context

logger = logging.getLogger("reservex.events")

# Every event type the code emits, with what it means. record_event refuses unknown types so
# that the list stays complete (a test walks it to check the sanitiser on each one).
EVENT_TYPES: dict[str, str] = {
    "booking.created": "A booking was admitted and stored as pending.",
    "booking.confirmed": "A booking got its tables.",
    "booking.cancelled": "A booking was cancelled and its tables freed.",
    "booking.rejected": "A booking could not be seated and was rejected.",
    "booking.status_changed": "Staff moved a booking through its status machine.",
    "booking.staff_confirmed": "Staff confirmed a booking the no-show rule held for them.",
    "booking.moved": "Staff moved a booking to other tables or another time.",
    "booking.capacity_exceeded": "A booking or hold was refused by the capacity rules.",
    "booking.capacity_shadow_refusal": "Shadow mode admitted what enforcement would have refused.",
    "booking.staff_override": "Staff placed a booking past the rules with an explicit override.",
    "allocation.assigned": "An allocation attempt assigned tables.",
    "allocation.skipped": "An allocation attempt found no plan.",
    "allocation.conflict": "An allocation attempt lost a race (23P01/40P01/lock timeout) and retried.",
    "allocation.fallback": "Inline allocation handed the booking to the background job.",
    "allocation.retry_exhausted": "The background job gave up on a booking.",
    "allocation.requeued": "The sweeper re-enqueued a pending booking whose job went stale.",
    "allocation.reseated": "Admission moved bookings to other tables to seat a new party.",
    "booking.reseated": "A booking was given other tables at its own time to seat a new party.",
    "hold.created": "A hold set tables aside.",
    "hold.released": "A hold was released by its holder.",
    "hold.expired": "Expired holds were purged.",
    "hold.converted": "A hold became a booking's assignment.",
    "hold.strict_conflict": "A hold was refused because its tables were taken.",
    "waitlist.joined": "A guest joined a day's waitlist.",
    "waitlist.offered": "The allocator held a table for a waiting guest and sent the offer.",
    "waitlist.accepted": "A waitlist offer became a booking.",
    "waitlist.declined": "A guest declined a waitlist offer; the table passes to the next entry.",
    "waitlist.expired": "A waitlist offer ran out of time; the table passes to the next entry.",
    "booking.guest_confirmed": "A guest confirmed they are coming (the reminder's link).",
    "message.sent": "A guest message (offer, confirmation, cancellation, reminder) went out.",
    "integrity.violation": "check_integrity found a broken invariant.",
    "flags.changed": "A feature flag override was applied.",
    "flags.kill_switch": "A kill switch was thrown without a second approver.",
    "alert.sent": "An alert was sent to the webhook.",
}


class UnknownEventType(ValueError):
    pass


def build_event(
    event_type: str,
    *,
    restaurant_id: int | None = None,
    booking_id: int | None = None,
    duration_ms: float | None = None,
    **context: Any,
) -> ObservabilityEvent:
    """Return one telemetry event, not yet stored, with its context sanitised (no guest PII)."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(f"unknown event type {event_type!r}; add it to EVENT_TYPES")
    clean = sanitize_context(context)
    logger.info("%s restaurant=%s booking=%s %s", event_type, restaurant_id, booking_id, clean)
    return ObservabilityEvent(
        type=event_type,
        restaurant_id=restaurant_id,
        booking_id=booking_id,
        duration_ms=duration_ms,
        context=clean,
    )


def record_event(
    event_type: str,
    *,
    restaurant_id: int | None = None,
    booking_id: int | None = None,
    duration_ms: float | None = None,
    **context: Any,
) -> ObservabilityEvent:
    """Store one telemetry event with its context sanitised (no guest PII ever reaches the row)."""
    event = build_event(
        event_type, restaurant_id=restaurant_id, booking_id=booking_id, duration_ms=duration_ms, **context
    )
    event.save(force_insert=True)
    return event


def record_events(events: list[ObservabilityEvent]) -> None:
    """Store events built with build_event in one statement (the hot path's telemetry)."""
    if events:
        ObservabilityEvent.objects.bulk_create(events)


class EventBuffer:
    """Events that may wait a moment before they are stored, written in batches by one thread.

    For capacity refusals: a burst for a popular slot refuses hundreds of guests a second, and one
    INSERT and commit each would be most of what a refusal costs. An event waits at most
    TELEMETRY_BUFFER_SECONDS; those of a process killed within that time are lost (refusals leave
    no booking behind, and /metrics has counted them already). Flushed at exit too. The flushing
    thread runs only while events wait: it stops once the buffer is empty.
    """

    def __init__(self) -> None:
        self._events: list[ObservabilityEvent] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, event: ObservabilityEvent) -> None:
        with self._lock:
            self._events.append(event)
            if self._thread is None or not self._thread.is_alive():  # none running, or lost in a fork
                self._wake.clear()
                self._thread = threading.Thread(target=self._run, name="event-buffer", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Store the waiting events now; return how many."""
        with self._lock:
            events, self._events = self._events, []
        if events:
            ObservabilityEvent.objects.bulk_create(events)
        self._wake.set()  # a flusher waiting for its turn need not wait any longer
        return len(events)

    def _run(self) -> None:
        while True:
            self._wake.wait(settings.TELEMETRY_BUFFER_SECONDS)
            try:
                self.flush()
            except Exception:  # telemetry must never take a process down
                logger.exception("could not store buffered events")
            finally:
                connection.close()  # hand this thread's connection back to the pool
            with self._lock:
                if not self._events:
                    self._thread = None
                    return
                self._wake.clear()


buffer = EventBuffer()
atexit.register(buffer.flush)


def record_event_soon(event_type: str, **fields: Any) -> None:
    """Record an event within TELEMETRY_BUFFER_SECONDS, in a batch (at once when that is 0)."""
    event = build_event(event_type, **fields)
    if settings.TELEMETRY_BUFFER_SECONDS <= 0:
        event.save(force_insert=True)
    else:
        buffer.add(event)
