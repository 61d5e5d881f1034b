"""Shapes and helpers shared by the scenarios, the orchestrator and the report (no locust import)."""

from __future__ import annotations

import ipaddress
import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEMO_SLUG = "white-horse-waterbeach"
# Every seeded restaurant (demo and stress) runs on London time.
RESTAURANT_TZ = ZoneInfo("Europe/London")
BOOKINGS_PATH = "/api/v1/bookings"
# The reference endpoint (locustfiles/reference.py), mounted when RESERVEX_LOADTEST_REFERENCE=1, and
# the guest name its load marks its rows with (the harness deletes them after the comparison).
REFERENCE_PATH = "/loadtest/reference/bookings"
REFERENCE_GUEST = "Reference Endpoint Guest"

# Failure reasons of one slot-fill booking, in report order (the report's failure taxonomy).
REASONS = (
    "confirmed",
    "inline_timeout_background",
    "failed_background_timeout",
    "capacity_exceeded",
    "api_timeout",
    "error",
)

# Party sizes as a pub's widget sees them: mostly twos and fours, a few large tables.
PARTY_MIX: tuple[tuple[int, int], ...] = ((2, 45), (3, 10), (4, 28), (5, 5), (6, 8), (8, 4))


def local_today(now: datetime | None = None) -> date:
    """Return today's date where the seeded restaurants are."""
    return (now or datetime.now(RESTAURANT_TZ)).astimezone(RESTAURANT_TZ).date()


def day_ahead(days: int, now: datetime | None = None) -> date:
    return local_today(now) + timedelta(days=days)


def slot_grid(first: time, last: time, step_minutes: int = 15) -> list[time]:
    """Return the start times from ``first`` to ``last`` inclusive, every ``step_minutes``."""
    start = first.hour * 60 + first.minute
    end = last.hour * 60 + last.minute
    return [time(m // 60, m % 60) for m in range(start, end + 1, step_minutes)]


def pick_party(rng: random.Random) -> int:
    sizes, weights = zip(*PARTY_MIX, strict=True)
    return rng.choices(sizes, weights=weights, k=1)[0]


def booking_body(
    *, restaurant: str, local_date: date, local_time: time, party_size: int, hold_id: str | None = None
) -> dict[str, Any]:
    """Return a POST /api/v1/bookings body; the guest is fictional and the same for every request."""
    body: dict[str, Any] = {
        "restaurant": restaurant,
        "date": local_date.isoformat(),
        "time": local_time.strftime("%H:%M"),
        "party_size": party_size,
        "guest_name": "Load Test Guest",
        "guest_email": "load@example.org",
        "guest_phone": "+44 1223 555 0100",
    }
    if hold_id:
        body["hold_id"] = hold_id
    return body


def loopback_address(index: int, network: str = "127.2") -> str:
    """Return the ``index``-th client address in ``network`` (``127.N``), never a .0 or .255.

    Any 127.x.y.z is loopback on Linux: a simulated guest bound to its own address looks to the
    server like a guest of its own, so per-IP throttles count as they would in production.
    """
    third, fourth = divmod(index, 250)
    address = ipaddress.IPv4Address(f"{network}.{third}.{fourth + 1}")  # ValueError past 127.N.255.x
    if not address.is_loopback or str(address).count(".") != 3:
        raise ValueError(f"{address} is not a loopback address")
    return str(address)


def retry_after_seconds(value: str | None, default: float = 1.0, cap: float = 10.0) -> float:
    """Return the Retry-After header as seconds (delta form only; ReserveX never sends dates)."""
    try:
        seconds = float(value) if value else default
    except ValueError:
        seconds = default
    return max(0.0, min(seconds, cap))


@dataclass
class BookingRecord:
    """What one booking request of a scenario saw, from submit to its final state."""

    scenario: str
    level: int
    seq: int
    restaurant: str
    local_date: str
    local_time: str
    party_size: int
    key: str
    started_s: float = 0.0  # seconds since the scenario started (for throughput)
    answered_s: float | None = None  # seconds since the scenario started when the final answer came
    http_status: int = 0  # of the final submit (after retries of 429/503/IDEMPOTENCY_IN_PROGRESS)
    first_status: int = 0
    submit_retries: int = 0
    submit_ms: float = 0.0  # client round trip of the final submit
    inline_ms: float | None = None  # allocation.inline_ms (server: admission + inline allocation)
    attempts: int | None = None  # allocation.attempts
    background: bool = False  # allocation.background, or a 202
    post_job_ms: float | None = None  # 202 only: submit answer → poll shows a final state
    seat_waste: int | None = None
    tables: list[str] = field(default_factory=list)
    reference: str = ""
    final_status: str = ""  # booking status at the end (confirmed, pending, rejected) or ""
    error_code: str = ""  # the error envelope's code, for 4xx/5xx answers
    reason: str = "error"
    five_xx: int = 0  # 5xx answers seen for this booking, retries included
    throttled: int = 0  # 429 answers seen for this booking, retries included
    source: str = ""  # the client address the guest connected from, when the scenario binds one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(record: BookingRecord) -> str:
    """Return the record's failure reason from what the client saw (the report's failure taxonomy)."""
    if record.error_code == "api_timeout":
        return "api_timeout"
    if record.http_status == 201 and record.final_status == "confirmed":
        return "confirmed"
    if record.http_status == 202:
        if record.final_status == "confirmed":
            return "inline_timeout_background"
        return "failed_background_timeout"
    if record.http_status == 409 and record.error_code == "CAPACITY_EXCEEDED":
        return "capacity_exceeded"
    return "error"


def apply_booking_body(record: BookingRecord, body: Mapping[str, Any]) -> None:
    """Copy the fields of a 201/202 booking body into the record."""
    allocation = body.get("allocation") or {}
    record.reference = str(body.get("reference", ""))
    record.final_status = str(body.get("status", ""))
    record.inline_ms = allocation.get("inline_ms")
    record.attempts = allocation.get("attempts")
    record.background = bool(allocation.get("background")) or record.http_status == 202
    record.seat_waste = allocation.get("seat_waste")
    record.tables = list(body.get("tables") or [])


# --- statistics ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Return the percentile by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Iterable[float | int | None]) -> dict[str, float | int | None]:
    """Return count, mean, p50, p95, p99 and max of the values that are not None."""
    present = [float(v) for v in values if v is not None]
    return {
        "count": len(present),
        "avg": sum(present) / len(present) if present else None,
        "p50": percentile(present, 0.50),
        "p95": percentile(present, 0.95),
        "p99": percentile(present, 0.99),
        "max": max(present) if present else None,
    }


def write_records(path: Path, records: Iterable[BookingRecord]) -> None:
    """Write records as JSON lines (one booking a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps(record.as_dict(), sort_keys=True) + "\n")


def read_records(path: Path) -> list[BookingRecord]:
    if not path.exists():
        return []
    return [BookingRecord(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def two_offers_at_once(events: list[tuple[int, str]]) -> tuple[list[int], int]:
    """Return the entries offered again while an offer was open, and the offers counted.

    ``events`` are (entry id, event type) in commit order: an offer opens; its acceptance,
    decline or expiry closes it.
    """
    overlapping: list[int] = []
    open_offers: dict[int, bool] = {}
    offers = 0
    for entry_id, kind in events:
        if kind == "waitlist.offered":
            offers += 1
            if open_offers.get(entry_id):
                overlapping.append(entry_id)
            open_offers[entry_id] = True
        elif kind in ("waitlist.accepted", "waitlist.declined", "waitlist.expired"):
            open_offers[entry_id] = False
    return overlapping, offers
