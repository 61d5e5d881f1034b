"""Deterministic, realistic telemetry for the dashboard, demos and query benchmarks.

The rows follow what ReserveX's booking path writes: per booking a ``booking.created`` event, one
or more inline allocation attempts (a few lose races and retry), sometimes a fallback to the
background job with its own attempts, rarely retry exhaustion and rejection. Bookings arrive with
the day's rhythm (morning browsing, lunch, the evening peak) and weekends are busier. Some days
have a one-hour incident (lock contention: conflicts, slow attempts, errors) so charts show what
trouble looks like.

Each (seed, restaurant, day) has its own random stream, so a day's rows are the same whether one
day or a year is generated. Seeded bookings have ids from SEED_BOOKING_BASE upwards: they never
collide with real bookings and can be replaced without touching real telemetry.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from observability.sanitizer import sanitize_context

SEED_BOOKING_BASE = 10**15

ATTEMPT_COLUMNS = (
    "restaurant_id",
    "booking_id",
    "mode",
    "attempt",
    "outcome",
    "planner_ms",
    "total_ms",
    "tables",
    "seat_waste",
    "failure_reason",
    "created_at",
)
EVENT_COLUMNS = ("type", "restaurant_id", "booking_id", "context", "duration_ms", "created_at")

# Mon..Sun bookings per day at scale 1 (a busy pub), and the share of each local hour.
DAILY_BOOKINGS = (110, 120, 130, 150, 210, 240, 170)
HOUR_WEIGHTS = (
    0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2.2, 2.5, 2.6,
    2.8, 2.4, 2.0, 1.8, 2.2, 3.0, 3.4, 3.0, 2.4, 1.6, 0.9, 0.5,
)  # fmt: skip
PARTY_TABLES = {
    2: ("B1", "B2", "B3", "D1", "D2", "G1"),
    4: ("B7", "D5", "D6", "D7", "G3"),
    6: ("D11", "D12", "G5"),
    8: ("D13", "G6"),
}
SKIP_REASONS = (("no_table_fits_party", 7), ("no_usable_tables", 3))
MAX_INLINE_ATTEMPTS = 3
MAX_BACKGROUND_ATTEMPTS = 5


@dataclass(frozen=True)
class Profile:
    """How likely each attempt outcome is, and how slow attempts are, in one hour."""

    conflict: float = 0.02
    skipped: float = 0.012
    error: float = 0.002
    slowdown: float = 1.0
    error_reason: str = "db_error"


NORMAL = Profile()
INCIDENT = Profile(conflict=0.35, skipped=0.03, error=0.08, slowdown=7.0, error_reason="lock_timeout")


@dataclass
class Rows:
    attempts: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([value for value, _ in pairs], weights=[weight for _, weight in pairs])[0]


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return round(rng.lognormvariate(math.log(median), sigma), 3)


class _Day:
    """Generates one restaurant's telemetry for one local day."""

    def __init__(self, seed: int, restaurant_id: int, day: date, zone: ZoneInfo, scale: float) -> None:
        # Reproducible sample data, not security: a seeded PRNG is the point.
        self.rng = random.Random(f"{seed}:{restaurant_id}:{day.isoformat()}")  # noqa: S311
        self.restaurant_id, self.day, self.zone, self.scale = restaurant_id, day, zone, scale
        self.rows = Rows(attempts=[], events=[])
        # About one day in twelve has a bad evening hour: a burst of bookings (a promotion, a
        # big party's friends) meets lock contention.
        self.incident_hour = self.rng.choice((18, 19, 20)) if self.rng.random() < 0.08 else None

    def event(
        self, kind: str, booking_id: int, at: datetime, duration_ms: float | None, **context: Any
    ) -> None:
        clean = json.dumps(sanitize_context(context))
        self.rows.events.append((kind, self.restaurant_id, booking_id, clean, duration_ms, at))

    def attempt(
        self, booking_id: int, mode: str, number: int, at: datetime, party: int, profile: Profile
    ) -> str:
        rng = self.rng
        roll = rng.random()
        planner_ms: float | None = _lognormal(rng, 0.35, 0.7)
        tables: list[str] = []
        seat_waste: int | None = None
        reason = ""
        base = 14.0 if mode == "inline" else 35.0
        if roll < profile.error:
            outcome, reason, planner_ms = "error", profile.error_reason, None
            total_ms = _lognormal(rng, base * 3 * profile.slowdown, 0.6)
        elif roll < profile.error + profile.conflict:
            outcome, reason = "conflict", "conflict"
            total_ms = _lognormal(rng, base * 1.8 * profile.slowdown, 0.6)
        elif roll < profile.error + profile.conflict + profile.skipped or (
            mode == "background" and rng.random() < 0.2
        ):
            outcome, reason = "skipped", _weighted(rng, SKIP_REASONS)
            total_ms = _lognormal(rng, base * profile.slowdown, 0.5)
        else:
            outcome = "assigned"
            # Usually the smallest table that fits; when those are taken, the next size up.
            sizes = sorted(size for size in PARTY_TABLES if size >= party)
            size = sizes[1] if len(sizes) > 1 and rng.random() < 0.25 else sizes[0]
            tables = [rng.choice(PARTY_TABLES[size])]
            seat_waste = size - party
            total_ms = _lognormal(rng, base * profile.slowdown, 0.5)
        self.rows.attempts.append(
            (
                self.restaurant_id,
                booking_id,
                mode,
                number,
                outcome,
                planner_ms,
                total_ms,
                json.dumps(tables),
                seat_waste,
                reason,
                at,
            )
        )
        self.event(
            f"allocation.{outcome}",
            booking_id,
            at,
            total_ms,
            mode=mode,
            attempt=number,
            tables=tables,
            seat_waste=seat_waste,
            failure_reason=reason,
            planner_ms=planner_ms,
        )
        return outcome

    def booking(self, number: int, created: datetime) -> None:
        rng = self.rng
        booking_id = SEED_BOOKING_BASE + self.restaurant_id * 10**10 + self.day.toordinal() * 10**4 + number
        party = _weighted(rng, ((2, 50), (3, 12), (4, 23), (5, 5), (6, 5), (7, 3), (8, 2)))
        local_hour = created.astimezone(self.zone).hour
        profile = INCIDENT if local_hour == self.incident_hour else NORMAL
        self.event("booking.created", booking_id, created, None, party_size=party, source="widget")
        at = created + timedelta(milliseconds=rng.uniform(3, 8))
        fallback = "budget_spent"
        for attempt in range(1, MAX_INLINE_ATTEMPTS + 1):
            outcome = self.attempt(booking_id, "inline", attempt, at, party, profile)
            if outcome == "assigned":
                self.event("booking.confirmed", booking_id, at, None, mode="inline", attempts=attempt)
                return
            if outcome != "conflict":
                fallback = "no_plan_now" if outcome == "skipped" else "error"
                break
            at += timedelta(milliseconds=rng.uniform(5, 40))
        self.event("allocation.fallback", booking_id, at, None, reason=fallback)
        at += timedelta(seconds=rng.uniform(1, 20))
        for attempt in range(1, MAX_BACKGROUND_ATTEMPTS + 1):
            outcome = self.attempt(booking_id, "background", attempt, at, party, profile)
            if outcome == "assigned":
                self.event("booking.confirmed", booking_id, at, None, mode="background", attempts=attempt)
                return
            at += timedelta(seconds=2**attempt + rng.uniform(0, 2))
        self.event("allocation.retry_exhausted", booking_id, at, None, attempts=MAX_BACKGROUND_ATTEMPTS)
        self.event("booking.rejected", booking_id, at, None, reason="retries_exhausted")

    def generate(self) -> Rows:
        rng = self.rng
        expected = DAILY_BOOKINGS[self.day.weekday()] * self.scale * rng.uniform(0.85, 1.15)
        count = max(0, round(expected))
        hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
        if self.incident_hour is not None:
            hours += [self.incident_hour] * round(count * 0.12)
        start = datetime.combine(self.day, datetime.min.time(), tzinfo=self.zone)
        moments = sorted(
            (start + timedelta(hours=hour, seconds=rng.uniform(0, 3600))).astimezone(ZoneInfo("UTC"))
            for hour in hours
        )
        for number, created in enumerate(moments):
            self.booking(number, created)
        return self.rows


def generate_day(*, seed: int, restaurant_id: int, day: date, zone: ZoneInfo, scale: float = 1.0) -> Rows:
    """Return one restaurant's telemetry rows for one local day (COPY-ready tuples)."""
    return _Day(seed, restaurant_id, day, zone, scale).generate()


def days_ending(until: date, days: int) -> Iterator[date]:
    """Yield the ``days`` dates ending with ``until``, oldest first."""
    for offset in range(days - 1, -1, -1):
        yield until - timedelta(days=offset)
