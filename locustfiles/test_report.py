"""The report's arithmetic: classification, percentiles, histograms, py-spy stacks, the document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from locustfiles.anatomy import transactions_of
from locustfiles.common import (
    BookingRecord,
    classify,
    loopback_address,
    percentile,
    two_offers_at_once,
    write_records,
)
from locustfiles.report import build_report, compare_numbers, histogram, summarize_stacks
from locustfiles.run import keep_median_burst


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
            f"{view};booking_create (bookings/services/create.py:5);"
            "admit_in_transaction (bookings/services/admission.py:6);"
            "lock_service_days (bookings/locking.py:7);Connection.wait (psycopg/connection.py:8) 30",
            f"{view};booking_create (bookings/services/create.py:5);"
            "idempotency_claim (bookings/services/idempotency.py:9);"
            "Connection.wait (psycopg/connection.py:8) 10",
            f"{request};AvailabilityView.get (bookings/api/views.py:10) 60",
            "run (threading.py:1);ThreadWorker.run (gunicorn/workers/gthread.py:11);select (s.py:12) 500",
        ]
    )

    summary = summarize_stacks(raw)

    assert summary["samples_in_requests"] == 100  # idle gthread threads are not requests
    assert summary["booking_samples"] == 40
    stages = {s["stage"].strip(): s["share"] for s in summary["booking_stages"]}
    assert stages["lock_service_days (advisory lock, waits included)"] == pytest.approx(0.75)
    assert stages["idempotency_claim (INSERT … ON CONFLICT)"] == pytest.approx(0.25)
    assert stages["booking_create (the booking's one transaction)"] == pytest.approx(1.0)
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


def _round(target: str, number: int, per_s: float, p95: float, web: float, pg: float) -> dict[str, object]:
    return {
        "round": number,
        "target": target,
        "seconds": 10.0,
        "bookings": int(per_s * 10),
        "bookings_per_s": per_s,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "p99_ms": p95 * 1.2,
        "statuses": {"201": int(per_s * 10)},
        "cpu": {"web_ms_per_booking": web, "pg_ms_per_booking": pg},
    }


SYNTHETIC_COMPARE = {
    "users": 16,
    "seconds": 10,
    "rounds_each": 3,
    "cpu_measured": {"web": True, "pg": True},
    "rounds": [
        _round("reference", 1, 340.0, 80.0, 3.5, 1.1),
        _round("reservex", 1, 30.0, 800.0, 48.0, 16.0),
        _round("reservex", 2, 34.0, 840.0, 50.0, 15.0),
        _round("reference", 2, 340.0, 84.0, 3.4, 1.2),
        _round("reference", 3, 300.0, 90.0, 3.6, 1.0),
        _round("reservex", 3, 27.0, 900.0, 47.0, 17.0),
    ],
}


def test_the_comparison_pairs_rounds_and_takes_medians_and_spreads() -> None:
    versus = compare_numbers(SYNTHETIC_COMPARE)

    assert versus is not None
    assert versus["reference"]["bookings_per_s"] == {"median": 340.0, "min": 300.0, "max": 340.0, "n": 3}
    assert versus["reservex"]["p95_ms"]["median"] == 840.0
    assert versus["reservex"]["cpu_ms"]["median"] == pytest.approx(64.0)  # web + Postgres per round
    ratio = versus["ratio"]["bookings_per_s"]  # round by round: 30/340, 34/340, 27/300
    assert ratio["median"] == pytest.approx(0.09) and ratio["min"] == pytest.approx(30 / 340)
    assert ratio["max"] == pytest.approx(0.1)
    assert versus["ratio"]["p95_ms"]["median"] == pytest.approx(10.0)
    assert compare_numbers({"rounds": [_round("reservex", 1, 30.0, 800.0, 48.0, 16.0)]}) is None


def _write_burst_records(out: Path) -> None:
    """Ten guests of a burst, each from its own address: three booked, seven refused, after 2.5 s."""
    hot = [
        _record(scenario="hotslot", seq=i, http_status=201 if i < 3 else 409,
                final_status="confirmed" if i < 3 else "", error_code="" if i < 3 else "CAPACITY_EXCEEDED",
                submit_ms=900.0, answered_s=2.5, source=loopback_address(i),
                reason="confirmed" if i < 3 else "capacity_exceeded")
        for i in range(10)
    ]  # fmt: skip
    write_records(out / "hotslot_bookings.jsonl", hot)


def test_the_report_compares_reservex_with_the_reference_and_reports_the_burst(tmp_path: Path) -> None:
    _write_burst_records(tmp_path)
    summary = {
        "plan": {"widget_users": 16, "hot_users": 10, "compare_users": 16, "compare_rounds": 3},
        "machine": {"cpus": 2, "loadavg_before": [0.1, 0.1, 0.1]},
        "stack": {"started_here": True, "throttle": "1000000/min", "web_workers": 2, "web_threads": 4},
        "compare": SYNTHETIC_COMPARE,
        "hotslot": {
            "restaurant": "stress-004",
            "date": "2026-12-01",
            "jobs": 10,
            "wall_s": 4.0,
            "checks": {"statuses": {"201": 3, "409": 7}, "throttled": 0, "throttled_bookings": 0,
                       "distinct_sources": 10, "unanswered": 0, "last_answer_s": 2.5},
            "production_throttles": True,
            "throttle_rates": {"anon_ip": "300/min", "anon_restaurant": "6000/min"},
            "floor": {"wall_s": 0.9, "last_answer_s": 0.8},
        },
        "integrity_after": {"ok": True, "violations": {"overlap": 0, "over_capacity": 0}},
    }  # fmt: skip

    text = "\n".join(build_report(tmp_path, summary))

    section = text[text.index("## ReserveX vs the reference endpoint (same run)") :]
    bookings = "| bookings/s (201s in the window) | 340.0 (300.0–340.0) | 30.0 (27.0–34.0) |"
    assert f"{bookings} **9.0 % (8.8–10.0 %)** |" in section
    assert "| p95 ms | 84.0 (80.0–90.0) | 840.0 (800.0–900.0) | **×10.0** |" in section
    assert (
        "| CPU per booking: web + Postgres, ms | 4.60 | 64.00 (64.00–65.00) | ×13.9 (×13.9–14.1) |" in section
    )
    targets = text[text.index("## DESIGN §10 targets") : text.index("## Widget")]
    assert "30.0 vs 340.0/s: 9.0 % (8.8–10.0 %) | **missed** by 21.0 points" in targets
    assert "64.0 ms (reference 4.6 ms) | **missed** by 44.0 ms" in targets
    assert "the last after 2.5 s" in targets and "0 429," in targets  # the hot-slot row: met
    assert "| **met** |" in targets.split("hot slot, 10 concurrent")[1].split("\n")[0]
    assert "**The hot slot runs at the production throttle setting**" in text
    assert "anon_ip 300/min" in text and "**429 answers: 0**" in text and "(10 distinct, 127.N.x.y)" in text
    assert "**ReserveX 2.5 s; do-nothing server under the same client 0.8 s**" in text


def test_guests_get_distinct_loopback_addresses_without_0_or_255() -> None:
    addresses = [loopback_address(i) for i in range(1000)]

    assert len(set(addresses)) == 1000
    assert addresses[0] == "127.2.0.1" and addresses[249] == "127.2.0.250" and addresses[250] == "127.2.1.1"
    assert not any(a.endswith((".0", ".255")) for a in addresses)
    with pytest.raises(ValueError):
        loopback_address(1, "127.300")


OLD_LEVER_TEXTS = (
    "Claiming the key inside the admission transaction",
    "Fewer commits per booking",
    "Do not re-read what was just written",
    "caching the day's answer per (restaurant, date, party size)",
    "Cheaper refusals",
    "could be cached per process, keyed by a version",
    "Close it with levers 1–4 below",
    "the idempotency claim and completion (two more transactions)",
    "the extra transactions per booking",
)


def _widget_stats(path: Path, booking_p95: int, availability_p95: int) -> None:
    header = (
        "Type,Name,Request Count,Failure Count,Average Response Time,50%,95%,99%,Max Response Time,Requests/s"
    )
    path.write_text(
        f"{header}\nPOST,/api/v1/bookings,100,0,50,40,{booking_p95},{booking_p95},{booking_p95},10\n"
        f"GET,/api/v1/restaurants/[slug]/availability,100,0,20,15,{availability_p95},{availability_p95},"
        f"{availability_p95},10\n"
    )


def _anatomy() -> dict[str, object]:
    stages = {
        "Django handler: middleware + view": 25.0, "throttles (Redis, one round trip)": 1.5,
        "flags.get_all (Redis, once)": 1.0, "refuse_if_known_full (cached day)": 0.5,
        "    _insert_windows (occupancy rows)": 2.0, "  store_admission_telemetry": 2.5,
        "  _booking_answer (built from memory)": 3.0, "all SQL round trips (psycopg execute)": 8.0,
        "transaction commits (psycopg commit)": 1.0,
    }  # fmt: skip
    return {
        "bookings": 20, "median_ms": 17.0, "median_sql_ms": 8.0, "median_statements": 11.0,
        "median_commits": 1.0, "median_explicit_transactions": 1.0, "median_autocommit_writes": 0.0,
        "stages": [{"stage": k, "ms_per_booking": v} for k, v in stages.items()],
        "refusal": {"statuses": [409], "median_ms": 5.0, "stages": []},
    }  # fmt: skip


def test_the_levers_name_what_is_left_not_what_is_done(tmp_path: Path) -> None:
    _widget_stats(tmp_path / "widget_stats.csv", booking_p95=260, availability_p95=190)
    hot = [
        _record(scenario="hotslot", seq=i, http_status=201 if i < 2 else 409,
                final_status="confirmed" if i < 2 else "", error_code="" if i < 2 else "CAPACITY_EXCEEDED",
                submit_ms=4000.0, reason="confirmed" if i < 2 else "capacity_exceeded")
        for i in range(10)
    ]  # fmt: skip
    write_records(tmp_path / "hotslot_bookings.jsonl", hot)
    summary = {
        "plan": {"widget_users": 16, "hot_users": 10},
        "machine": {"cpus": 2, "loadavg_before": [0.1, 0.1, 0.1]},
        "stack": {"started_here": True, "web_workers": 2, "web_threads": 4},
        "compare": SYNTHETIC_COMPARE,
        "anatomy": _anatomy(),
        "hotslot": {"jobs": 10, "wall_s": 5.0, "production_throttles": True, "floor": {"last_answer_s": 0.5},
                    "checks": {"unanswered": 0, "last_answer_s": 5.0, "throttled": 0}},
        "integrity_after": {"ok": True, "violations": {"overlap": 0, "over_capacity": 0}},
    }  # fmt: skip

    text = "\n".join(build_report(tmp_path, summary))

    for old in OLD_LEVER_TEXTS:
        assert old not in text
    targets = text[text.index("## DESIGN §10 targets") : text.index("## Widget")]
    assert "a direct booking takes 17.0 ms: 11 SQL statements, 1 commit and one Redis round trip" in targets
    assert "most of the p95 is not the request's own work but sharing 2 cores" in targets
    assert "A cache hit is 1 statement" in targets and "A miss" in targets
    assert "8 of 10 answers were refusals" in targets and "no lock and no commit" in targets
    assert (
        "≈ 200 a second per core" in targets
        and "the same client against a do-nothing server needs 0.5 s" in targets
    )
    levers = text[text.index("## What would close the gaps") : text.index("## Artefacts")]
    assert "1. **More cores, more web nodes.**" in levers and "PgBouncer" in levers
    assert "2. **Less framework work per booking.**" in levers and "the other ≈ 16.0 ms are Python" in levers
    assert "Redis round trip instead of three" not in levers  # done: flags and days kept per process
    assert "3. **Fewer availability misses.**" in levers


def _quiet_run_summary() -> dict[str, object]:
    """A run's summary with only what every report needs: a quiet machine, a stack and the anatomy."""
    return {
        "plan": {"widget_users": 16},
        "machine": {"cpus": 2, "loadavg_before": [0.1, 0.1, 0.1]},
        "stack": {"started_here": True},
        "anatomy": _anatomy(),
    }


