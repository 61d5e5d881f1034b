"""Build docs/load/REPORT.md from a load-test run's artefacts (no locust import, no Django).

Input: ``summary.json`` written by ``locustfiles/run.py`` and the per-booking JSON lines and Locust
CSVs beside it. ``python -m locustfiles.report docs/load`` rebuilds the report from them.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from locustfiles.common import REASONS, BookingRecord, read_records, summarize

TARGET_BOOKING_P95_MS = 100.0
TARGET_AVAILABILITY_P95_MS = 30.0
TARGET_INLINE_SHARE = 0.995
TARGET_REFERENCE_SHARE = 0.30  # bookings/s as a share of the reference endpoint's (then 0.50)
TARGET_CPU_PER_BOOKING_MS = 20.0  # web + Postgres (then 10)
TARGET_HOT_SLOT_S = 3.0

# py-spy frames that mark an endpoint, and the stages of the booking path (function names).
ENDPOINTS = (
    ("POST /api/v1/bookings", "BookingCreateView._create"),
    ("POST …/holds", "HoldCreateView.post"),
    ("GET …/availability", "AvailabilityView.get"),
    ("GET /api/v1/bookings/{ref}", "BookingDetailView.get"),
)
# Public names only (services and views): a private helper may be renamed without notice, and a
# stage that matches nothing would silently read 0 %.
BOOKING_STAGES = (
    ("throttles (Redis, one round trip)", ("check_throttles",)),
    ("restaurant id + versions (one statement)", ("restaurant_versions",)),
    ("refuse_if_known_full (cached day, no lock)", ("refuse_if_known_full",)),
    ("booking_create (the booking's one transaction)", ("booking_create",)),
    ("  idempotency_claim (INSERT … ON CONFLICT)", ("idempotency_claim",)),
    ("  admit_in_transaction (lock, read, plan, write)", ("admit_in_transaction",)),
    ("    lock_service_days (advisory lock, waits included)", ("lock_service_days",)),
    ("    read_day_state (one read under the lock)", ("read_day_state",)),
    ("      plan_tables (the pure planner)", ("plan_tables",)),
    ("  store_admission_telemetry (attempt + events)", ("store_admission_telemetry",)),
    ("  booking_allocate (inline retries after a lost race)", ("booking_allocate",)),
    ("  booking_public + serialise (from memory)", ("booking_public", "BookingOut")),
    ("  idempotency_complete", ("idempotency_complete",)),
    ("any psycopg frame (SQL round trips, commits, waits)", ("psycopg/",)),
    ("  commit()", ("Connection.commit", "BaseConnection._commit_gen")),
    (
        "Django ORM SQL compilation",
        ("SQLCompiler.as_sql", "SQLInsertCompiler.as_sql", "SQLUpdateCompiler.as_sql"),
    ),
)


# --- small formatting helpers --------------------------------------------------------------------


def fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or (float(value).is_integer() and digits == 0):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def pct(part: float, whole: float, digits: int = 1) -> str:
    return f"{100 * part / whole:.{digits}f} %" if whole else "—"


def table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def stat_row(label: str, values: Iterable[float | int | None], digits: int = 1) -> list[str]:
    s = summarize(values)
    return [label, fmt(s["count"], 0), *(fmt(s[k], digits) for k in ("avg", "p50", "p95", "p99", "max"))]


STAT_HEADER = ["", "count", "avg", "p50", "p95", "p99", "max"]


# --- metrics -------------------------------------------------------------------------------------


def histogram(metrics: dict[str, float], name: str) -> dict[str, Any]:
    """Return count, mean and bucket-interpolated p50/p95/p99 (seconds → ms) of a metrics delta."""
    count = metrics.get(f"{name}_count{{}}", 0.0)
    total = metrics.get(f"{name}_sum{{}}", 0.0)
    buckets = sorted(
        (float(key.split("le=")[1].rstrip("}")), value)
        for key, value in metrics.items()
        if key.startswith(f"{name}_bucket{{le=")
    )
    result: dict[str, Any] = {"count": count, "avg_ms": 1000 * total / count if count else None}
    for label, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        result[label] = _bucket_quantile(buckets, count, q)
    return result


def _bucket_quantile(buckets: list[tuple[float, float]], count: float, q: float) -> float | None:
    if not count or not buckets:
        return None
    rank, previous_le, previous_count = q * count, 0.0, 0.0
    for le, cumulative in buckets:
        if cumulative >= rank:
            if le == float("inf"):
                return previous_le * 1000
            share = (
                (rank - previous_count) / (cumulative - previous_count) if cumulative > previous_count else 1
            )
            return 1000 * (previous_le + (le - previous_le) * share)
        previous_le, previous_count = le, cumulative
    return None


def counter(metrics: dict[str, float], name: str) -> dict[str, float]:
    return {key[len(name) :]: value for key, value in metrics.items() if key.startswith(f"{name}{{")}


def _day_sources(metrics: dict[str, float]) -> str:
    """Say where the swarm's day answers came from (reservex_availability_days_total{source})."""
    # counter() keys look like "{source=memory}" (run.scrape writes labels without quotes).
    counts = {
        key.strip("{}").split("=")[-1]: value
        for key, value in counter(metrics, "reservex_availability_days_total").items()
    }
    total = sum(counts.values())
    if not total:
        return "Hits and misses were not counted (no reservex_availability_days_total in this run). "
    computed = counts.get("computed", 0.0)
    return (
        f"Of {total:.0f} day answers (availability requests and cached refusals), {computed:.0f} "
        f"({computed / total * 100:.0f} %) were computed, {counts.get('memory', 0.0):.0f} came from the "
        f"process's memory and {counts.get('shared', 0.0):.0f} from the shared cache. "
    )


def span_stages(metrics: dict[str, float]) -> list[dict[str, Any]]:
    """Return the named spans (reservex_stage_seconds{stage}) of a metrics delta: count and mean ms."""
    rows = []
    for key, total in metrics.items():
        if key.startswith("reservex_stage_seconds_sum{stage="):
            stage = key[len("reservex_stage_seconds_sum{stage=") : -1]
            count = metrics.get(f"reservex_stage_seconds_count{{stage={stage}}}", 0.0)
            if count:
                rows.append({"stage": stage, "count": count, "mean_ms": 1000 * total / count})
    return sorted(rows, key=lambda row: -row["mean_ms"])


def _span_section(rows: list[dict[str, Any]], level: Any) -> list[str]:
    """Return the server's own account of where a booking's time went, from the declared spans."""
    if not rows:
        return []
    return [
        f"The server's named stages during slot-fill at concurrency {level} (`observability/spans.py`, "
        "`reservex_stage_seconds` from /metrics; nested stages are included in their parents, waits "
        "for the lock in `admission.lock`):",
        "",
        *table(
            ["stage", "times", "mean ms"],
            [[row["stage"], fmt(row["count"], 0), fmt(row["mean_ms"], 2)] for row in rows],
        ),
        "",
    ]


# --- py-spy --------------------------------------------------------------------------------------


def summarize_stacks(raw: str) -> dict[str, Any]:
    """Summarise py-spy raw (collapsed) stacks of a web worker: endpoints and booking-path stages.

    Wall-clock samples (``--idle``): a thread waiting for Postgres or for a lock counts where it
    waits. Only stacks inside a request are kept; idle gthread threads are left out.
    """
    stacks: list[tuple[list[str], int]] = []
    for line in raw.splitlines():
        joined, _, count = line.rpartition(" ")
        if joined and count.isdigit() and "handle_request" in joined:
            stacks.append((joined.split(";"), int(count)))
    in_requests = sum(n for _, n in stacks)
    endpoints = {
        label: sum(n for frames, n in stacks if any(marker in f for f in frames))
        for label, marker in ENDPOINTS
    }
    booking = [(frames, n) for frames, n in stacks if any("BookingCreateView._create" in f for f in frames)]
    booking_total = sum(n for _, n in booking)
    stages = []
    for label, markers in BOOKING_STAGES:
        hits = sum(n for frames, n in booking if any(m in f for f in frames for m in markers))
        stages.append(
            {"stage": label, "samples": hits, "share": hits / booking_total if booking_total else 0}
        )
    leaves: Counter[str] = Counter()
    for frames, n in booking:
        leaves[frames[-1]] += n
    return {
        "samples_in_requests": in_requests,
        "endpoints": {
            k: {"samples": v, "share": v / in_requests if in_requests else 0} for k, v in endpoints.items()
        },
        "booking_samples": booking_total,
        "booking_stages": stages,
        "booking_leaves": [
            {"frame": frame, "share": n / booking_total if booking_total else 0}
            for frame, n in leaves.most_common(8)
        ],
    }


# --- the sections --------------------------------------------------------------------------------


