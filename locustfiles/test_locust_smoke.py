"""The locustfiles cannot rot: short, bounded swarms against a live server must book tables.

Each scenario runs as its own process (Locust patches the standard library with gevent on import,
which must not happen inside pytest) against pytest-django's live server with the demo seeded.
Throttles are raised for the test, as ``make loadtest`` raises them for the stack it serves — except
for the hot slot, whose guests each come from their own address and meet a strict per-IP limit.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import include, path
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from bookings.demo import seed_demo, seed_stress
from bookings.integrity import check_integrity
from bookings.models import Booking, TableOccupancy
from locustfiles.common import DEMO_SLUG, REASONS, REFERENCE_GUEST, day_ahead, read_records

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The URLconf of the comparison test (pytest.mark.urls): ReserveX's own, plus the reference endpoint
# that reservex/urls.py mounts only when RESERVEX_LOADTEST_REFERENCE=1.
urlpatterns = [
    path("loadtest/reference/", include("locustfiles.reference")),
    path("", include("reservex.urls")),
]


@pytest.fixture
def demo_server(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Return the live server's URL with the demo restaurant seeded and the throttles out of the way."""
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon_ip": "1000000/min", "anon_restaurant": "1000000/min"}
    )
    seed_demo()
    yield str(live_server.url)


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_widget_swarm_books_tables_without_failures(demo_server: str, tmp_path: Path) -> None:
    done = _run(
        *("-m", "locust", "-f", "locustfiles/widget.py", "--headless", "-u", "3", "-r", "3"),
        *("--run-time", "5s", "--stop-timeout", "5", "--host", demo_server),
        *("--final-csv", str(tmp_path / "widget"), "--only-summary", "--loglevel", "WARNING"),
        *("--restaurants", DEMO_SLUG, "--days", "7-20", "--think", "0.1-0.3"),
        *("--records", str(tmp_path / "widget.jsonl")),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (tmp_path / "widget_stats.csv").open() as handle:
        stats = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(stats["Aggregated"]["Request Count"]) > 0
    assert int(stats["Aggregated"]["Failure Count"]) == 0
    assert int(stats["/api/v1/bookings"]["Request Count"]) > 0
    records = read_records(tmp_path / "widget.jsonl")
    assert any(r.final_status == "confirmed" and r.tables for r in records)
    assert all(r.five_xx == 0 for r in records)


def test_slot_fill_records_every_booking(demo_server: str, tmp_path: Path) -> None:
    prefix = tmp_path / "slotfill_c2"
    done = _run(
        *("-m", "locustfiles.slotfill", "--host", demo_server, "--restaurant", DEMO_SLUG),
        *("--date", day_ahead(8).isoformat(), "--first", "19:00", "--last", "19:45", "--per-slot", "1"),
        *("--concurrency", "2", "--post-job-timeout", "5", "--max-seconds", "60"),
        *("--out-prefix", str(prefix)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = read_records(Path(f"{prefix}_bookings.jsonl"))
    assert len(records) == 4  # one booking for each of 19:00, 19:15, 19:30, 19:45
    assert {r.reason for r in records} <= set(REASONS)
    confirmed = [r for r in records if r.reason == "confirmed"]
    assert confirmed
    assert all(r.inline_ms is not None and r.attempts and r.tables for r in confirmed)
    assert Path(f"{prefix}_stats.csv").exists() and Path(f"{prefix}.html").exists()


def test_hot_slot_burst_is_answered_without_overbooking(
    demo_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two requests a minute per address: one client address for all would be answered 429 at once.
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon_ip": "2/min", "anon_restaurant": "1000000/min"}
    )
    prefix = tmp_path / "hotslot"
    done = _run(
        *("-m", "locustfiles.hotslot", "--host", demo_server, "--restaurant", DEMO_SLUG),
        *("--date", day_ahead(9).isoformat(), "--time", "19:00", "--users", "20"),
        *("--post-job-timeout", "5", "--max-seconds", "60", "--out-prefix", str(prefix)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = read_records(Path(f"{prefix}_bookings.jsonl"))
    assert len(records) == 20
    assert len({r.source for r in records}) == 20 and all(r.source.startswith("127.2.0.") for r in records)
    assert all(r.first_status != 429 for r in records)  # each guest's POST is its address's first request
    assert {r.http_status for r in records} <= {201, 202, 409}
    assert sum(r.five_xx for r in records) == 0
    tables = [t for r in records if r.final_status == "confirmed" for t in r.tables]
    assert len(tables) == len(set(tables))
    report = check_integrity(now=timezone.now(), stale_after=timedelta(minutes=10))
    assert report.counts()["overlap"] == 0 and report.counts()["over_capacity"] == 0


@pytest.mark.urls("locustfiles.test_locust_smoke")
def test_reference_endpoint_writes_one_booking_and_an_occupancy_row_per_table() -> None:
    seed_demo()
    client = APIClient()
    body = {
        "restaurant": DEMO_SLUG,
        "date": day_ahead(9).isoformat(),
        "time": "19:00",
        "party_size": 4,
        "tables": ["D1", "D2"],
        "guest_name": REFERENCE_GUEST,
    }

    answer = client.post("/loadtest/reference/bookings", body, format="json")
    clash = client.post("/loadtest/reference/bookings", {**body, "tables": ["D2"]}, format="json")

    assert answer.status_code == 201, answer.content
    booking = Booking.objects.get()
    assert booking.reference == answer.json()["reference"] and booking.status == Booking.Status.CONFIRMED
    rows = list(TableOccupancy.objects.filter(booking=booking).select_related("table"))
    assert sorted(r.table.label for r in rows) == ["D1", "D2"]
    assert {(r.kind, r.during.lower, r.during.upper) for r in rows} == {
        (TableOccupancy.Kind.ASSIGNMENT, booking.starts_at, booking.ends_at)
    }
    assert clash.status_code == 409  # the exclusion constraint still guards the tables
    assert Booking.objects.count() == 1 and TableOccupancy.objects.count() == 2


@pytest.mark.urls("locustfiles.test_locust_smoke")
def test_comparison_books_on_both_endpoints_in_interleaved_rounds(demo_server: str, tmp_path: Path) -> None:
    seed_stress(1)
    prefix = tmp_path / "compare"
    done = _run(
        *("-m", "locustfiles.compare", "--host", demo_server, "--restaurants", "stress-001"),
        *("--users", "2", "--seconds", "1", "--rounds", "1", "--warmup", "0"),
        *("--out-prefix", str(prefix)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    meta = json.loads(Path(f"{prefix}_meta.json").read_text())
    assert [r["target"] for r in meta["rounds"]] == ["reference", "reservex"]
    for run in meta["rounds"]:
        assert run["bookings"] > 0 and set(run["statuses"]) == {"201"}, run
        assert run["p95_ms"] is not None
    assert Booking.objects.filter(guest_name=REFERENCE_GUEST).count() >= meta["rounds"][0]["bookings"]
    report = check_integrity(now=timezone.now(), stale_after=timedelta(minutes=10))
    assert report.counts()["overlap"] == 0