def test_no_lever_is_listed_when_every_target_is_met(tmp_path: Path) -> None:
    _widget_stats(tmp_path / "widget_stats.csv", booking_p95=60, availability_p95=20)
    summary = _quiet_run_summary()

    text = "\n".join(build_report(tmp_path, summary))

    levers = text[text.index("## What would close the gaps") : text.index("## Artefacts")]
    assert "nothing to close" in levers and "1. " not in levers
    assert "Headroom left." in text


def test_the_named_spans_are_read_from_the_metrics_delta() -> None:
    from locustfiles.report import span_stages

    metrics = {
        "reservex_stage_seconds_sum{stage=admission.lock}": 0.6,
        "reservex_stage_seconds_count{stage=admission.lock}": 20.0,
        "reservex_stage_seconds_sum{stage=booking.transaction}": 1.0,
        "reservex_stage_seconds_count{stage=booking.transaction}": 20.0,
        "reservex_booking_request_seconds_sum{}": 3.0,
    }

    rows = span_stages(metrics)

    assert [(r["stage"], r["count"], round(r["mean_ms"], 1)) for r in rows] == [
        ("booking.transaction", 20.0, 50.0),
        ("admission.lock", 20.0, 30.0),
    ]


def test_the_day_sources_are_said_from_the_metrics() -> None:
    from locustfiles.report import _day_sources

    metrics = {
        "reservex_availability_days_total{source=computed}": 30.0,
        "reservex_availability_days_total{source=memory}": 60.0,
        "reservex_availability_days_total{source=shared}": 10.0,
    }
    assert _day_sources(metrics) == (
        "Of 100 day answers (availability requests and cached refusals), 30 (30 %) were computed, "
        "60 came from the process's memory and 10 from the shared cache. "
    )
    assert "not counted" in _day_sources({})


