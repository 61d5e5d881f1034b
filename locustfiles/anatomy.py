"""The anatomy of one booking, in process: SQL statements, transactions and where the time goes.

Books ``--count`` tables through Django's test client (the whole middleware and view, no HTTP and
no gunicorn), first capturing every SQL statement, then again under cProfile. Prints one JSON
object. Run with the load test's environment (DATABASE_URL etc.)::

    DJANGO_SETTINGS_MODULE=reservex.settings .venv/bin/python -m locustfiles.anatomy \
        --restaurant stress-008 --date 2026-12-03
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import sys
import time
import uuid
from datetime import date
from datetime import time as clock_time
from typing import Any

from locustfiles.common import booking_body, percentile, slot_grid

# The stages of POST /api/v1/bookings, outermost first. Our own stages are the named spans the code
# declares (observability/spans.py); the framework's and the driver's are found under cProfile by
# their (public, library) function names: (label, "span", stage) or (label, file suffix, function).
STAGES: tuple[tuple[str, str, str], ...] = (
    ("Django handler: middleware + view", "django/test/client.py", "__call__"),
    ("throttles (Redis, one round trip)", "rest_framework/views.py", "check_throttles"),
    ("restaurant id + versions (one statement)", "bookings/config.py", "restaurant_versions"),
    ("flags.get_all (memory, by the flags version)", "flags/__init__.py", "get_all"),
    ("refuse_if_known_full (cached day)", "span", "booking.cached_refusal"),
    ("booking_create (the one transaction)", "span", "booking.transaction"),
    ("  idempotency_claim (INSERT … ON CONFLICT)", "span", "booking.claim"),
    ("  admission: lock", "span", "admission.lock"),
    ("  admission: read under the lock", "span", "admission.read"),
    ("  admission: capacity and planner", "span", "admission.plan"),
    ("  admission: write (booking, tables)", "span", "admission.write"),
    ("  store_admission_telemetry", "span", "booking.telemetry"),
    ("  _booking_answer + stored answer (from memory)", "span", "booking.answer"),
    ("all SQL round trips (psycopg execute)", "psycopg/cursor.py", "execute"),
    ("transaction commits (psycopg commit)", "psycopg/connection.py", "commit"),
)

# The stages of a refused booking (409 CAPACITY_EXCEEDED with alternatives).
REFUSAL_STAGES: tuple[tuple[str, str, str], ...] = (
    ("Django handler: middleware + view", "django/test/client.py", "__call__"),
    ("refuse_if_known_full (cached day, no lock)", "span", "booking.cached_refusal"),
    ("booking_create (lock + read, then refused)", "span", "booking.transaction"),
    ("  lock_service_days", "span", "admission.lock"),
    ("add_alternatives (nearest bookable times)", "span", "booking.alternatives"),
    ("  availability_day_cached", "bookings/availability.py", "availability_day_cached"),
    ("all SQL round trips (psycopg execute)", "psycopg/cursor.py", "execute"),
)


def _stage_ms(
    stages: tuple[tuple[str, str, str], ...], raw: dict[Any, Any], spans: dict[str, float], count: int
) -> list[dict[str, Any]]:
    """Return each stage's milliseconds per request: from the spans, or from cProfile's totals."""
    rows = []
    for label, where, name in stages:
        seconds = spans.get(name, 0.0) if where == "span" else _cumulative(raw, where, name)
        rows.append({"stage": label, "ms_per_booking": seconds * 1000 / max(1, count)})
    return rows


def _cumulative(raw: dict[Any, Any], suffix: str, name: str) -> float:
    """Return the cumulative seconds of the functions called ``name`` in files ending ``suffix``."""
    return float(
        sum(
            value[3]
            for (filename, _, function), value in raw.items()
            if function == name and filename.endswith(suffix)
        )
    )


AUTOCOMMIT_MARK = "-- autocommit\n"
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def transactions_of(statements: list[str], explicit_commits: int | None = None) -> dict[str, int]:
    """Count explicit transactions and autocommit writes (each one is a commit, i.e. a WAL flush).

    psycopg 3 opens transactions implicitly (no BEGIN is captured): the caller then passes the
    commits counted on the connection, and the statements of autocommit writes only (prefixed
    "-- autocommit" by the caller's execute wrapper).
    """
    explicit = autocommit_writes = 0
    inside = False
    for sql in statements:
        head = sql.strip().upper()
        if head.startswith("BEGIN"):
            inside = True
            explicit += 1
        elif head.startswith(("COMMIT", "ROLLBACK")):
            inside = False
        elif (
            not inside
            and _WRITE.match(sql.removeprefix(AUTOCOMMIT_MARK))
            and (explicit_commits is None or sql.startswith(AUTOCOMMIT_MARK))
        ):
            autocommit_writes += 1
    if explicit_commits is not None:
        explicit = explicit_commits
    return {
        "explicit": explicit,
        "autocommit_writes": autocommit_writes,
        "commits": explicit + autocommit_writes,
    }


def _post(client: Any, body: dict[str, Any]) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.post(
        "/api/v1/bookings",
        body,
        content_type="application/json",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    return response.status_code, (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.anatomy", description=__doc__)
    parser.add_argument("--restaurant", default="stress-008")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--count", type=int, default=20, help="bookings per pass (two passes)")
    parser.add_argument("--full-restaurant", default="", help="a restaurant whose --full-date/time is full")
    parser.add_argument("--full-date", type=date.fromisoformat, default=None)
    parser.add_argument("--full-time", type=clock_time.fromisoformat, default=clock_time(19, 0))
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from observability.spans import collect_spans

    client = Client()
    slots = slot_grid(clock_time(17, 0), clock_time(21, 0))
    bodies = [
        booking_body(
            restaurant=args.restaurant, local_date=args.date, local_time=slots[i % len(slots)], party_size=2
        )
        for i in range(2 * args.count + 2)
    ]
    for body in bodies[:2]:  # warm-up: first-request imports and connection set-up
        _post(client, body)

    commits = [0]
    real_commit = connection._commit  # type: ignore[attr-defined]

    def counting_commit() -> None:
        commits[0] += 1
        real_commit()

    connection._commit = counting_commit  # type: ignore[attr-defined]
    marked: list[str] = []  # this booking's statements, autocommit writes marked

    def mark(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        marked.append(sql if connection.in_atomic_block else AUTOCOMMIT_MARK + sql)
        return execute(sql, params, many, context)

    per_booking: list[dict[str, Any]] = []
    for body in bodies[2 : 2 + args.count]:
        commits[0] = 0
        marked.clear()
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(mark):
            status, elapsed_ms = _post(client, body)
        statements = list(marked)
        per_booking.append(
            {
                "status": status,
                "ms": elapsed_ms,
                "statements": len(statements),
                "sql_ms": sum(float(q["time"]) for q in captured.captured_queries) * 1000,
                **transactions_of(statements, explicit_commits=commits[0]),
            }
        )
    sample = statements

    profiler = cProfile.Profile()
    profiled_ms: list[float] = []
    with collect_spans() as spans:
        for body in bodies[2 + args.count :]:
            profiler.enable()
            _, elapsed_ms = _post(client, body)
            profiler.disable()
            profiled_ms.append(elapsed_ms)
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stages = _stage_ms(STAGES, raw, spans, len(profiled_ms))

    refusal: dict[str, Any] = {}
    if args.full_restaurant and args.full_date:
        # A refused booking (409 with alternatives) — the answer 98 % of a hot-slot burst gets.
        refused = booking_body(
            restaurant=args.full_restaurant,
            local_date=args.full_date,
            local_time=args.full_time,
            party_size=2,
        )
        _post(client, refused)
        plain = [_post(client, refused) for _ in range(args.count // 2)]
        refusal_profiler = cProfile.Profile()
        with collect_spans() as refusal_spans:
            refusal_profiler.enable()
            for _ in range(args.count // 2):
                _post(client, refused)
            refusal_profiler.disable()
        refusal_raw: dict[Any, Any] = pstats.Stats(refusal_profiler).stats  # type: ignore[attr-defined]
        refusal = {
            "statuses": sorted({status for status, _ in plain}),
            "median_ms": percentile([ms for _, ms in plain], 0.5),
            "stages": _stage_ms(REFUSAL_STAGES, refusal_raw, refusal_spans, args.count // 2),
        }

    def median(key: str) -> float | None:
        return percentile([float(b[key]) for b in per_booking], 0.5)

    result = {
        "restaurant": args.restaurant,
        "date": args.date.isoformat(),
        "bookings": len(per_booking),
        "statuses": sorted({b["status"] for b in per_booking}),
        "median_ms": median("ms"),
        "median_sql_ms": median("sql_ms"),
        "median_statements": median("statements"),
        "median_commits": median("commits"),
        "median_explicit_transactions": median("explicit"),
        "median_autocommit_writes": median("autocommit_writes"),
        "profiled_median_ms": percentile(profiled_ms, 0.5),
        "stages": stages,
        "refusal": refusal,
        "sample_statements": [s[:160] for s in sample],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
