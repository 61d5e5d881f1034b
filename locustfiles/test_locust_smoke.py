"""The locustfiles cannot rot: short, bounded swarms against a live server must book tables.

Each scenario runs as its own process (Locust patches the standard library with gevent on import,
which must not happen inside pytest) against pytest-django's live server with the demo seeded.
Throttles are raised for the test, as ``make loadtest`` raises them for the stack it serves.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from allocator.integrity import check_integrity
from bookings.demo import seed_demo
from locustfiles.common import DEMO_SLUG, REASONS, day_ahead, read_records

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


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


def test_hot_slot_burst_is_answered_without_overbooking(demo_server: str, tmp_path: Path) -> None:
    prefix = tmp_path / "hotslot"
    done = _run(
        *("-m", "locustfiles.hotslot", "--host", demo_server, "--restaurant", DEMO_SLUG),
        *("--date", day_ahead(9).isoformat(), "--time", "19:00", "--users", "20"),
        *("--post-job-timeout", "5", "--max-seconds", "60", "--out-prefix", str(prefix)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = read_records(Path(f"{prefix}_bookings.jsonl"))
    assert len(records) == 20
    assert {r.http_status for r in records} <= {201, 202, 409}
    assert sum(r.five_xx for r in records) == 0
    tables = [t for r in records if r.final_status == "confirmed" for t in r.tables]
    assert len(tables) == len(set(tables))
    report = check_integrity(now=timezone.now(), stale_after=timedelta(minutes=10))
    assert report.counts()["overlap"] == 0 and report.counts()["over_capacity"] == 0