def locust_stats(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    with path.open() as handle:
        return {f"{row['Type']} {row['Name']}".strip(): row for row in csv.DictReader(handle)}


def level_numbers(records: list[BookingRecord], meta: dict[str, Any]) -> dict[str, Any]:
    """Return the figures of one slot-fill level (or the burst) from its records."""
    admitted = [r for r in records if r.http_status in (201, 202)]
    inline = [r for r in records if r.http_status == 201 and r.final_status == "confirmed"]
    confirmed = [r for r in records if r.final_status == "confirmed"]
    reasons = Counter(r.reason for r in records)
    wall = float(meta.get("wall_s") or 0)
    return {
        "asked": meta.get("jobs", len(records)),
        "answered": sum(1 for r in records if r.http_status),
        "admitted": len(admitted),
        "inline": len(inline),
        "inline_share": len(inline) / len(admitted) if admitted else None,
        "background": sum(1 for r in records if r.background),
        "five_xx": sum(r.five_xx for r in records),
        "reasons": {reason: reasons.get(reason, 0) for reason in REASONS},
        "wall_s": wall,
        "admitted_per_s": len(admitted) / wall if wall else None,
        "answered_per_s": len(records) / wall if wall else None,
        "submit_all": summarize(r.submit_ms for r in records if r.http_status),
        "submit_admitted": summarize(r.submit_ms for r in admitted),
        "inline_ms": summarize(r.inline_ms for r in admitted),
        "seat_waste_total": sum(r.seat_waste or 0 for r in confirmed),
        "seat_waste": summarize(r.seat_waste for r in confirmed),
        "seats_confirmed": sum(r.party_size for r in confirmed),
    }


def _verdict(measured: float | None, target: float, lower_is_better: bool = True) -> str:
    if measured is None:
        return "not measured"
    if lower_is_better:
        if measured <= target:
            return f"**met** ({fmt(target - measured)} ms to spare)"
        return f"**missed** by {fmt(measured - target)} ms (×{measured / target:.1f})"
    if measured >= target:
        return "**met**"
    return f"**missed** by {100 * (target - measured):.2f} points"


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    """Write REPORT.md into ``out`` and return its path."""
    lines = build_report(out, summary)
    path = out / "REPORT.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def build_report(out: Path, summary: dict[str, Any]) -> list[str]:
    plan = summary.get("plan", {})
    machine = summary.get("machine", {})
    stack = summary.get("stack", {})
    cpus = machine.get("cpus") or 2
    busy = (machine.get("loadavg_before") or [0])[0] > 0.5 * cpus
    widget = locust_stats(out / "widget_stats.csv")
    widget_records = read_records(out / "widget_bookings.jsonl")
    levels = []
    for meta in summary.get("slotfill", []):
        records = read_records(out / f"slotfill_c{meta.get('level')}_bookings.jsonl")
        levels.append((meta, records, level_numbers(records, meta)))
    hot_meta = summary.get("hotslot", {})
    hot_records = read_records(out / "hotslot_bookings.jsonl")
    hot = level_numbers(hot_records, hot_meta) if hot_records else None
    anatomy = summary.get("anatomy", {})
    profile = summary.get("profile", {})

    lines = ["# ReserveX load test report", ""]
    lines.append(
        f"Generated by `make loadtest` (`locustfiles/run.py`) at {summary.get('started_at')} in "
        f"{fmt(summary.get('duration_s'), 0)} s, commit `{machine.get('commit')}`"
        + (" with uncommitted changes in the tree" if machine.get("dirty_tree") else "")
        + "."
    )
    lines.append("")
    if summary.get("aborted"):
        lines += [f"> **Aborted:** {summary['aborted']}. Sections below cover what ran before.", ""]
    if plan.get("quick"):
        lines += [
            "> **Quick run** (`--quick`): shrunk sizes to check the harness. Do not read the numbers.",
            "",
        ]
    lines.append(
        f"> Machine: {cpus} CPUs; load average {machine.get('loadavg_before')} before, "
        f"{machine.get('loadavg_after')} after. The load generator (Locust), gunicorn, Celery, "
        "PostgreSQL and Redis all share these cores."
        + (
            " **The machine was busy with other work when this ran: absolute numbers are noisy.**"
            if busy
            else ""
        )
    )
    lines.append("")

    # --- how it was run
    lines += ["## How it was run", ""]
    lines.append(
        f"- Stack at {stack.get('url')}: gunicorn gthread {stack.get('web_workers', '?')} workers × "
        f"{stack.get('web_threads', '?')} threads, Celery worker concurrency "
        f"{stack.get('celery_concurrency', '?')}, RESERVEX_ENV={stack.get('env', '?')}, DEBUG off, "
        f"access log off, on {stack.get('database')} and {stack.get('redis', 'Redis')}; only 127.0.0.1."
        if stack.get("started_here")
        else f"- Stack: the one already running at {stack.get('url')} (LOADTEST_URL); not started here, so "
        "its sizing and settings are whatever it was started with."
    )
    lines.append(
        "- **Throttling raised on purpose** for the widget swarm, slot-fill and the reference comparison: "
        f"THROTTLE_RATE_IP and THROTTLE_RATE_RESTAURANT = {stack.get('throttle', '1000000/min')}. This is "
        "a load test of booking, not of the throttle: at the production defaults (300/min per IP) nearly "
        "all of this traffic, which comes from one IP, would be answered 429. The throttle check itself "
        "still runs on every request. " + _hot_throttle_note(summary.get("hotslot") or {})
    )
    lines.append(
        "- Data: a fresh database, `seed_demo --stress 8` (the White Horse Pub: 27 tables; stress-001 … "
        "stress-008: 60 tables each). Each scenario books its own restaurant and day:"
    )
    lines.append("")
    lines += table(
        ["scenario", "restaurant", "day", "what"],
        [
            [
                "widget swarm",
                plan.get("widget_restaurants", ""),
                "14–40 days ahead",
                f"{plan.get('widget_users')} users × {plan.get('widget_seconds')} s, think time "
                f"{plan.get('widget_think')} s: availability → hold → book with hold_id + Idempotency-Key → "
                "poll (Retry-After)",
            ],
            *(
                [
                    f"slot-fill c={m.get('level')}",
                    str(m.get("restaurant")),
                    str(m.get("date")),
                    f"{plan.get('per_slot')} bookings a slot, "
                    f"{plan.get('slot_first')}–{plan.get('slot_last')} "
                    f"({m.get('jobs')} requests, same seeded stream each level), POST without a hold",
                ]
                for m, _, _ in levels
            ),
            [
                "ReserveX vs reference",
                str(plan.get("compare_restaurants", "stress-001,stress-002,stress-003")),
                "2–89 days ahead (reference: 200+)",
                f"{plan.get('compare_users', 16)} users, no think time, each on its own restaurant-day; "
                f"{plan.get('compare_rounds', 3)} rounds of {plan.get('compare_seconds', 10)} s on each "
                "endpoint, interleaved, after a warm-up round of each",
            ],
            [
                "hot slot",
                str(hot_meta.get("restaurant", plan.get("hot_restaurant"))),
                f"{hot_meta.get('date', '?')} {plan.get('hot_time')}",
                f"{plan.get('hot_users')} users released at once, one booking each, distinct keys, each "
                "from its own loopback address (127.N.x.y)"
                + (
                    f"; {len(hot_meta['bursts'])} bursts on fresh days, the median one described"
                    if len(hot_meta.get("bursts") or []) > 1
                    else ""
                ),
            ],
            [
                "profiled pass",
                str(plan.get("slotfill_restaurant")),
                "the next fresh day",
                "the top slot-fill level again with py-spy attached (numbers not reported)",
            ],
            ["anatomy (in process)", "stress-008", "12 days ahead", "bookings through Django's test client"],
            ["pgbench", "stress-008", "2031 (rows deleted after)", "the bare SQL of one booking"],
        ],
    )

    # --- targets
    booking_row = widget.get("POST /api/v1/bookings", {})
    availability_row = widget.get("GET /api/v1/restaurants/[slug]/availability", {})
    booking_p95 = _float(booking_row.get("95%"))
    availability_p95 = _float(availability_row.get("95%"))
    top = levels[-1][2] if levels else None
    top_level = levels[-1][0].get("level") if levels else None
    lines += ["## DESIGN §10 targets", ""]
    hot_ok = None
    if hot is not None:
        checks = hot_meta.get("checks", {})
        integrity_after = summary.get("integrity_after", {}).get("violations", {})
        hot_ok = (
            hot["five_xx"] == 0
            and checks.get("unanswered", 1) == 0
            and not checks.get("throttled", 0)
            and not checks.get("tables_given_twice")
            and integrity_after.get("overlap", 0) == 0
            and integrity_after.get("over_capacity", 0) == 0
            and (_last_answer_s(hot_meta, hot) or 0) <= TARGET_HOT_SLOT_S
            and all(
                not b.get("server_errors") and not b.get("throttled") and not b.get("tables_given_twice")
                for b in hot_meta.get("bursts") or []
            )
        )
    versus = compare_numbers(summary.get("compare") or {})
    rows = [
        [
            f"POST booking p95 ≤ 100 ms, {plan.get('widget_users')} concurrent users",
            f"{fmt(booking_p95, 0)} ms (widget swarm: hold conversion)"
            + (
                f"; slot-fill c={top_level} (planner path): {fmt(top['submit_admitted']['p95'], 0)} ms"
                if top
                else ""
            ),
            _verdict(booking_p95, TARGET_BOOKING_P95_MS),
        ],
        [
            "availability p95 ≤ 30 ms (whole day, one party size)",
            f"{fmt(availability_p95, 0)} ms",
            _verdict(availability_p95, TARGET_AVAILABILITY_P95_MS),
        ],
        [
            "≥ 99.5 % confirmed inline at slot-fill concurrency 8",
            f"{pct(top['inline'], top['admitted'], 2)} of {top['admitted']} admitted (c={top_level})"
            if top
            else "—",
            _verdict(top["inline_share"], TARGET_INLINE_SHARE, lower_is_better=False)
            if top
            else "not measured",
        ],
        [
            f"hot slot, {plan.get('hot_users')} concurrent from distinct addresses: all answered in ≤ 3 s, "
            "0 overlaps, 0 over-capacity, 0 5xx, 0 429 at production throttles",
            (
                f"{hot['answered']} answered, the last after {fmt(_last_answer_s(hot_meta, hot))} s "
                + _burst_spread(hot_meta)
                + f"({_statuses(hot_meta)}), "
                f"{hot['five_xx']} 5xx, "
                + (
                    f"{hot_meta['checks']['throttled']} 429"
                    + ("" if hot_meta.get("production_throttles") else " (throttles not at production)")
                    if "throttled" in hot_meta.get("checks", {})
                    else "429s not counted (one address, raised throttles)"
                )
                + ", tables given twice: "
                f"{len(hot_meta.get('checks', {}).get('tables_given_twice', []))}, integrity after: "
                f"{_violations(summary.get('integrity_after'))}"
            )
            if hot
            else "—",
            ("**met**" if hot_ok else "**missed**") if hot is not None else "not measured",
        ],
        [
            f"bookings/s, {plan.get('compare_users', 16)} users, no think time: ≥ 30 % of the reference "
            "endpoint (same run)",
            (
                f"{fmt(versus['reservex']['bookings_per_s']['median'])} vs "
                f"{fmt(versus['reference']['bookings_per_s']['median'])}/s: "
                f"{_share(versus['ratio']['bookings_per_s'])}"
            )
            if versus
            else "—",
            _verdict_share(versus["ratio"]["bookings_per_s"]["median"] if versus else None),
        ],
        [
            "CPU per booking (web + Postgres) ≤ 20 ms",
            (
                f"{fmt(versus['reservex']['cpu_ms']['median'])} ms (reference "
                f"{fmt(versus['reference']['cpu_ms']['median'])} ms)"
            )
            if versus and versus["reservex"]["cpu_ms"]["median"] is not None
            else "not measured",
            _verdict(versus["reservex"]["cpu_ms"]["median"] if versus else None, TARGET_CPU_PER_BOOKING_MS),
        ],
    ]
    for row, why in zip(
        rows,
        _target_reasons(summary, widget_records, booking_p95, availability_p95, top, hot, hot_meta, versus),
        strict=True,
    ):
        row.append(why)
    lines += table(["target", "measured", "verdict", "why, and what would close it"], rows)
    lines += before_after_section(out / "before", summary, widget, hot_meta, hot)

    # --- widget
    lines += [f"## Widget swarm ({plan.get('widget_users')} users, {plan.get('widget_seconds')} s)", ""]
    if widget:
        lines += table(
            ["request", "count", "failures", "avg ms", "p50", "p95", "p99", "max", "req/s"],
            [
                [
                    name,
                    row.get("Request Count", ""),
                    row.get("Failure Count", ""),
                    fmt(_float(row.get("Average Response Time")), 1),
                    row.get("50%", ""),
                    row.get("95%", ""),
                    row.get("99%", ""),
                    fmt(_float(row.get("Max Response Time")), 0),
                    fmt(_float(row.get("Requests/s")), 1),
                ]
                for name, row in widget.items()
            ],
        )
        lines.append(
            "Locust's percentiles are rounded to two significant figures above 100 ms. Failures are 5xx "
            "answers and timeouts only; a 409 (someone took the table first) is a correct answer."
        )
        lines.append("")
    if widget_records:
        reasons = Counter(r.reason for r in widget_records)
        lines.append(
            f"Bookings attempted: {len(widget_records)}; outcomes: "
            + ", ".join(f"{k} {v}" for k, v in reasons.most_common())
            + f". Booking inline ms (server, hold conversion): p50 "
            f"{fmt(summarize(r.inline_ms for r in widget_records)['p50'])}, p95 "
            f"{fmt(summarize(r.inline_ms for r in widget_records)['p95'])}."
        )
        lines.append("")
    widget_metrics = summary.get("widget", {}).get("metrics", {})
    if widget_metrics:
        view = histogram(widget_metrics, "reservex_booking_request_seconds")
        avail = histogram(widget_metrics, "reservex_availability_request_seconds")
        lines.append(
            "Server side (Prometheus histograms over the swarm): POST booking view mean "
            f"{fmt(view['avg_ms'])} ms, "
            f"p95 ≈ {fmt(view['p95_ms'], 0)} ms; availability view mean {fmt(avail['avg_ms'])} ms, p95 ≈ "
            f"{fmt(avail['p95_ms'], 0)} ms. The difference to the client's figures is time outside the view: "
            "the socket, gunicorn's queue for a free thread, middleware."
        )
        lines.append("")

    # --- slot-fill
    lines += ["## Slot-fill", ""]
    if levels:
        lines += table(
            [
                "concurrency",
                "asked",
                "admitted",
                "confirmed inline",
                "submit p50 / p95 / p99 ms (admitted)",
                "inline p50 / p95 ms",
                "attempts avg",
                "admitted/s",
                "5xx",
            ],
            [
                [
                    str(m.get("level")),
                    str(n["asked"]),
                    str(n["admitted"]),
                    pct(n["inline"], n["admitted"], 2),
                    " / ".join(fmt(n["submit_admitted"][k], 0) for k in ("p50", "p95", "p99")),
                    " / ".join(fmt(n["inline_ms"][k], 0) for k in ("p50", "p95")),
                    fmt(summarize(r.attempts for r in recs if r.http_status in (201, 202))["avg"], 2),
                    fmt(n["admitted_per_s"], 1),
                    str(n["five_xx"]),
                ]
                for m, recs, n in levels
            ],
        )
        for meta, records, n in levels:
            admitted = [r for r in records if r.http_status in (201, 202)]
            lines += [f"### Concurrency {meta.get('level')}", ""]
            lines.append(
                f"{n['asked']} asked, {n['answered']} answered in {fmt(n['wall_s'])} s "
                f"({fmt(n['answered_per_s'])} answers/s, {fmt(n['admitted_per_s'])} admitted bookings/s). "
                f"Inline share: {n['inline']} of {n['admitted']} admitted confirmed inline "
                f"({pct(n['inline'], n['admitted'], 2)}); background invoked for {n['background']}. "
                f"Seat waste: {n['seat_waste_total']} empty seats at {n['seats_confirmed']} seated covers."
                + (" **The run hit its time bound.**" if meta.get("timed_out") else "")
            )
            lines.append("")
            lines += table(
                STAT_HEADER,
                [
                    stat_row("submit ms, admitted (201/202)", (r.submit_ms for r in admitted)),
                    stat_row(
                        "submit ms, refused (409)", (r.submit_ms for r in records if r.http_status == 409)
                    ),
                    stat_row("inline ms (allocation.inline_ms)", (r.inline_ms for r in admitted)),
                    stat_row("submit − inline ms (outside booking_create)", _outside(admitted)),
                    stat_row("inline attempts", (r.attempts for r in admitted), 2),
                    stat_row("post-job ms (202 → settled)", (r.post_job_ms for r in records)),
                    stat_row(
                        "seat waste (seats)",
                        (r.seat_waste for r in records if r.final_status == "confirmed"),
                        2,
                    ),
                ],
            )
            lines += table(["failure reason", "bookings"], [[k, str(v)] for k, v in n["reasons"].items()])
            view = histogram(meta.get("metrics", {}), "reservex_booking_request_seconds")
            planner = histogram(meta.get("metrics", {}), "reservex_planner_seconds")
            if view["count"]:
                lines.append(
                    f"Server view time (all answers, Prometheus): mean {fmt(view['avg_ms'])} ms, p95 ≈ "
                    f"{fmt(view['p95_ms'], 0)} ms; client submit mean (all answers) "
                    f"{fmt(n['submit_all']['avg'])} ms. Planner: mean {fmt(planner['avg_ms'], 2)} ms over "
                    f"{fmt(planner['count'], 0)} plans."
                )
                lines.append("")

    # --- reference
    lines += ["## ReserveX vs the reference endpoint (same run)", ""]
    lines += _compare_section(summary.get("compare") or {}, versus)

    # --- hot slot
    lines += [f"## Hot slot ({plan.get('hot_users')} concurrent requests for one slot)", ""]
    if hot is not None:
        checks = hot_meta.get("checks", {})
        lines.append(
            f"{hot_meta.get('restaurant')} {hot_meta.get('date')} {plan.get('hot_time')}: "
            f"{hot['asked']} users "
            f"released together; {hot['answered']} answered, the last answer after "
            f"{fmt(_last_answer_s(hot_meta, hot))} s (every 202 settled after {fmt(hot['wall_s'])} s). "
            "Final statuses "
            f"{checks.get('statuses')}, first answers {checks.get('first_statuses')}; 5xx seen: "
            f"{hot['five_xx']}; admitted {checks.get('admitted')} bookings for "
            f"{checks.get('admitted_covers')} "
            f"covers; tables given twice (from the answers): {checks.get('tables_given_twice') or 'none'}; "
            f"`check_integrity` after the run: {_violations(summary.get('integrity_after'))}."
        )
        lines.append("")
        if len(hot_meta.get("bursts") or []) > 1:
            lines.append(
                f"The burst was fired {len(hot_meta['bursts'])} times, each on a fresh day from its own "
                "addresses (one burst's time moves by a third between runs on this machine); the one "
                "described here is the median. Every burst: "
                + "; ".join(
                    f"{b.get('date')}: last answer after {fmt(b.get('last_answer_s'))} s, "
                    f"{b.get('statuses')}, 5xx {b.get('server_errors', '?')}, 429 {b.get('throttled', '?')}, "
                    f"tables given twice {b.get('tables_given_twice', '?')}"
                    for b in hot_meta["bursts"]
                )
                + "."
            )
            lines.append("")
        if "distinct_sources" in checks:
            lines.append(
                f"Each guest connected from its own loopback address ({checks['distinct_sources']} "
                "distinct, 127.N.x.y), so the per-IP throttle counted guests, not one client. "
                + _hot_throttle_note(hot_meta)
                + f" **429 answers: {checks.get('throttled', '?')}** (to "
                f"{checks.get('throttled_bookings', '?')} guests; target 0; the client retries a 429 after "
                "Retry-After with the same key, up to 3 times)."
            )
            lines.append("")
        floor = hot_meta.get("floor") or {}
        if _last_answer_s(floor, None):
            lines.append(
                f"**ReserveX {fmt(_last_answer_s(hot_meta, hot))} s; do-nothing server under the same "
                f"client {fmt(_last_answer_s(floor, None))} s** to the last answer (a WSGI app answering "
                "201 at once, `locustfiles/donothing.py`, "
                "served by gunicorn at the same size; the same burst, the same addresses): that much of "
                "the burst's time is the load generator and the kernel, not the app."
            )
            lines.append("")
        lines += table(
            STAT_HEADER,
            [
                stat_row("submit ms, all answers", (r.submit_ms for r in hot_records if r.http_status)),
                stat_row(
                    "submit ms, admitted", (r.submit_ms for r in hot_records if r.http_status in (201, 202))
                ),
                stat_row("inline ms, admitted", (r.inline_ms for r in hot_records)),
            ],
        )
        lines += table(["failure reason", "bookings"], [[k, str(v)] for k, v in hot["reasons"].items()])
        view = histogram(hot_meta.get("metrics", {}), "reservex_booking_request_seconds")
        stack = summary.get("stack", {})
        threads = int(stack.get("web_workers") or 0) * int(stack.get("web_threads") or 0)
        if view["count"] and hot["wall_s"]:
            lines.append(
                f"Server view time during the burst: mean {fmt(view['avg_ms'])} ms per request (p95 ≈ "
                f"{fmt(view['p95_ms'], 0)} ms); with {threads or '?'} gunicorn threads that drains at most "
                f"≈ {fmt(threads / (view['avg_ms'] / 1000) if threads and view['avg_ms'] else None)} "
                f"requests/s — observed {fmt(hot['answered'] / hot['wall_s'])}/s. The rest of each guest's "
                "wait is the queue for a free thread."
            )
            lines.append("")
        refusal = anatomy.get("refusal") or {}
        if refusal.get("statuses") == [409]:
            parts = {s["stage"].strip(): s["ms_per_booking"] for s in refusal.get("stages", [])}
            lines.append(
                f"A refusal for the full hot slot, in process (anatomy, below): "
                f"{fmt(refusal.get('median_ms'))} ms (median); under cProfile "
                f"{fmt(parts.get('refuse_if_known_full (cached day, no lock)'))} ms of "
                f"{fmt(parts.get('Django handler: middleware + view'))} ms decide it from the cached day, "
                f"{fmt(parts.get('booking_create (lock + read, then refused)'))} ms go to admissions "
                "refused under the lock."
            )
            lines.append("")
        lines.append(
            "Requests for a slot that the day's cached availability (keyed by the day's version) already "
            "knows to be full are refused without the restaurant-day lock; the others take it, so "
            "admissions are serialised and the overload shows up as submit time, not as errors — as long "
            "as no request waits longer than the 2 s lock_timeout (503 BUSY_RETRY + Retry-After, which "
            "this client retries with the same key and counts as a 5xx)."
        )
        lines.append("")
    else:
        lines += ["Not run.", ""]

    # --- the slowest stage
    lines += ["## Where the time goes: the slowest stage", ""]
    lines += _stage_section(levels, anatomy, profile)
    top_metrics = (summary.get("slotfill") or [{}])[-1].get("metrics", {})
    lines += _span_section(span_stages(top_metrics), (summary.get("slotfill") or [{}])[-1].get("level"))

    # --- pgbench
    lines += ["## End-to-end bookings/s vs the bare SQL of one booking (pgbench)", ""]
    lines += _pgbench_section(summary.get("pgbench", {}), levels)

    # --- waitlist
    lines += ["## Waitlist offers while tables free up", ""]
    lines += waitlist_section(summary.get("waitlist") or {})

    # --- integrity
    lines += ["## Integrity", ""]
    lines.append(f"- `check_integrity` before the scenarios: {_violations(summary.get('integrity_before'))}.")
    lines.append(
        f"- `check_integrity` after the scenarios (pgbench's rows deleted first): "
        f"{_violations(summary.get('integrity_after'))}."
    )
    lines.append("")

    lines += ["## What would close the gaps", ""]
    lines += _levers(summary, levels, booking_p95, availability_p95, hot, hot_ok, versus)

    lines += ["## Artefacts", ""]
    lines.append(
        "Beside this report: `summary.json` (everything the report is built from); `compare_meta.json` (the "
        "reference comparison, round by round); per scenario Locust's "
        "`*_stats.csv`, `*_failures.csv` and `*.html`; per booking `*_bookings.jsonl` (submit ms, inline ms, "
        "attempts, background, post-job ms, seat waste, tables, failure reason); `profile.svg` (py-spy CPU "
        "flame graph of the first web worker during the profiled slot-fill pass) and `profile_wall.txt` "
        "(py-spy wall-clock stacks of every web worker over the same pass). Rebuild the report from them "
        "with `python -m locustfiles.report docs/load`."
    )
    return lines


def before_after_section(
    before: Path,
    summary: dict[str, Any],
    widget: dict[str, dict[str, str]],
    hot_meta: dict[str, Any],
    hot: dict[str, Any] | None,
) -> list[str]:
    """Set this run beside a kept run of the code before the speed work (``before/``), if one is kept.

    ``before/`` holds that run's REPORT.md, summary.json and widget_stats.csv, made by the harness
    of its own commit on this machine (docs/load/README.md says how to make it again).
    """
    old_summary_path = before / "summary.json"
    if not old_summary_path.exists():
        return []
    old = json.loads(old_summary_path.read_text())
    old_widget = locust_stats(before / "widget_stats.csv")
    old_machine = old.get("machine", {})
    old_hot = old.get("hotslot") or {}

    def p95(stats: dict[str, dict[str, str]], name: str) -> float | None:
        return _float(stats.get(name, {}).get("95%"))

    booking, availability = "POST /api/v1/bookings", "GET /api/v1/restaurants/[slug]/availability"
    old_anatomy, anatomy = old.get("anatomy") or {}, summary.get("anatomy") or {}
    figures: list[tuple[str, float | None, float | None, int]] = [
        ("widget swarm: POST booking p95, ms", p95(old_widget, booking), p95(widget, booking), 0),
        ("widget swarm: availability p95, ms", p95(old_widget, availability), p95(widget, availability), 0),
        (
            "hot slot: last of 1 000 answers, s",
            _last_answer_s(old_hot, None),
            _last_answer_s(hot_meta, hot) if hot is not None else None,
            1,
        ),
        (
            "one booking in process, ms (anatomy median)",
            old_anatomy.get("median_ms"),
            anatomy.get("median_ms"),
            1,
        ),
        (
            "SQL statements per booking",
            old_anatomy.get("median_statements"),
            anatomy.get("median_statements"),
            0,
        ),
        ("commits per booking", old_anatomy.get("median_commits"), anatomy.get("median_commits"), 0),
    ]
    rows = [
        [label, fmt(was, digits), fmt(now, digits), f"×{fmt(was / now)}" if was and now else "—"]
        for label, was, now, digits in figures
    ]
    lines = ["## Before the speed work, and now", ""]
    lines.append(
        f"`before/REPORT.md` is `make loadtest` at commit `{old_machine.get('commit')}`, the code before "
        f"the speed work, run with that commit's own harness on this machine at {old.get('started_at')} "
        f"(load average {old_machine.get('loadavg_before')} before). Compare its run with this one only "
        "when both ran the same hour: the host's speed moves by 2× between days. Its hot slot came from "
        "one address with the throttles raised, and where that harness did not record the last answer "
        "its time runs until every booking settled; this run's came from a distinct address per guest "
        "at the production throttles."
    )
    lines.append("")
    lines += table(["figure", f"before ({old_machine.get('commit')})", "this run", "before ÷ now"], rows)
    return lines


def _target_reasons(
    summary: dict[str, Any],
    widget_records: list[BookingRecord],
    booking_p95: float | None,
    availability_p95: float | None,
    top: dict[str, Any] | None,
    hot: dict[str, Any] | None,
    hot_meta: dict[str, Any],
    versus: dict[str, Any] | None = None,
) -> list[str]:
    """Return, per §10 target, what the measurements say about why, and what is left to close it."""
    anatomy = summary.get("anatomy") or {}
    cpus = (summary.get("machine") or {}).get("cpus") or 2
    widget_metrics = (summary.get("widget") or {}).get("metrics", {})
    view = histogram(widget_metrics, "reservex_booking_request_seconds")
    avail = histogram(widget_metrics, "reservex_availability_request_seconds")
    inline_p95 = summarize(r.inline_ms for r in widget_records)["p95"]
    lock_share = _py_spy_share(summary.get("profile") or {}, "lock_service_days")
    see = "See “What would close the gaps”."
    reasons = []

    if booking_p95 is None:
        reasons.append("—")
    else:
        alone = anatomy.get("median_ms")
        text = (
            f"Server view p95 ≈ {fmt(view['p95_ms'], 0)} ms of the client's {fmt(booking_p95, 0)} ms "
            f"({_where(view['p95_ms'], booking_p95)}); `booking_create` alone p95 {fmt(inline_p95, 0)} ms. "
            f"Alone in process a direct booking takes {fmt(alone)} ms: "
            f"{fmt(anatomy.get('median_statements'), 0)} SQL statements, "
            f"{_plural(anatomy.get('median_commits'), 'commit')} and one Redis round trip, for the "
            "throttles; the flags and the cached day come from the process's memory by the versions the "
            "first statement read (anatomy). "
        )
        if booking_p95 > TARGET_BOOKING_P95_MS:
            if alone is not None and alone < 0.5 * booking_p95:
                text += (
                    f"So most of the p95 is not the request's own work but sharing {cpus} cores: waiting "
                    "for a thread outside the view, for the CPU and the GIL inside it. "
                )
            if lock_share is not None and top is not None:
                level = ((summary.get("profile") or {}).get("pass") or {}).get("level", "?")
                text += (
                    f"On one restaurant-day (slot-fill c={level}) admissions also queue for the day lock "
                    f"(py-spy: {lock_share * 100:.0f} % of booking samples wait for it). "
                )
            text += (
                "What remains per request: Django/DRF and ORM work, the statements, the throttles' "
                "round trip. " + see
            )
        else:
            text += "Headroom left."
        reasons.append(text)

    if availability_p95 is None:
        reasons.append("—")
    else:
        reasons.append(
            f"Server view p95 ≈ {fmt(avail['p95_ms'], 0)} ms, mean {fmt(avail['avg_ms'])} ms "
            f"({_where(avail['p95_ms'], availability_p95)}). A cache hit is 1 statement (restaurant + "
            "versions), one Redis round trip for the throttles, the flags and the day from the process's "
            "memory (the shared cache when another process computed it), then DRF serialises the day's "
            "slots. A miss (a hold or booking of that day moved its version, a hold "
            "expired or a slot started) also reads the day and runs the capacity rules and the planner "
            "for every slot; in the swarm every hold and booking moves its day's version. "
            + _day_sources(widget_metrics)
            + (see if availability_p95 > TARGET_AVAILABILITY_P95_MS else "Headroom left.")
        )

    if top is None:
        reasons.append("—")
    else:
        level_metrics = (summary.get("slotfill") or [{}])[-1].get("metrics", {})
        fallbacks = counter(level_metrics, "reservex_inline_fallbacks_total")
        handed = ", ".join(f"{k.strip('{}').split('=')[-1]} {int(v)}" for k, v in fallbacks.items() if v)
        queued = top["admitted"] - top["inline"]
        reasons.append(
            (
                f"{queued} booking(s) went to the Celery job ({handed or 'no fallback metric'}). "
                if queued
                else ""
            )
            + "Allocation is inline unless a process already runs INLINE_MAX_CONCURRENT (8) inline "
            "allocations (`shed_overload`; impossible with at most 8 threads a worker — this run had "
            f"{(summary.get('stack') or {}).get('web_threads', '?')}) or the inline budget runs out waiting "
            "for the lock or losing races (`budget_spent`). "
            + (
                "The queue behind the day lock did not drain inside the budget: shorten the locked "
                "section. " + see
                if top["inline_share"] is not None and top["inline_share"] < TARGET_INLINE_SHARE
                else ""
            )
        )

    if hot is None:
        reasons.append("—")
    else:
        reasons.append(_hot_reason(summary, hot, hot_meta, anatomy, cpus))

    if versus is None:
        reasons += ["—", "—"]
    else:
        rx, ref = versus["reservex"], versus["reference"]
        reasons.append(
            f"Same server, database and client: the reference writes the same rows (one booking, one "
            f"occupancy row) in one commit in {fmt(ref['p50_ms']['median'])} ms at the median, ReserveX "
            f"(one commit too) answers in {fmt(rx['p50_ms']['median'])} ms. The gap is ReserveX's own work "
            f"per booking: {fmt(anatomy.get('median_statements'), 0)} statements against the reference's "
            "three (one read, two inserts), Redis round trips, DRF and ORM building (see the anatomy and "
            "py-spy below), not the rows."
        )
        reasons.append(
            (
                f"Web {fmt(rx['web_ms']['median'])} ms + Postgres {fmt(rx['pg_ms']['median'])} ms per "
                f"booking against the reference's {fmt(ref['web_ms']['median'])} + "
                f"{fmt(ref['pg_ms']['median'])} ms: "
                + (
                    "most of it is Python in the web process (middleware, DRF, ORM building)."
                    if (rx["web_ms"]["median"] or 0) >= (rx["pg_ms"]["median"] or 0)
                    else "most of it is in the database (the statements beyond the rows: key claim, "
                    "locked read, telemetry, stored answer)."
                )
            )
            if rx["cpu_ms"]["median"] is not None
            else "CPU is read from /proc for processes started here (not with LOADTEST_URL)."
        )
    return reasons


def _hot_reason(
    summary: dict[str, Any],
    hot: dict[str, Any],
    hot_meta: dict[str, Any],
    anatomy: dict[str, Any],
    cpus: int,
) -> str:
    """Say what the hot slot's time was made of: the client's floor, cheap refusals, the cores."""
    five_xx = hot["five_xx"]
    last = _last_answer_s(hot_meta, hot)
    floor = _last_answer_s(hot_meta.get("floor") or {}, None)
    refusal = anatomy.get("refusal") or {}
    refusal_ms = refusal.get("median_ms") if refusal.get("statuses") == [409] else None
    text = (
        f"{five_xx} 5xx: requests that had to take the restaurant-day lock waited past the 2 s "
        "lock_timeout (503 BUSY_RETRY). "
        if five_xx
        else ""
    )
    text += (
        f"{hot['reasons'].get('capacity_exceeded', 0)} of {hot['answered']} answers were refusals. A "
        "refusal the cached day already knows is 1 statement (restaurant, versions and key in one), no "
        "lock and no commit (its event is batched)"
        + (
            f": {fmt(refusal_ms)} ms in process (anatomy), ≈ {fmt(1000 / refusal_ms, 0)} a second per "
            "core if the core did nothing else"
            if refusal_ms
            else ""
        )
        + ". "
    )
    if last and hot["answered"]:
        rate = hot["answered"] / last
        text += (
            f"Observed {fmt(rate, 0)} answers/s to the last answer, ≈ {fmt(rate / cpus, 0)} per second per "
            "core with the load "
            f"generator, Postgres and Redis on the same {cpus} cores"
            + (f"; the same client against a do-nothing server needs {fmt(floor)} s" if floor else "")
            + ". "
        )
    text += (
        f"The last answer came after {fmt(last)} s; guests at the back waited up to "
        f"{fmt((hot['submit_all'] or {}).get('max'), 0)} ms."
    )
    if last is not None and last > TARGET_HOT_SLOT_S and not five_xx:
        text += (
            " Left per refusal: Django/DRF work, one statement and one Redis round trip (the throttles); "
            "past that, cores. See “What would close the gaps”."
        )
    return text


def _plural(count: float | None, word: str) -> str:
    if count is None:
        return f"— {word}s"
    return f"{fmt(count, 0)} {word}" + ("" if count == 1 else "s")


def _py_spy_share(profile: dict[str, Any], marker: str) -> float | None:
    """Return the share of booking samples of the py-spy stage whose label names ``marker``."""
    summary = profile.get("summary") or {}
    if not summary.get("booking_samples"):
        return None
    return next((s["share"] for s in summary.get("booking_stages", []) if marker in s["stage"]), None)


def _anatomy_ms(anatomy: dict[str, Any], label: str) -> float | None:
    """Return the ms per booking (span or cProfile) of the anatomy stage whose label starts with ``label``."""
    return next(
        (s["ms_per_booking"] for s in anatomy.get("stages", []) if s["stage"].strip().startswith(label)),
        None,
    )


def _last_answer_s(meta: dict[str, Any], numbers: dict[str, Any] | None) -> float | None:
    """Seconds from the starting gun to the burst's last answer (older runs: until all settled)."""
    last = meta.get("last_answer_s") or (meta.get("checks") or {}).get("last_answer_s")
    if last is not None:
        return float(last)
    wall = meta.get("wall_s") or (numbers or {}).get("wall_s")
    return float(wall) if wall else None


def _burst_spread(hot_meta: dict[str, Any]) -> str:
    """Return "(median of 3 bursts: 2.7, 3.1, 3.4 s) " when the burst was fired more than once."""
    times = sorted(b.get("last_answer_s") or 0.0 for b in hot_meta.get("bursts") or [])
    if len(times) < 2:
        return ""
    return f"(median of {len(times)} bursts: {', '.join(fmt(t) for t in times)} s) "


def _hot_throttle_note(hot_meta: dict[str, Any]) -> str:
    """Say what throttle rates the hot slot ran under."""
    rates = hot_meta.get("throttle_rates")
    if not hot_meta:
        return ""
    if "production_throttles" not in hot_meta:
        return "The hot slot ran on the same server with the same raised throttles, from one address."
    if hot_meta.get("production_throttles"):
        shown = ", ".join(f"{k} {v}" for k, v in rates.items()) if isinstance(rates, dict) else str(rates)
        return (
            "**The hot slot runs at the production throttle setting** (the settings' defaults, "
            f"THROTTLE_RATE_* unset: {shown}), on a second gunicorn of the same size, same database, "
            "Redis and Celery worker."
        )
    return (
        "The hot slot ran against the running stack (LOADTEST_URL), at whatever throttle rates it was "
        "started with."
    )


# --- ReserveX vs the reference endpoint ----------------------------------------------------------


def _spread(values: list[float | None]) -> dict[str, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(present), "min": min(present), "max": max(present), "n": len(present)}


def _cpu_total(round_: dict[str, Any]) -> float | None:
    cpu = round_.get("cpu") or {}
    web, pg = cpu.get("web_ms_per_booking"), cpu.get("pg_ms_per_booking")
    return web + pg if web is not None and pg is not None else None


def compare_numbers(compare: dict[str, Any]) -> dict[str, Any] | None:
    """Return medians and spreads per target, and ReserveX ÷ reference per round (paired by round)."""
    rounds = compare.get("rounds") or []
    by_target = {t: [r for r in rounds if r.get("target") == t] for t in ("reference", "reservex")}
    if not by_target["reference"] or not by_target["reservex"]:
        return None
    result: dict[str, Any] = {}
    for target, runs in by_target.items():
        result[target] = {
            key: _spread([r.get(key) for r in runs])
            for key in ("bookings_per_s", "p50_ms", "p95_ms", "p99_ms")
        }
        result[target]["web_ms"] = _spread([(r.get("cpu") or {}).get("web_ms_per_booking") for r in runs])
        result[target]["pg_ms"] = _spread([(r.get("cpu") or {}).get("pg_ms_per_booking") for r in runs])
        result[target]["cpu_ms"] = _spread([_cpu_total(r) for r in runs])
        result[target]["rounds"] = len(runs)
        result[target]["not_201"] = sum(
            n for r in runs for status, n in (r.get("statuses") or {}).items() if status != "201"
        )
    reference = {r.get("round"): r for r in by_target["reference"]}
    ratios: dict[str, list[float | None]] = {"bookings_per_s": [], "p50_ms": [], "p95_ms": [], "cpu_ms": []}
    for run in by_target["reservex"]:
        ref = reference.get(run.get("round"))
        if ref is None:
            continue
        for key in ratios:
            mine, theirs = (
                (_cpu_total(run), _cpu_total(ref)) if key == "cpu_ms" else (run.get(key), ref.get(key))
            )
            ratios[key].append(mine / theirs if mine is not None and theirs else None)
    result["ratio"] = {key: _spread(values) for key, values in ratios.items()}
    return result


def _with_spread(spread: dict[str, float | None], digits: int = 1) -> str:
    if spread["median"] is None:
        return "—"
    if spread["n"] == 1 or spread["min"] == spread["max"]:
        return fmt(spread["median"], digits)
    return f"{fmt(spread['median'], digits)} ({fmt(spread['min'], digits)}–{fmt(spread['max'], digits)})"


def _share(spread: dict[str, float | None]) -> str:
    """A ReserveX ÷ reference throughput ratio as a share: '8.9 % (8.5–9.3 %)'."""
    if spread["median"] is None:
        return "—"
    text = f"{100 * spread['median']:.1f} %"
    low, high = (f"{100 * v:.1f}" for v in (spread["min"] or 0, spread["max"] or 0))
    return text + (f" ({low}–{high} %)" if (spread["n"] or 0) > 1 and low != high else "")


def _times(spread: dict[str, float | None]) -> str:
    if spread["median"] is None:
        return "—"
    text = f"×{spread['median']:.1f}"
    low, high = (f"{v:.1f}" for v in (spread["min"] or 0, spread["max"] or 0))
    return text + (f" (×{low}–{high})" if (spread["n"] or 0) > 1 and low != high else "")


def _verdict_share(ratio: float | None) -> str:
    if ratio is None:
        return "not measured"
    if ratio >= TARGET_REFERENCE_SHARE:
        return "**met**"
    return f"**missed** by {100 * (TARGET_REFERENCE_SHARE - ratio):.1f} points"


def _compare_section(compare: dict[str, Any], versus: dict[str, Any] | None) -> list[str]:
    if compare.get("skipped") or versus is None:
        reason = compare.get("skipped") or compare.get("missing") or "not run"
        return [f"Not measured: {reason}.", ""]
    rx, ref, ratio = versus["reservex"], versus["reference"], versus["ratio"]
    lines = [
        f"The same load on two endpoints of the same gunicorn, on the same database, in the same run: "
        f"{compare.get('users')} Locust FastHttpUsers, no think time, every request a new booking that "
        "nothing refuses (each user on its own restaurant-day, so no two wait for one day's lock). "
        "**Reference**: `POST /loadtest/reference/bookings` (`locustfiles/reference.py`), the thinnest "
        "Django + DRF view that writes what a ReserveX booking writes — one confirmed Booking row and one "
        "TableOccupancy row per table in one transaction, the tables named by the client; no capacity "
        "check, no planner, no idempotency, no throttles, no telemetry. **ReserveX**: `POST "
        "/api/v1/bookings` with an Idempotency-Key, four parties of two a slot of the stress restaurants. "
        f"{compare.get('rounds_each')} rounds of {compare.get('seconds')} s on each, interleaved "
        "(A B B A …) after an unreported warm-up round of each; medians with the spread (min–max) of the "
        "rounds; the ratio is taken round by round.",
        "",
    ]
    lines += table(
        ["", "reference endpoint", "ReserveX", "ReserveX ÷ reference"],
        [
            [
                "bookings/s (201s in the window)",
                _with_spread(ref["bookings_per_s"]),
                _with_spread(rx["bookings_per_s"]),
                f"**{_share(ratio['bookings_per_s'])}**",
            ],
            ["p50 ms", _with_spread(ref["p50_ms"]), _with_spread(rx["p50_ms"]), _times(ratio["p50_ms"])],
            [
                "p95 ms",
                _with_spread(ref["p95_ms"]),
                _with_spread(rx["p95_ms"]),
                f"**{_times(ratio['p95_ms'])}**",
            ],
            ["p99 ms", _with_spread(ref["p99_ms"]), _with_spread(rx["p99_ms"]), ""],
            [
                "CPU per booking: web processes, ms",
                _with_spread(ref["web_ms"], 2),
                _with_spread(rx["web_ms"], 2),
                "",
            ],
            [
                "CPU per booking: Postgres backends, ms",
                _with_spread(ref["pg_ms"], 2),
                _with_spread(rx["pg_ms"], 2),
                "",
            ],
            [
                "CPU per booking: web + Postgres, ms",
                _with_spread(ref["cpu_ms"], 2),
                _with_spread(rx["cpu_ms"], 2),
                _times(ratio["cpu_ms"]),
            ],
            ["answers other than 201", str(ref["not_201"]), str(rx["not_201"]), ""],
        ],
    )
    rows = []
    for run in compare.get("rounds") or []:
        cpu = run.get("cpu") or {}
        rows.append(
            [
                str(run.get("round")),
                str(run.get("target")),
                fmt(run.get("seconds")),
                str(run.get("bookings")),
                fmt(run.get("bookings_per_s")),
                " / ".join(fmt(run.get(k), 0) for k in ("p50_ms", "p95_ms", "p99_ms")),
                f"{fmt(cpu.get('web_ms_per_booking'), 2)} / {fmt(cpu.get('pg_ms_per_booking'), 2)}",
                ", ".join(f"{k}: {v}" for k, v in (run.get("statuses") or {}).items()),
            ]
        )
    lines += table(
        [
            "round",
            "endpoint",
            "s",
            "bookings",
            "bookings/s",
            "p50 / p95 / p99 ms",
            "CPU ms/booking web / pg",
            "statuses",
        ],
        rows,
    )
    cpu_note = (
        "CPU is read from /proc before and after each round: the gunicorn master and its workers, and "
        "every Postgres backend connected to the load database (found by its process title; the Celery "
        "worker's connection included, Postgres's WAL writer and checkpointer not), divided by the "
        "round's 201s. The load generator's own CPU is not in it."
        if (compare.get("cpu_measured") or {}).get("web")
        else "CPU per booking is measured only for a stack started here (the pids must be known)."
    )
    lines += [
        cpu_note
        + " The reference's rows are deleted after the comparison (they ignore the capacity rules on "
        "purpose), before `check_integrity` runs; ReserveX's stay and are checked.",
        "",
    ]
    return lines


def _where(server_ms: float | None, client_ms: float | None) -> str:
    """Say whether a client percentile is mostly server time or mostly waiting outside the view."""
    if server_ms is None or not client_ms:
        return "no server histogram"
    if server_ms >= 0.85 * client_ms:
        return "almost all of it inside the view; histogram buckets are coarse"
    return f"≈ {fmt(client_ms - server_ms, 0)} ms waiting outside the view for a thread and the CPU"


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _outside(records: list[BookingRecord]) -> list[float]:
    return [r.submit_ms - r.inline_ms for r in records if r.inline_ms is not None]


def _statuses(meta: dict[str, Any]) -> str:
    statuses = meta.get("checks", {}).get("statuses", {})
    return ", ".join(f"{k}: {v}" for k, v in statuses.items())


def _violations(verdict: dict[str, Any] | None) -> str:
    if not verdict:
        return "not run"
    if verdict.get("stderr") and not verdict.get("violations"):
        return "**the check did not run to the end** (see `summary.json`: stderr)"
    counts = verdict.get("violations", {})
    detail = ", ".join(f"{k} {v}" for k, v in counts.items())
    return ("clean" if verdict.get("ok") else "**VIOLATIONS**") + (f" ({detail})" if detail else "")


def _stage_section(
    levels: list[tuple[dict[str, Any], list[BookingRecord], dict[str, Any]]],
    anatomy: dict[str, Any],
    profile: dict[str, Any],
) -> list[str]:
    lines: list[str] = []
    if levels:
        rows = []
        for meta, records, n in levels:
            admitted = [r for r in records if r.http_status in (201, 202)]
            view = histogram(meta.get("metrics", {}), "reservex_booking_request_seconds")
            submit_all = n["submit_all"]["avg"]
            outside_server = (
                submit_all - view["avg_ms"] if submit_all is not None and view["avg_ms"] else None
            )
            rows.append(
                [
                    str(meta.get("level")),
                    fmt(n["submit_admitted"]["avg"]),
                    fmt(n["inline_ms"]["avg"]),
                    fmt(summarize(_outside(admitted))["avg"]),
                    fmt(view["avg_ms"]),
                    fmt(outside_server),
                ]
            )
        lines.append(
            "Slot-fill means per level. *inline* is `allocation.inline_ms`: the server's time in "
            "`booking_create`'s one transaction up to the stored answer (key claim, restaurant-day lock, "
            "one read, planner, inserts, telemetry). *submit − inline* is everything else the guest waits "
            "for: HTTP, gunicorn's queue for a thread, middleware, throttles (Redis), the versions "
            "statement, flags (Redis), the cached-day check (Redis), rendering and storing the answer, the "
            "commit and serialising the response. The Prometheus view time splits that again into "
            "in-view and outside-the-server."
        )
        lines.append("")
        lines += table(
            [
                "concurrency",
                "submit ms (admitted)",
                "inline ms",
                "submit − inline ms",
                "server view ms (all)",
                "client − view ms (all)",
            ],
            rows,
        )
        first, last = levels[0][2], levels[-1][2]
        inline_growth = _diff(last["inline_ms"]["p50"], first["inline_ms"]["p50"])
        outside_first = summarize(_outside([r for r in levels[0][1] if r.http_status in (201, 202)]))["avg"]
        outside_last = summarize(_outside([r for r in levels[-1][1] if r.http_status in (201, 202)]))["avg"]
        inline_last = last["inline_ms"]["avg"]
        if inline_last is not None and outside_last is not None:
            slowest = (
                "allocation inside `booking_create`"
                if inline_last >= outside_last
                else "the request around the allocation (HTTP, queueing, throttles, serialisation)"
            )
            lines.append(
                f"**Slowest stage at concurrency {levels[-1][0].get('level')}: {slowest}** — inline "
                f"{fmt(inline_last)} ms vs {fmt(outside_last)} ms outside it, of a "
                f"{fmt(last['submit_admitted']['avg'])} "
                f"ms mean submit. From concurrency {levels[0][0].get('level')} to "
                f"{levels[-1][0].get('level')} "
                f"the inline p50 grows by {fmt(inline_growth)} ms and the outside part by "
                f"{fmt(_diff(outside_last, outside_first))} ms on the same request stream: growth of "
                "*inline* is "
                "waiting for the restaurant-day advisory lock (admissions of one day are serialised "
                "by design), "
                "growth *outside* is waiting for a gunicorn thread and the CPU."
            )
            lines.append("")
            level = int(levels[-1][0].get("level") or 1)
            if last["answered"] and last["wall_s"] and level > 1:
                every = 1000 * last["wall_s"] / last["answered"]
                lines.append(
                    f"The locked section: at concurrency {level} one request was answered every "
                    f"{fmt(every)} ms, and each admitted one spent {fmt(inline_last)} ms inline with about "
                    f"{level} in flight, i.e. ≈ {fmt(inline_last / level)} ms of work per booking done "
                    "while holding the restaurant-day lock (inline ÷ concurrency), against "
                    f"{fmt(first['inline_ms']['avg'])} ms for a whole inline allocation at concurrency "
                    f"{levels[0][0].get('level')}. Admissions of one day cannot go faster than one per "
                    "locked section, whatever the number of workers: shortening what runs under the lock "
                    "is the lever that scales with concurrency (refusals the cached day knows skip the lock)."
                )
                lines.append("")
    if anatomy and not anatomy.get("error"):
        lines.append(
            "**Anatomy of one booking** (in process through Django's test client, no HTTP, machine "
            "otherwise "
            f"as above; medians of {anatomy.get('bookings')}): {fmt(anatomy.get('median_ms'))} ms per "
            "booking, "
            f"{fmt(anatomy.get('median_statements'), 0)} SQL statements taking "
            f"{fmt(anatomy.get('median_sql_ms'))} ms "
            f"(client-side round trips), {_plural(anatomy.get('median_commits'), 'commit')} "
            f"({_plural(anatomy.get('median_explicit_transactions'), 'explicit transaction')} + "
            f"{_plural(anatomy.get('median_autocommit_writes'), 'autocommit write')}; on the happy path the "
            "claim, admission, telemetry and stored answer commit together). Each commit waits for a WAL "
            "flush (synchronous_commit on). "
            "cProfile (adds overhead to Python-heavy parts; read the proportions) by stage, ms per booking:"
        )
        lines.append("")
        lines += table(
            ["stage (inclusive)", "ms per booking"],
            [[s["stage"], fmt(s["ms_per_booking"], 2)] for s in anatomy.get("stages", [])],
        )
    elif anatomy.get("error"):
        lines += [f"Anatomy failed: `{anatomy['error'][-300:]}`", ""]
    summary = profile.get("summary") if profile else None
    if summary and summary.get("samples_in_requests"):
        lines.append(
            f"**py-spy**, wall clock with idle threads (waiting on Postgres or the day lock counts where it "
            f"waits), {profile.get('seconds')} s on web workers {profile.get('workers')} during a separate, "
            f"profiled slot-fill pass at concurrency {profile.get('pass', {}).get('level')} on a fresh day "
            "(its numbers are not used above): "
            f"{summary['samples_in_requests']} samples inside requests — "
            + ", ".join(
                f"{k} {v['share'] * 100:.0f} %" for k, v in summary["endpoints"].items() if v["samples"]
            )
            + f". Inside POST /api/v1/bookings ({summary['booking_samples']} samples), the share of "
            "samples in each stage (inclusive):"
        )
        lines.append("")
        lines += table(
            ["stage", "share of booking samples"],
            [[s["stage"], f"{s['share'] * 100:.0f} %"] for s in summary["booking_stages"]],
        )
        lines.append(
            "Hottest leaf frames in the booking path: "
            + "; ".join(
                f"`{leaf['frame']}` {leaf['share'] * 100:.0f} %" for leaf in summary["booking_leaves"][:5]
            )
            + ". CPU flame graph (py-spy, no idle threads) of the first web worker over the same pass: "
            "`profile.svg`."
        )
        lines.append("")
    elif profile:
        lines += [f"py-spy profile: {profile.get('skipped') or profile.get('errors') or 'no samples'}", ""]
    return lines


def _diff(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def _summary_row(label: str, numbers: dict[str, Any]) -> list[str]:
    """Return a STAT_HEADER row from a summary already computed (common.summarize)."""
    return [
        label,
        str(numbers.get("count", 0)),
        *(fmt(numbers.get(k)) for k in ("avg", "p50", "p95", "p99", "max")),
    ]


def waitlist_section(meta: dict[str, Any]) -> list[str]:
    """Return the waitlist phase's figures: commit-to-offer latency, offers by outcome, the checks."""
    if not meta or "commit_to_offer_ms" not in meta:
        why = meta.get("skipped") or meta.get("missing") or meta.get("error") or "not run"
        return [f"Not run: {why}.", ""]
    offer, accepted = meta["commit_to_offer_ms"], meta.get("commit_to_accepted_ms") or {}
    twice = meta.get("entries_with_two_offers_at_once") or []
    lines = [
        f"`locustfiles/waitlist.py`: {meta.get('restaurant')} {meta.get('date')}, window "
        f"{meta.get('window')} booked full; {meta.get('waiters')} guests waiting (polling every "
        f"{meta.get('poll_s')} s, accepting {fmt(100 * float(meta.get('accept_ratio') or 0), 0)} % of "
        f"offers, declining the rest) while {meta.get('cancellations')} bookings were cancelled over "
        f"{fmt(meta.get('seconds'))} s.",
        "",
    ]
    lines += table(
        STAT_HEADER,
        [
            _summary_row("freeing commit → offer ms", offer),
            _summary_row("freeing commit → accepted booking ms", accepted),
        ],
    )
    lines.append(
        f"Offers sent {meta.get('offers_sent')}: accepted {meta.get('accepted')}, declined "
        f"{meta.get('declined')}, expired {meta.get('expired')}, still open at the end "
        f"{meta.get('open_at_end')}; guests still waiting {meta.get('waiting_at_end')}. "
        f"**Entries offered two tables at once: {len(twice)}** ({meta.get('offer_events')} offer events "
        f"checked; target 0); `check_integrity` after the phase: {_violations(meta.get('integrity'))}. "
        "The accepted time includes the guest's poll interval and the accept request: it is what a "
        "guest who answers at once sees, not the server's share."
    )
    lines.append("")
    return lines


def _pgbench_section(
    pgbench: dict[str, Any], levels: list[tuple[dict[str, Any], list[BookingRecord], dict[str, Any]]]
) -> list[str]:
    runs = pgbench.get("runs", [])
    if not runs:
        return [f"Not run: {pgbench.get('skipped', 'no database')}.", ""]
    lines = [
        f"`{pgbench.get('script')}` is what one booking does in SQL — the advisory lock of the restaurant's "
        "day, the capacity read, insert booking, insert occupancy (exclusion constraint checked), "
        "confirm — in "
        "one transaction, every client on the SAME lock key, like one restaurant's day in the slot-fill.",
        "",
    ]
    rows = []
    best_http = max((n["admitted_per_s"] or 0 for _, _, n in levels), default=0)
    for meta, _, n in levels:
        rows.append(
            [
                f"HTTP slot-fill, concurrency {meta.get('level')}",
                fmt(n["admitted_per_s"]),
                fmt(n["submit_admitted"]["avg"]),
            ]
        )
    for run in runs:
        rows.append(
            [f"pgbench, {run['clients']} client(s)", fmt(run.get("tps")), fmt(run.get("latency_ms"), 2)]
        )
    lines += table(["what", "bookings/s", "mean latency ms"], rows)
    best_sql = max((run.get("tps") or 0 for run in runs), default=0)
    if best_http and best_sql:
        lines.append(
            f"Best end-to-end rate {fmt(best_http)} bookings/s vs best bare-SQL rate {fmt(best_sql)}/s: "
            f"**the full stack books at {100 * best_http / best_sql:.1f} % of what the database alone allows "
            f"(ratio 1 : {best_sql / best_http:.0f})**. The slot-fill rate counts admitted bookings over the "
            "level's wall time, refusals excluded; both commit once per booking, so the gap is "
            "Python/Django/HTTP work and the statements ReserveX adds around the rows (key claim, telemetry, "
            "stored answer), not the booking's own SQL."
        )
        lines.append("")
    return lines


def _levers(
    summary: dict[str, Any],
    levels: list[tuple[dict[str, Any], list[BookingRecord], dict[str, Any]]],
    booking_p95: float | None,
    availability_p95: float | None,
    hot: dict[str, Any] | None,
    hot_ok: bool | None,
    versus: dict[str, Any] | None,
) -> list[str]:
    """List what is left to try, each lever only when a measured miss points to it."""
    anatomy = summary.get("anatomy") or {}
    cpus = (summary.get("machine") or {}).get("cpus") or 2
    widget_metrics = (summary.get("widget") or {}).get("metrics", {})
    top = levels[-1][2] if levels else None
    booking_missed = booking_p95 is not None and booking_p95 > TARGET_BOOKING_P95_MS
    availability_missed = availability_p95 is not None and availability_p95 > TARGET_AVAILABILITY_P95_MS
    inline_missed = bool(
        top and top["inline_share"] is not None and top["inline_share"] < TARGET_INLINE_SHARE
    )
    hot_missed = hot is not None and not hot_ok
    ratio = versus["ratio"]["bookings_per_s"]["median"] if versus else None
    cpu = versus["reservex"]["cpu_ms"]["median"] if versus else None
    throughput_missed = ratio is not None and ratio < TARGET_REFERENCE_SHARE
    cpu_missed = cpu is not None and cpu > TARGET_CPU_PER_BOOKING_MS
    levers: list[str] = []

    if booking_missed or availability_missed or hot_missed or throughput_missed:
        view = histogram(widget_metrics, "reservex_booking_request_seconds")
        avail = histogram(widget_metrics, "reservex_availability_request_seconds")
        waits = [
            f"{name} p95 ≈ {fmt(client - server['p95_ms'], 0)} ms of {fmt(client, 0)} ms"
            for name, client, server in (
                ("booking", booking_p95, view),
                ("availability", availability_p95, avail),
            )
            if client is not None and server["p95_ms"] is not None and server["p95_ms"] < client
        ]
        levers.append(
            f"**More cores, more web nodes.** {cpus} cores are shared by gunicorn, Celery, Postgres, Redis "
            "and the load generator; time spent waiting outside the view"
            + (f" ({'; '.join(waits)})" if waits else "")
            + " is queueing for a thread and the CPU. Work is serialised only per restaurant-day, so other "
            "restaurants and days scale with processes and machines; with several web nodes, PgBouncer in "
            "front of Postgres (issue 18). docs/load/TUNING.md compares thread counts."
        )
    if booking_missed or cpu_missed or throughput_missed:
        handler = _anatomy_ms(anatomy, "Django handler")
        sql = _anatomy_ms(anatomy, "all SQL round trips")
        commit = _anatomy_ms(anatomy, "transaction commits")
        python = handler - sql - commit if None not in (handler, sql, commit) else None  # type: ignore[operator]
        levers.append(
            "**Less framework work per booking.** "
            + (
                f"Under cProfile a booking spends {fmt(handler)} ms in Django's handler, of which "
                f"{fmt(sql)} ms SQL round trips and {fmt(commit)} ms the commit; the other ≈ {fmt(python)} "
                "ms are Python: middleware, DRF, serialisers, ORM building (read the proportions, not the "
                "sum). "
                if python is not None
                else ""
            )
            + "The three ORM inserts (booking, occupancy rows, attempt"
            + (
                f"; booking and tables {fmt(_anatomy_ms(anatomy, 'admission: write'))} ms, telemetry "
                f"{fmt(_anatomy_ms(anatomy, 'store_admission_telemetry'))} ms"
                if _anatomy_ms(anatomy, "admission: write") is not None
                else ""
            )
            + ") could be built directly, as the locked read already is; the answer is rendered twice "
            "(for the stored answer and for the response"
            + (
                f", `_booking_answer` {fmt(_anatomy_ms(anatomy, '_booking_answer'))} ms for both"
                if _anatomy_ms(anatomy, "_booking_answer") is not None
                else ""
            )
            + ") and could be rendered once."
        )
    if availability_missed:
        levers.append(
            "**Fewer availability misses.** A hit is now one statement, the throttles' round trip and "
            "the slots rendered without DRF's per-field work; a miss reads the day and plans every slot. "
            "Any hold or booking moves its whole day's version, so in a busy day most answers are misses "
            "(counted above). Recomputing only the slots a write's window touches, from the previous "
            "answer, would make most of them cheap."
        )
    lock_share = _py_spy_share(summary.get("profile") or {}, "lock_service_days")
    if (inline_missed or booking_missed or (hot is not None and hot["five_xx"])) and top is not None:
        level = int(levels[-1][0].get("level") or 1)
        inline = top["inline_ms"]["avg"]
        levers.append(
            "**A shorter locked section.** Admissions of one restaurant-day queue for its lock by design"
            + (
                f" (slot-fill c={level}: ≈ {fmt(inline / level)} ms of work per booking under the lock"
                + (
                    f"; py-spy: {lock_share * 100:.0f} % of booking samples waiting for it"
                    if lock_share
                    else ""
                )
                + ")"
                if inline is not None
                else ""
            )
            + ". Under it run one read, the inserts, the telemetry, the stored answer and the commit's WAL "
            "flush; cheaper inserts (above) shorten it, and so the queue."
        )

    lines = [
        "What is left to try, for the owner of the hot path to weigh (not tried here). Already done, "
        "so not listed: the key claimed in the booking's own transaction (one commit), the answer built "
        "from memory, configuration cached per process and availability per day version, refusals from "
        "the cached day without the lock, batched refusal events, throttles in one round trip, flags and "
        "recent days kept per process by version, one Redis client per pool, the pool's checkout check "
        "without a round trip, input serializers without deep copies (decisions 0004, 0007, 0008, "
        "0009).",
        "",
    ]
    if not levers:
        return [*lines, "Every DESIGN §10 target measured here was met: nothing to close.", ""]
    lines += [f"{n}. {text}" for n, text in enumerate(levers, start=1)]
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs/load"])[0])
    summary = json.loads((out / "summary.json").read_text())
    print(write_report(out, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
