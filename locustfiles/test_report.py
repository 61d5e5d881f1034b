"""The report's arithmetic: classification, percentiles, histograms, py-spy stacks, the document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from locustfiles.anatomy import transactions_of
from locustfiles.common import BookingRecord, classify, percentile, write_records
from locustfiles.report import build_report, histogram, summarize_stacks


def _record(**fields: object) -> BookingRecord:
    base: dict[str, object] = {
        "scenario": "slotfill",
        "level": 8,
        "seq": 0,
        "restaurant": "white-horse-waterbeach",
        "local_date": "2026-12-01",
        "local_time": "19:00",
        "party_size": 2,
        "key": "k",
    }
    return BookingRecord(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"http_status": 201, "final_status": "confirmed"}, "confirmed"),
        ({"http_status": 202, "final_status": "confirmed"}, "inline_timeout_background"),
        ({"http_status": 202, "final_status": "pending"}, "failed_background_timeout"),
        ({"http_status": 202, "final_status": "rejected"}, "failed_background_timeout"),
        ({"http_status": 409, "error_code": "CAPACITY_EXCEEDED"}, "capacity_exceeded"),
        ({"http_status": 0, "error_code": "api_timeout"}, "api_timeout"),
        ({"http_status": 503, "error_code": "BUSY_RETRY"}, "error"),
        ({"http_status": 409, "error_code": "SLOT_UNAVAILABLE"}, "error"),
    ],
)
def test_it_classifies_answers_into_the_failure_taxonomy(fields: dict[str, object], reason: str) -> None:
    assert classify(_record(**fields)) == reason


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([10, 20, 30, 40], 0.5) == 25
    assert percentile([5.0], 0.99) == 5.0
    assert percentile([], 0.5) is None


def test_histogram_quantiles_come_from_cumulative_buckets() -> None:
    name = "reservex_booking_request_seconds"
    metrics = {
        f"{name}_count{{}}": 100.0,
        f"{name}_sum{{}}": 5.0,
        f"{name}_bucket{{le=0.01}}": 10.0,
        f"{name}_bucket{{le=0.05}}": 90.0,
        f"{name}_bucket{{le=0.1}}": 100.0,
        f"{name}_bucket{{le=+Inf}}": 100.0,
    }

    result = histogram(metrics, name)

    assert result["avg_ms"] == pytest.approx(50.0)
    assert result["p50_ms"] == pytest.approx(30.0)  # halfway through the 10–50 ms bucket
    assert result["p95_ms"] == pytest.approx(75.0)


def test_it_counts_commits_of_explicit_transactions_and_autocommit_writes() -> None:
    statements = [
        "SELECT 1",
        "BEGIN",
        "INSERT INTO a VALUES (1)",
        "COMMIT",
        'INSERT INTO "observability_observabilityevent" VALUES (1)',
        "UPDATE b SET x = 1",
        "SELECT 2",
    ]

    assert transactions_of(statements) == {"explicit": 1, "autocommit_writes": 2, "commits": 3}


def test_it_attributes_py_spy_samples_to_booking_stages() -> None:
    request = "run (threading.py:1);ThreadWorker.handle_request (gunicorn/workers/gthread.py:2)"
    view = (
        f"{request};BookingCreateView.post (bookings/api/views.py:3);BookingCreateView._create (views.py:4)"
    )
    raw = "\n".join(
        [
            f"{view};booking_create (bookings/services.py:5);booking_admit (allocator/services.py:6);"
            "lock_service_days (allocator/locking.py:7);Connection.wait (psycopg/connection.py:8) 30",
            f"{view};idempotency_claim (bookings/services.py:9);Connection.wait (psycopg/connection.py:8) 10",
            f"{request};AvailabilityView.get (bookings/api/views.py:10) 60",
            "run (threading.py:1);ThreadWorker.run (gunicorn/workers/gthread.py:11);select (s.py:12) 500",
        ]
    )

    summary = summarize_stacks(raw)

    assert summary["samples_in_requests"] == 100  # idle gthread threads are not requests
    assert summary["booking_samples"] == 40
    stages = {s["stage"].strip(): s["share"] for s in summary["booking_stages"]}
    assert stages["lock_service_days (advisory lock, waits included)"] == pytest.approx(0.75)
    assert stages["idempotency_claim (own transaction)"] == pytest.approx(0.25)
    assert summary["booking_leaves"][0]["frame"].startswith("Connection.wait")


def test_the_report_states_targets_throttling_and_the_slowest_stage(tmp_path: Path) -> None:
    levels = []
    for level, inline in ((1, 20.0), (8, 160.0)):
        records = [
            _record(level=level, seq=i, http_status=201, final_status="confirmed", submit_ms=inline + 30,
                    inline_ms=inline, attempts=1, seat_waste=0, tables=[f"T{i}"], reason="confirmed")
            for i in range(10)
        ]  # fmt: skip
        write_records(tmp_path / f"slotfill_c{level}_bookings.jsonl", records)
        levels.append({"level": level, "jobs": 10, "wall_s": 2.0, "restaurant": "x", "date": "2026-12-01"})
    summary = {
        "plan": {"widget_users": 16, "hot_users": 1000, "per_slot": 8},
        "machine": {"cpus": 2, "loadavg_before": [0.1, 0.1, 0.1]},
        "stack": {"started_here": True, "throttle": "1000000/min"},
        "slotfill": levels,
        "integrity_before": {"ok": True, "violations": {"overlap": 0}},
        "integrity_after": {"ok": True, "violations": {"overlap": 0}},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))

    text = "\n".join(build_report(tmp_path, summary))

    assert "## DESIGN §10 targets" in text
    assert "1000000/min" in text and "not of the throttle" in text
    assert "≥ 99.5 % confirmed inline" in text and "100.00 % of 10 admitted (c=8)" in text
    assert "Slowest stage at concurrency 8: allocation inside `booking_create`" in text
    assert "≈ 20.0 ms of work per booking done while holding the restaurant-day lock" in text