def test_the_report_gives_the_waitlist_offer_latency_outcomes_and_checks(tmp_path: Path) -> None:
    waitlist = {
        "restaurant": "stress-008",
        "date": "2026-12-16",
        "window": "19:00-19:15",
        "waiters": 8,
        "poll_s": 0.2,
        "accept_ratio": 0.7,
        "cancellations": 19,
        "seconds": 20.1,
        "commit_to_offer_ms": {"count": 28, "avg": 58.7, "p50": 71.2, "p95": 90.2, "p99": 114.8,
                               "max": 123.3},
        "commit_to_accepted_ms": {"count": 19, "avg": 241.2, "p50": 251.1, "p95": 313.2, "p99": 334.3,
                                  "max": 339.5},
        "offers_sent": 28,
        "offer_events": 28,
        "accepted": 19,
        "declined": 9,
        "expired": 0,
        "open_at_end": 0,
        "waiting_at_end": 8,
        "entries_with_two_offers_at_once": [],
        "integrity": {"ok": True, "violations": {"overlap": 0, "over_capacity": 0}},
    }  # fmt: skip
    summary = {"plan": {}, "machine": {"cpus": 2}, "stack": {}, "waitlist": waitlist}

    text = "\n".join(build_report(tmp_path, summary))
    section = text[text.index("## Waitlist offers") : text.index("## Integrity")]

    assert "| freeing commit → offer ms | 28 | 58.7 | 71.2 | 90.2 | 114.8 | 123.3 |" in section
    assert "| freeing commit → accepted booking ms | 19 |" in section
    assert "Offers sent 28: accepted 19, declined 9, expired 0" in section
    assert "**Entries offered two tables at once: 0** (28 offer events" in section
    without = "\n".join(build_report(tmp_path, {"plan": {}, "machine": {}, "stack": {}}))
    assert "## Waitlist offers while tables free up\n\nNot run: not run." in without


