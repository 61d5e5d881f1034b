"""End-to-end booking latency with telemetry writes on and off, interleaved, in one run.

Books tables through Django's test client (middleware, view, services, database; no HTTP) on a
fresh ``reservex_bench`` database, alternating a booking with telemetry and one with the telemetry
writes replaced by no-ops (the event rows and the AllocationAttempt rows; metrics stay on).
Every booking goes to its own slot or day, so no lock is contended. Run through devstack::

    .venv/bin/python -m reservex.devstack exec .venv/bin/python -m locustfiles.telemetry_ab --rounds 200
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from bench.availability import percentile, use_bench_database


@contextmanager
def telemetry_off() -> Iterator[None]:
    """Replace the telemetry writes of the booking path with no-ops for the duration."""
    from bookings.services import create

    def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    saved = (create.store_admission_telemetry, create.record_event)
    create.store_admission_telemetry = nothing
    create.record_event = nothing  # type: ignore[assignment]
    try:
        yield
    finally:
        create.store_admission_telemetry, create.record_event = saved


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.telemetry_ab")
    parser.add_argument("--rounds", type=int, default=200, help="bookings per mode")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    use_bench_database("reservex_bench_telemetry")

    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from bookings.demo import seed_stress

    call_command("migrate", verbosity=0)
    restaurants = seed_stress(4)
    for restaurant in restaurants:
        restaurant.booking_horizon_days = 365
        restaurant.save()
    client = Client()
    first_day = (timezone.now() + timedelta(days=3)).date()
    slots = [f"{h:02d}:{m:02d}" for h in range(17, 22) for m in (0, 15, 30, 45) if (h, m) <= (21, 30)]
    timings: dict[str, list[float]] = {"on": [], "off": []}
    statuses: set[int] = set()
    for n in range(2 * args.rounds + 4):
        restaurant = restaurants[n % len(restaurants)]
        day = first_day + timedelta(days=n // (len(restaurants) * len(slots)))
        body = {
            "restaurant": restaurant.slug,
            "date": day.isoformat(),
            "time": slots[(n // len(restaurants)) % len(slots)],
            "party_size": 2,
            "guest_name": "Bench Guest",
        }
        mode = "off" if n % 2 else "on"
        with telemetry_off() if mode == "off" else _nothing():
            started = time.perf_counter()
            response = client.post(
                "/api/v1/bookings",
                body,
                content_type="application/json",
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            elapsed = (time.perf_counter() - started) * 1000
        statuses.add(response.status_code)
        if n >= 4:  # the first few warm up imports and connections
            timings[mode].append(elapsed)

    on, off = timings["on"], timings["off"]
    lines = [
        "",
        f"One run, {len(on)} bookings with telemetry and {len(off)} without, interleaved, each on its own "
        f"slot (no lock contention), in process through the whole view (statuses {sorted(statuses)}).",
        "",
        "| | median ms | p95 ms |",
        "|---|---:|---:|",
        f"| telemetry on | {statistics.median(on):.2f} | {percentile(on, 0.95):.2f} |",
        f"| telemetry writes off | {statistics.median(off):.2f} | {percentile(off, 0.95):.2f} |",
        "",
        f"Telemetry adds **{statistics.median(on) - statistics.median(off):.2f} ms** to the median booking "
        f"(ratio {statistics.median(on) / statistics.median(off):.2f}). It is written after the booking's "
        "transaction, in one commit of its own, so it never lengthens the admission lock.",
        "",
        "Reproduce: `.venv/bin/python -m reservex.devstack exec "
        ".venv/bin/python -m locustfiles.telemetry_ab`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(text)
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    raise SystemExit(main())
