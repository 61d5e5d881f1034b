"""Named timing spans: the stages of the booking path, declared in the code where they run.

``with span("admission.lock"):`` times a stage into ``reservex_stage_seconds{stage}`` and, inside
``collect_spans()``, into a per-request dict, so the load report and the in-process anatomy find
the stages by the names the code declares, not by matching function names a rename would break.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from observability.metrics import STAGE_SECONDS

# Every stage a span may name, outermost first (bounded labels; a test keeps the list and the code
# in step).
STAGES: dict[str, str] = {
    "booking.submit": "the booking request after validation (booking_submit)",
    "booking.cached_refusal": "is the slot known to be full? (the cached day, no lock)",
    "booking.transaction": "the booking's one transaction, commit included",
    "booking.claim": "claim the Idempotency-Key (INSERT … ON CONFLICT)",
    "admission.lock": "the restaurant-day lock, waits included (bookings and holds)",
    "admission.read": "one read under the lock (bookings and holds)",
    "admission.plan": "capacity rules and the planner",
    "admission.write": "the booking row and its tables",
    "booking.telemetry": "the attempt and events, in the same transaction",
    "booking.answer": "the stored answer, built from memory",
    "booking.alternatives": "the nearest bookable times of a refusal",
}

_collected: ContextVar[dict[str, float] | None] = ContextVar("reservex_spans", default=None)


@contextmanager
def span(stage: str) -> Iterator[None]:
    """Time the block as ``stage`` (one of STAGES)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; add it to observability.spans.STAGES")
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        STAGE_SECONDS.labels(stage).observe(elapsed)
        collected = _collected.get()
        if collected is not None:
            collected[stage] = collected.get(stage, 0.0) + elapsed


@contextmanager
def collect_spans() -> Iterator[dict[str, float]]:
    """Collect the seconds of every span run inside the block, by stage."""
    collected: dict[str, float] = {}
    token = _collected.set(collected)
    try:
        yield collected
    finally:
        _collected.reset(token)