def test_an_offer_made_while_the_entrys_last_one_is_open_is_caught() -> None:
    clean = [
        (1, "waitlist.offered"),
        (1, "waitlist.declined"),
        (1, "waitlist.offered"),
        (2, "waitlist.offered"),
    ]
    broken = [(1, "waitlist.offered"), (2, "waitlist.offered"), (1, "waitlist.offered")]

    assert two_offers_at_once(clean) == ([], 3)
    assert two_offers_at_once(broken) == ([1], 3)


def _burst(date: str, last: float, statuses: dict[str, int] | None = None) -> dict[str, object]:
    return {"date": date, "checks": {"last_answer_s": last, "statuses": statuses or {"201": 3, "409": 7},
                                     "throttled": 0, "tables_given_twice": []}}  # fmt: skip


def test_the_median_burst_is_kept_and_described_with_every_bursts_figures(tmp_path: Path) -> None:
    for n in (1, 2, 3):
        (tmp_path / f"hotslot_{n}_meta.json").write_text("{}")
        (tmp_path / f"hotslot_{n}_bookings.jsonl").write_text(f"burst {n}\n")
        (tmp_path / f"hotslot_{n}.html").write_text(f"burst {n}")
    bursts = [_burst("2026-12-13", 3.4), _burst("2026-12-17", 2.6, {"201": 3, "409": 6, "503": 1}),
              _burst("2026-12-18", 2.9)]  # fmt: skip

    kept = keep_median_burst(bursts, tmp_path)

    assert kept["date"] == "2026-12-18"  # 2.6, 2.9, 3.4: the middle one
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hotslot.html", "hotslot_bookings.jsonl", "hotslot_meta.json"
    ]  # fmt: skip
    assert (tmp_path / "hotslot_bookings.jsonl").read_text() == "burst 3\n"
    assert [b["server_errors"] for b in kept["bursts"]] == [0, 1, 0]
    assert [b["described"] for b in kept["bursts"]] == [False, False, True]


