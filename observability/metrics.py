"""Prometheus metrics of ReserveX: one module, imported by whoever records.

Correct across processes: when ``PROMETHEUS_MULTIPROC_DIR`` is set *before* prometheus-client is
first imported (devstack and docker-compose set it for every child), each gunicorn and Celery
process writes its samples to its own mmap file in that directory and ``/metrics`` adds them up
(see ``observability.views``). Counters and histograms need nothing more; gauges say explicitly
how values from several processes combine (``multiprocess_mode``).

Labels are bounded: every label value a caller may use is listed below and pre-created at import,
so rates start from 0 instead of from a missing series (alerts on ratios depend on that).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from celery.exceptions import Retry
from prometheus_client import Counter, Gauge, Histogram
from rest_framework import exceptions as drf_exceptions

logger = logging.getLogger("reservex.metrics")

BOOKING_OUTCOMES = (
    "confirmed",
    "pending",
    "capacity_exceeded",
    "idempotent_replay",
    "validation_error",
    "conflict",
    "error",
)
ALLOCATION_MODES = ("inline", "background", "hold", "staff")
ALLOCATION_OUTCOMES = ("assigned", "skipped", "conflict", "error")
FALLBACK_REASONS = ("budget_spent", "lock_timeout", "shed_overload", "no_plan_now", "error", "enqueue_failed")
INTEGRITY_KINDS = ("overlap", "over_capacity", "unseated_confirmed", "stale_pending")
TASK_OUTCOMES = ("success", "retry", "failure")
# allocator.reseating's failure reasons, plus made room and lost a race while writing the moves.
RESEAT_OUTCOMES = (
    "reseated",
    "no_move_needed",
    "no_target_table_set",
    "blockers_do_not_fit_elsewhere",
    "needs_too_many_moves",
    "search_budget_spent",
    "invalid_request",
    "conflict",
)

# Latency buckets: fine where the targets are (booking p95 <= 100 ms, availability p95 <= 30 ms,
# alert at booking p95 > 1 s), coarse up to the 25 s inline ceiling and the 30 s client timeout.
BOOKING_BUCKETS = (
    0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip
AVAILABILITY_BUCKETS = (
    0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 1.5, 3.0,
)  # fmt: skip
PLANNER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)
SEAT_WASTE_BUCKETS = (0, 1, 2, 3, 4, 6, 8)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 90.0)

BOOKING_REQUESTS = Counter(
    "reservex_booking_requests_total",
    "POST /api/v1/bookings requests by outcome.",
    ["outcome"],
)
BOOKING_LATENCY = Histogram(
    "reservex_booking_request_seconds",
    "Time to answer POST /api/v1/bookings, admission and inline allocation included.",
    buckets=BOOKING_BUCKETS,
)
STAGE_SECONDS = Histogram(
    "reservex_stage_seconds",
    "Time in each named stage of the booking path (observability.spans.STAGES).",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
AVAILABILITY_LATENCY = Histogram(
    "reservex_availability_request_seconds",
    "Time to answer GET /api/v1/restaurants/{slug}/availability.",
    buckets=AVAILABILITY_BUCKETS,
)
AVAILABILITY_DAYS = Counter(
    "reservex_availability_days",
    "Where a day's availability came from, for a guest's availability request or a booking's cached "
    "refusal: memory (this process), shared (the Redis cache) or computed (read and planned anew).",
    ["source"],
)
ALLOCATION_ATTEMPTS = Counter(
    "reservex_allocation_attempts_total",
    "Allocation attempts by mode (inline planner, background job, hold converted, staff) and outcome.",
    ["mode", "outcome"],
)
INLINE_FALLBACKS = Counter(
    "reservex_inline_fallbacks_total",
    "Bookings handed from inline allocation to the background job, by reason.",
    ["reason"],
)
PLANNER_SECONDS = Histogram(
    "reservex_planner_seconds",
    "CPU time the pure planner took to choose tables for one attempt.",
    buckets=PLANNER_BUCKETS,
)
SEAT_WASTE = Histogram(
    "reservex_seat_waste_seats",
    "Seats left empty at the tables assigned (capacity minus party size).",
    buckets=SEAT_WASTE_BUCKETS,
)
HOLD_CONFLICTS = Counter(
    "reservex_hold_conflicts_total",
    "Holds refused because their tables were taken (holds.strict_conflicts).",
)
BOOKINGS_REJECTED = Counter(
    "reservex_bookings_rejected_total",
    "Bookings that ended rejected, by reason.",
    ["reason"],
)
TASK_RUNS = Counter(
    "reservex_task_runs_total",
    "Celery task runs by task name and outcome (success, retry, failure).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "reservex_task_seconds",
    "Celery task run time by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)
RESEATINGS = Counter(
    "reservex_reseatings_total",
    "Re-seating searches at admission (allocator.reshuffle_enabled) by outcome.",
    ["outcome"],
)
RESEAT_MOVES = Counter(
    "reservex_reseat_moves_total",
    "Bookings moved to other tables (same time and party) to seat a new party.",
)
RESEAT_COVERS_WON = Counter(
    "reservex_reseat_covers_won_total",
    "Covers seated only because re-seating made room for them.",
)
RESEAT_TIDY_MOVES = Counter(
    "reservex_reseat_tidy_moves_total",
    "Bookings the tidy-up after cancellations and no-shows moved to tables that fit them better.",
)
RESEAT_SECONDS = Histogram(
    "reservex_reseat_search_seconds",
    "Time the re-seating search took at admission, whatever it found.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1),
)
# "mostrecent": the value of the last check wins, whichever process (beat, worker) ran it, and it
# survives that process's exit, so a violation stays visible until a later check clears it.
INTEGRITY_VIOLATIONS = Gauge(
    "reservex_integrity_violations",
    "Broken invariants found by the last integrity check, by kind (the overbooking detector).",
    ["kind"],
    multiprocess_mode="mostrecent",
)
INTEGRITY_LAST_CHECK = Gauge(
    "reservex_integrity_last_check_timestamp_seconds",
    "Unix time of the last completed integrity check (alerts when the detector stops running).",
    multiprocess_mode="mostrecent",
)
ALERTS_SENT = Counter(
    "reservex_alerts_sent_total",
    "Alerts posted to the webhook, by severity and whether the webhook accepted them.",
    ["severity", "delivered"],
)
# Waitlist offers by what became of them (issue 17); window_passed: the entry's times went by.
WAITLIST_OFFER_OUTCOMES = ("sent", "accepted", "declined", "expired", "window_passed")
WAITLIST_OFFERS = Counter(
    "reservex_waitlist_offers_total",
    "Waitlist offers sent by the background allocator, and how they ended.",
    ["outcome"],
)
WAITLIST_FREED_TO_ACCEPTED = Histogram(
    "reservex_waitlist_freed_to_accepted_seconds",
    "Time from capacity being freed to the waiting guest accepting the offer it made.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600),
)
WAITLIST_LENGTH = Gauge(
    "reservex_waitlist_waiting",
    "Guests waiting on every waitlist (days to come), as counted by the last sweep.",
    multiprocess_mode="mostrecent",
)
MESSAGE_KINDS = ("waitlist_offer", "booking_confirmation", "booking_cancellation", "booking_reminder")
MESSAGES_SENT = Counter(
    "reservex_guest_messages_total",
    "Guest messages by kind, channel (email, sms) and outcome (sent, failed, skipped).",
    ["kind", "channel", "outcome"],
)
REMINDERS_QUEUED = Counter(
    "reservex_reminders_queued_total",
    "Booking reminders queued by the beat task (each booking once).",
)
GUEST_CONFIRMATIONS = Counter(
    "reservex_guest_confirmations_total",
    "Guests who confirmed they are coming through the reminder's link.",
)
TELEMETRY_PURGED = Counter(
    "reservex_telemetry_purged_rows_total",
    "Telemetry rows deleted by the retention task, by table.",
    ["table"],
)

for _outcome in BOOKING_OUTCOMES:
    BOOKING_REQUESTS.labels(_outcome)
for _mode in ALLOCATION_MODES:
    for _outcome in ALLOCATION_OUTCOMES:
        ALLOCATION_ATTEMPTS.labels(_mode, _outcome)
for _reason in FALLBACK_REASONS:
    INLINE_FALLBACKS.labels(_reason)
for _outcome in RESEAT_OUTCOMES:
    RESEATINGS.labels(_outcome)
for _outcome in WAITLIST_OFFER_OUTCOMES:
    WAITLIST_OFFERS.labels(_outcome)


def set_integrity_violations(counts: Mapping[str, int]) -> None:
    """Export the counts of one integrity check; every known kind is set, missing ones to 0.

    Kinds outside INTEGRITY_KINDS are added up under ``kind="other"`` (0 when there are none) so
    the label stays bounded.
    """
    other = 0
    for kind, count in counts.items():
        if kind not in INTEGRITY_KINDS:
            logger.warning("unknown integrity violation kind %r exported as 'other'", kind)
            other += int(count)
    for kind in INTEGRITY_KINDS:
        INTEGRITY_VIOLATIONS.labels(kind).set(int(counts.get(kind, 0)))
    # Always set, so a check without unknown kinds clears what an earlier one reported.
    INTEGRITY_VIOLATIONS.labels("other").set(other)
    INTEGRITY_LAST_CHECK.set(time.time())


@contextmanager
def track_task(task: str) -> Iterator[None]:
    """Count one run of ``task`` and time it; an exception counts as a failure and propagates.

    Celery's Retry exception counts as ``retry``: ``self.retry()`` raises it on purpose.
    """
    started = time.perf_counter()
    outcome = "success"
    try:
        yield
    except BaseException as exc:
        outcome = "retry" if isinstance(exc, Retry) else "failure"
        raise
    finally:
        TASK_RUNS.labels(task, outcome).inc()
        TASK_SECONDS.labels(task).observe(time.perf_counter() - started)


def observe_booking_requests(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Count a booking view's answers by outcome and time them (BOOKING_REQUESTS, BOOKING_LATENCY).

    The outcome comes from the answer (201 confirmed, 202 pending, a replayed stored answer) or the
    error: a request that did not validate or parse, a refusal (code CAPACITY_EXCEEDED), another
    domain error (any other ``code``), else an error.
    """

    @functools.wraps(handler)
    def observed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = handler(*args, **kwargs)
            outcome = {201: "confirmed", 202: "pending"}.get(response.status_code, "idempotent_replay")
            if getattr(response, "replayed", False):
                outcome = "idempotent_replay"
            return response
        except (drf_exceptions.ValidationError, drf_exceptions.ParseError):
            outcome = "validation_error"
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            outcome = "capacity_exceeded" if code == "CAPACITY_EXCEEDED" else "conflict" if code else "error"
            raise
        finally:
            BOOKING_REQUESTS.labels(outcome).inc()
            BOOKING_LATENCY.observe(time.perf_counter() - started)

    return observed
