"""Benchmark: a whole day's availability for one party size, on a busy 60-table restaurant.

Run through ``make bench`` (which starts the services): builds a fresh ``reservex_bench`` database,
seeds one 60-table stress restaurant, fills a dinner service to about 80 % of its covers through
the real admission service, then times ``GET /api/v1/restaurants/<slug>/availability`` (the whole
view in process; after the first call the day is answered from its cache, as a widget sees it) and
the service function alone (what a cache miss computes: one read, capacity and planner for every
slot). Appends a section to the given markdown file.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import django

BENCH_DB = "reservex_bench"


def use_bench_database(name: str = BENCH_DB) -> None:
    """Point DATABASE_URL at a fresh database ``name`` on the same server, then set Django up."""
    from reservex.devstack import recreate_database, with_database

    url = with_database(os.environ["DATABASE_URL"], name)
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reservex.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["RESERVEX_ENV"] = "staging"  # production-like flags (no capacity profiling)
    # A benchmark of the booking path, not of the throttle (every request comes from one client).
    os.environ["THROTTLE_RATE_IP"] = os.environ["THROTTLE_RATE_RESTAURANT"] = "1000000/min"
    django.setup()


def append_section(path: str, lines: list[str]) -> None:
    """Print a benchmark's section and append it to the markdown file at ``path``."""
    text = "\n".join(lines)
    print(text)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.availability")
    parser.add_argument("--out", default="docs/bench.md")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    use_bench_database()

    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from bookings.availability import availability_day
    from bookings.demo import seed_stress
    from bookings.errors import DomainError
    from bookings.models import Booking, Restaurant
    from bookings.services.admission import booking_admit

    call_command("migrate", verbosity=0)
    restaurant: Restaurant = seed_stress(1)[0]
    restaurant.booking_horizon_days = 365
    restaurant.timezone = "UTC"
    restaurant.save()
    day = (timezone.now() + timedelta(days=14)).date()
    rng = random.Random(7)  # noqa: S311 - a seeded, reproducible request mix
    dinner = [
        datetime.combine(day, clock_time(17, 0), tzinfo=UTC) + timedelta(minutes=15 * k) for k in range(19)
    ]
    seats = sum(restaurant.tables.values_list("max_party", flat=True))
    booked = refused = 0
    while booked < 0.8 * 240 and refused < 400:  # the dinner rule allows 240 covers at once
        try:
            booking_admit(
                restaurant=restaurant,
                party_size=rng.choice([1, 2, 2, 2, 3, 4, 4, 5, 6]),
                starts_at=rng.choice(dinner),
                guest_name="Bench",
            )
            booked = sum(
                Booking.objects.filter(restaurant=restaurant, status="confirmed").values_list(
                    "party_size", flat=True
                )
            )
        except DomainError:
            refused += 1
    bookings = Booking.objects.filter(restaurant=restaurant).count()

    client = Client()
    url = f"/api/v1/restaurants/{restaurant.slug}/availability?date={day.isoformat()}&party_size=2"
    first = client.get(url)
    assert first.status_code == 200, (first.status_code, first.content[:500])
    view_ms: list[float] = []
    service_ms: list[float] = []
    now = timezone.now()
    for _ in range(args.runs):
        started = time.perf_counter()
        response = client.get(url)
        view_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        started = time.perf_counter()
        slots = availability_day(restaurant, day, 2, now=now)
        service_ms.append((time.perf_counter() - started) * 1000)
    available = sum(1 for s in slots if s.available)

    lines = [
        "",
        "## Availability for a whole day",
        "",
        f"One 60-table restaurant ({seats} seats), dinner 17:00–21:30 booked to {booked} covers through the "
        f"admission service ({bookings} bookings, {refused} refused); party of 2; {len(slots)} slots, "
        f"{available} still available. {args.runs} runs each, in process (no HTTP, no gunicorn).",
        "",
        "| what | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in (
        ("GET …/availability (whole view, day cached)", view_ms),
        ("availability_day() alone (a cache miss)", service_ms),
    ):
        lines.append(
            f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} | "
            f"{percentile(values, 0.99):.2f} | {max(values):.2f} |"
        )
    lines += [
        "",
        f"Target (DESIGN §10): availability p95 ≤ 30 ms. Measured p95 of the whole view: "
        f"{percentile(view_ms, 0.95):.1f} ms — {'met' if percentile(view_ms, 0.95) <= 30 else 'missed'}. "
        "Reproduce: `make bench`.",
        "",
    ]
    append_section(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