@pytest.mark.parametrize(("statuses", "verdict"), [({"201": 3, "409": 7}, "met"), ({"503": 1}, "missed")])
def test_the_hot_slot_verdict_holds_only_if_every_burst_was_clean(
    tmp_path: Path, statuses: dict[str, int], verdict: str
) -> None:
    _write_burst_records(tmp_path)
    bursts = [_burst("2026-12-13", 2.5), _burst("2026-12-17", 2.2, statuses), _burst("2026-12-18", 2.8)]
    described = keep_median_burst(bursts, tmp_path)
    described["checks"] = {**described["checks"], "unanswered": 0, "distinct_sources": 10}
    summary = {
        "plan": {"widget_users": 16, "hot_users": 10},
        "machine": {"cpus": 2, "loadavg_before": [0.1, 0.1, 0.1]},
        "stack": {"started_here": True},
        "hotslot": {**described, "restaurant": "stress-004", "jobs": 10, "wall_s": 4.0,
                    "production_throttles": True},
        "integrity_after": {"ok": True, "violations": {"overlap": 0, "over_capacity": 0}},
    }  # fmt: skip

    text = "\n".join(build_report(tmp_path, summary))

    row = text.split("hot slot, 10 concurrent")[1].split("\n")[0]
    assert "the last after 2.5 s (median of 3 bursts: 2.2, 2.5, 2.8 s)" in row
    assert f"| **{verdict}** |" in row
    assert "The burst was fired 3 times" in text and "2026-12-17: last answer after 2.2 s" in text


def test_a_kept_run_from_before_the_speed_work_is_set_beside_this_one(tmp_path: Path) -> None:
    _widget_stats(tmp_path / "widget_stats.csv", booking_p95=35, availability_p95=15)
    before = tmp_path / "before"
    before.mkdir()
    _widget_stats(before / "widget_stats.csv", booking_p95=110, availability_p95=60)
    old_anatomy = {**_anatomy(), "median_ms": 23.4, "median_statements": 31.0, "median_commits": 4.0}
    (before / "summary.json").write_text(
        json.dumps(
            {
                "started_at": "2026-12-03T09:03:30+00:00",
                "machine": {"commit": "0327d28", "loadavg_before": [0.5, 0.5, 0.5]},
                "hotslot": {"wall_s": 10.2},
                "anatomy": old_anatomy,
            }
        )
    )
    summary = _quiet_run_summary()

    text = "\n".join(build_report(tmp_path, summary))

    section = text[text.index("## Before the speed work, and now") : text.index("## Widget")]
    assert "commit `0327d28`" in section and "2026-12-03T09:03:30+00:00" in section
    assert "| widget swarm: POST booking p95, ms | 110 | 35 | ×3.1 |" in section
    assert "| widget swarm: availability p95, ms | 60 | 15 | ×4.0 |" in section
    assert "| hot slot: last of 1 000 answers, s | 10.2 | — | — |" in section  # no burst in this run
    assert "| SQL statements per booking | 31 | 11 | ×2.8 |" in section
    assert "| commits per booking | 4 | 1 | ×4.0 |" in section

    (before / "summary.json").unlink()
    assert "## Before the speed work" not in "\n".join(build_report(tmp_path, summary))
