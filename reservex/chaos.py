"""``make chaos``: faults under booking traffic, on a private PostgreSQL and Redis; nothing may be lost.

``python -m reservex.chaos [--short] [--seconds N] [--clients N] [--deadline N]``

1. Starts its own PostgreSQL cluster (``initdb`` into a temporary folder, as the ``postgres`` user when
   run as root; 127.0.0.1 only, a free port, trust auth, ``max_connections`` 200) and its own
   ``redis-server`` (a free port, no persistence). The machine's Postgres and Redis are never used.
2. Migrates, seeds the demo restaurant and serves ReserveX on them as in production: gunicorn gthread
   (``reservex/gunicorn_conf.py``, no control socket), a Celery worker and Celery beat, RESERVEX_ENV
   staging, DEBUG off, throttles raised (one client address here), the sweeper quickened
   (ALLOCATION_STALE_SECONDS 15, ALLOCATION_SWEEP_SECONDS 5: a bounded run cannot wait the
   production 60 s + 30 s) and INLINE_MAX_CONCURRENT 3, so part of the bookings go through the queue.
3. Guests (``--clients`` threads) book the demo restaurant over many days, times and party sizes; like
   the widget, each retries with the same Idempotency-Key and body until a final answer (201; 202 then
   polled until confirmed or rejected; 409 CAPACITY_EXCEEDED / SLOT_UNAVAILABLE; 4xx), pausing as
   Retry-After says on a connection error, a 5xx, a 429 or 409 IDEMPOTENCY_IN_PROGRESS.
4. Meanwhile, on a timeline scaled to the run: SIGKILL of the Celery worker (a new one is started),
   Redis stopped for a few seconds and started again on its port (empty: the queue is lost),
   ``pg_ctl restart -m fast`` of the cluster, SIGKILL of one gunicorn worker.
5. Waits (bounded) for pending bookings to settle and checks: no accepted booking lost, one booking per
   key, no HTTP 500, every guest answered, nothing left pending, no overlapping table windows,
   ``check_integrity`` clean, no service died by itself. Prints the fault timeline, the answers by
   status and what each fault cost; exits 1 on any violation, 2 when the harness itself failed (or
   ran out of its deadline).
6. Stops everything it started and removes its temporary folder on any exit (Ctrl-C, SIGTERM, the
   deadline); the processes' logs and ``summary.json`` are kept in ``.reservex/chaos/``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
KEPT_LOGS = ROOT / ".reservex" / "chaos"
DEMO_SLUG = "white-horse-waterbeach"
RESTAURANT_TZ = ZoneInfo("Europe/London")
DATABASE = "reservex"
THROTTLE_OFF = "1000000/min"
NOTE_PREFIX = "chaos "  # each booking's notes carry its Idempotency-Key: one row per key is checkable
LUNCH = [f"{h:02d}:{m:02d}" for h in range(12, 15) for m in (0, 15, 30, 45) if (h, m) <= (14, 0)]
DINNER = [f"{h:02d}:{m:02d}" for h in range(17, 22) for m in (0, 15, 30, 45) if (17, 30) <= (h, m) <= (21, 0)]
PARTY_MIX = ((2, 45), (3, 10), (4, 28), (5, 5), (6, 8), (8, 4))
# Final refusals: the guest has an answer. 409 IDEMPOTENCY_IN_PROGRESS is not one (retry).
REFUSALS = {400, 404, 409, 410, 422}
RETRYABLE_CODES = {"IDEMPOTENCY_IN_PROGRESS"}
STARTED = time.monotonic()
PENDING_SQL = "SELECT count(*) FROM bookings_booking WHERE status = 'pending' AND notes LIKE %s"


def log(message: str) -> None:
    print(f"[chaos {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class HarnessError(RuntimeError):
    """The harness could not do its job (a service did not start, the deadline passed)."""


class Interrupted(BaseException):
    """SIGTERM or the hard deadline: unwind and clean up, like KeyboardInterrupt."""


# --- the plan --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What the run does and how big; ``--short`` is the ~20 s form for CI."""

    seconds: float = 60.0
    clients: int = 8
    redis_down_s: float = 8.0
    answer_budget_s: float = 30.0  # a guest retries this long before it counts as unanswered
    request_timeout_s: float = 40.0  # above the 25 s inline ceiling plus the 10 s pool wait
    settle_s: float = 60.0
    deadline_s: float = 240.0
    inline_max_concurrent: int = 3
    stale_s: int = 15
    sweep_s: int = 5
    web_workers: int = 2
    web_threads: int = 4
    celery_concurrency: int = 1
    seed: int = 13
    short: bool = False

    @classmethod
    def short_form(cls) -> Plan:
        return cls(
            seconds=20.0, redis_down_s=4.0, answer_budget_s=20.0, settle_s=45.0, deadline_s=180.0, short=True
        )

    def schedule(self) -> list[tuple[float, str]]:
        """Return (seconds after traffic starts, fault) pairs, spread over the run."""
        return [
            (round(self.seconds * 0.12, 1), "celery_worker_sigkill"),
            (round(self.seconds * 0.30, 1), "redis_outage"),
            (round(self.seconds * 0.55, 1), "postgres_restart"),
            (round(self.seconds * 0.78, 1), "gunicorn_worker_sigkill"),
        ]


# --- records ---------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP request and its answer; times in seconds since the traffic started."""

    kind: str  # "book" (POST /bookings), "poll" (GET the booking), "ready" (GET /readyz)
    sent: float
    done: float
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    code: str  # the error envelope's code, a polled booking's status, or the exception's name
    key: str = ""


@dataclass
class Guest:
    """One booking by one guest: one Idempotency-Key, retried until a final answer."""

    key: str
    body: dict[str, Any]
    started: float
    tries: int = 0
    answered: float | None = None
    status: int = 0  # the final answer's HTTP status
    code: str = ""  # its error code (refusals)
    reference: str = ""
    references: list[str] = field(default_factory=list)  # every reference any answer carried
    failures: list[float] = field(default_factory=list)  # when the non-final answers came
    pending: bool = False  # answered 202
    settled: float | None = None  # when a 202 was seen confirmed or rejected
    settled_status: str = ""
    next_poll: float = 0.0


@dataclass
class Fault:
    name: str
    at: float
    until: float  # when the fault was over (Redis back, Postgres restarted, a replacement started)
    detail: str
    marks: dict[str, float] = field(default_factory=dict)  # recovery marks seen during the run


@dataclass
class Sample:
    """What the monitor saw at one moment."""

    t: float
    ready: int  # /readyz status, 0 = no answer
    redis: bool
    consumers: int  # Redis clients blocked in BRPOP: a Celery worker consuming the queue
    throttle_keys: bool  # the throttles count in Redis again
    flag_keys: bool  # the flag cache is filled in Redis again
    queued: int  # messages waiting in the Celery queue (-1: Redis down)
    pending: int  # chaos bookings pending in the database (-1: not readable)


# --- small helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise HarnessError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f}s")


def retry_after(headers: dict[str, str], default: float, low: float = 0.2, high: float = 5.0) -> float:
    """Return the pause Retry-After asks for (delta seconds), kept within [low, high]."""
    try:
        seconds = float(headers.get("retry-after", "")) if headers.get("retry-after") else default
    except ValueError:
        seconds = default
    return max(low, min(seconds, high))


def http_call(
    port: int,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], Any]:
    """One request on a fresh connection: (status, lower-cased headers, JSON or None); 0 on no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = {"error": "NOT_JSON"}
        return response.status, found, payload
    except (OSError, http.client.HTTPException) as exc:
        return 0, {}, {"error": type(exc).__name__}
    finally:
        conn.close()


def error_code(status: int, payload: Any) -> str:
    if isinstance(payload, dict):
        if status in (201, 202):
            return str(payload.get("status", ""))
        return str(payload.get("error", ""))
    return ""


def children_of(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid`` (gunicorn's workers under its master)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def local_today() -> date:
    return datetime.now(RESTAURANT_TZ).date()


def guest_body(rng: random.Random, today: date, key: str) -> dict[str, Any]:
    """A booking of the demo restaurant 3–62 days ahead, at a bookable time, a pub's party mix."""
    day = today + timedelta(days=rng.randint(3, 62))
    times = DINNER + (LUNCH if day.weekday() != 0 else [])  # no lunch on Mondays
    sizes, weights = zip(*PARTY_MIX, strict=True)
    return {
        "restaurant": DEMO_SLUG,
        "date": day.isoformat(),
        "time": rng.choice(times),
        "party_size": rng.choices(sizes, weights=weights, k=1)[0],
        "guest_name": "Chaos Guest",
        "guest_email": "chaos@example.org",
        "guest_phone": "+44 1223 555 0199",
        "notes": f"{NOTE_PREFIX}{key}",
    }


# --- the private services --------------------------------------------------------------------------


def _pg_bin() -> Path:
    if explicit := os.environ.get("CHAOS_PG_BIN"):
        return Path(explicit)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise HarnessError("no initdb: install PostgreSQL server binaries or set CHAOS_PG_BIN")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in ``base``; run as ``postgres`` when we are root."""

    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.data = base / "data"
        self.logfile = base / "postgres.log"
        self.port = port
        self.bin = _pg_bin()
        self.started = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _command(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # A session of its own: Ctrl-C in the terminal must not reach the postmaster (we stop it).
        return subprocess.run(
            self._command(*args), capture_output=True, text=True, timeout=timeout, start_new_session=True
        )

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        done = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        if done.returncode:
            raise HarnessError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "logging_collector": "off",
        }
        conf = self.data / "postgresql.conf"
        lines = "".join(f"{k} = {v}\n" for k, v in settings.items())
        if os.geteuid() == 0:
            done = subprocess.run(
                self._command("sh", "-c", f"cat >> {conf}"), input=lines, text=True, capture_output=True
            )
            if done.returncode:
                raise HarnessError(f"could not write {conf}: {done.stderr}")
        else:
            with conf.open("a") as f:
                f.write(lines)

    def start(self) -> None:
        done = self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", "start"
        )
        if done.returncode:
            raise HarnessError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.tail()}")
        self.started = True

    def restart(self) -> None:
        done = self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
            "-m", "fast", "-w", "-t", "60", "restart",
        )  # fmt: skip
        if done.returncode:
            raise HarnessError(f"pg_ctl restart failed:\n{done.stdout}\n{done.stderr}\n{self.tail()}")

    def stop(self) -> None:
        if not self.started:
            return
        for mode in ("fast", "immediate"):
            with contextlib.suppress(subprocess.TimeoutExpired):
                done = self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "20", "stop"
                )
                if done.returncode == 0 or not (self.data / "postmaster.pid").exists():
                    self.started = False
                    return
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        self.started = False

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-3000:]
        return ""


class PrivateRedis:
    """A redis-server on 127.0.0.1:``port`` without persistence; can be stopped and started again."""

    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        binary = os.environ.get("CHAOS_REDIS_SERVER") or shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [
                *(binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.base)),
                *("--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"),
                *("--logfile", str(self.base / f"redis-{self.starts}.log")),
            ],
            start_new_session=True,
        )
        wait_for_port(self.port, 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


# --- ReserveX's processes ---------------------------------------------------------------------------


class Processes:
    """gunicorn, Celery worker(s) and beat, each in its own session; logs under ``logs``."""

    def __init__(self, env: dict[str, str], logs: Path, plan: Plan) -> None:
        self.env = env
        self.logs = logs
        self.plan = plan
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.beat: subprocess.Popen[bytes] | None = None
        self.all: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.workers_started = 0
        self.web_port = free_port()

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env or self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.all.append((name, process))
        return process

    def start_web(self) -> None:
        env = {**self.env, "RESERVEX_BIND": "127.0.0.1", "RESERVEX_PORT": str(self.web_port)}
        self.web = self._spawn(
            "web",
            [
                *(sys.executable, "-m", "gunicorn", "reservex.wsgi"),
                *("--config", "reservex/gunicorn_conf.py", "--no-control-socket"),
            ],
            env,
        )

    def start_worker(self) -> None:
        self.workers_started += 1
        n = self.workers_started
        self.worker = self._spawn(
            f"worker-{n}",
            [
                *(sys.executable, "-m", "celery", "-A", "reservex", "worker", "--loglevel", "INFO"),
                # No --queues: every queue of CELERY_TASK_QUEUES (allocation, maintenance, ...).
                *("--concurrency", str(self.plan.celery_concurrency)),
                *("--hostname", f"chaos-{os.getpid()}-{n}@%h"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
        )

    def start_beat(self, schedule: Path) -> None:
        self.beat = self._spawn(
            "beat",
            [
                *(sys.executable, "-m", "celery", "-A", "reservex", "beat", "--loglevel", "INFO"),
                *("--schedule", str(schedule)),
            ],
        )

    def dead(self) -> list[str]:
        """Return the services that exited by themselves (gunicorn's master, the worker, beat)."""
        running = [("web", self.web), ("worker", self.worker), ("beat", self.beat)]
        return [
            f"{name} (exit {p.returncode})" for name, p in running if p is not None and p.poll() is not None
        ]

    def check_alive(self) -> None:
        if dead := self.dead():
            raise HarnessError(f"exited: {', '.join(dead)}; see the logs in {self.logs}")

    def stop_all(self) -> None:
        running = [(name, p) for name, p in self.all if p.poll() is None]
        for _, process in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop on SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
        # Stragglers of our sessions (a pool child whose parent died first).
        for _, process in self.all:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


# --- the run --------------------------------------------------------------------------------------


class Run:
    """Traffic, faults and observation against one stack; the verdict comes from ``report``."""

    def __init__(
        self,
        plan: Plan,
        procs: Processes,
        pg: PrivatePostgres,
        redis_server: PrivateRedis,
        dsn: dict[str, Any],
    ) -> None:
        self.plan = plan
        self.dsn = dsn
        self.procs = procs
        self.pg = pg
        self.redis_server = redis_server
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.abort = threading.Event()  # deadline, Ctrl-C: everything stops at once
        self.traffic_over = threading.Event()
        self.poll_stop = threading.Event()
        self.monitor_stop = threading.Event()
        self.exchanges: list[Exchange] = []
        self.guests: list[Guest] = []
        self.faults: list[Fault] = []
        self.samples: list[Sample] = []
        self.pending_lock = threading.Lock()
        self.pending: dict[str, Guest] = {}
        self.today = local_today()
        self.end_of_traffic = 0.0
        self.threads: list[threading.Thread] = []
        self.died: list[str] = []  # services that exited by themselves during the run

    def now(self) -> float:
        return time.monotonic() - self.t0

    def call(
        self, kind: str, method: str, path: str, body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, timeout: float = 10.0, key: str = "",
    ) -> tuple[int, dict[str, str], Any, float]:  # fmt: skip
        sent = self.now()
        status, found, payload = http_call(self.procs.web_port, method, path, body, headers, timeout)
        done = self.now()
        self.exchanges.append(
            Exchange(kind, round(sent, 3), round(done, 3), status, error_code(status, payload), key)
        )
        return status, found, payload, done

    # guests ----------------------------------------------------------------------------------------

    def guest_loop(self, index: int) -> None:
        rng = random.Random(self.plan.seed * 1000 + index)  # noqa: S311 - test data, not secrets
        while not self.abort.is_set() and not self.traffic_over.is_set():
            key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            guest = Guest(key=key, body=guest_body(rng, self.today, key), started=self.now())
            self.guests.append(guest)
            self.book(guest)

    def book(self, guest: Guest) -> None:
        while not self.abort.is_set():
            if self.now() - guest.started > self.plan.answer_budget_s:
                return  # no final answer: a violation
            guest.tries += 1
            status, found, payload, done = self.call(
                "book", "POST", "/api/v1/bookings", guest.body, {"Idempotency-Key": guest.key},
                timeout=self.plan.request_timeout_s, key=guest.key,
            )  # fmt: skip
            code = error_code(status, payload)
            if status in (201, 202) and isinstance(payload, dict):
                guest.answered, guest.status, guest.code = done, status, code
                guest.reference = str(payload.get("reference", ""))
                guest.references.append(guest.reference)
                if code == "pending":
                    guest.pending = True
                    guest.next_poll = done + retry_after(found, 2.0)
                    with self.pending_lock:
                        self.pending[guest.reference] = guest
                elif code != "confirmed":
                    guest.settled_status = code
                return
            if status in REFUSALS and code not in RETRYABLE_CODES:
                guest.answered, guest.status, guest.code = done, status, code
                return
            guest.failures.append(done)
            default = 0.25 if status == 0 else 1.0
            self.abort.wait(retry_after(found, default))

    def poll_loop(self) -> None:
        """The widget polls a 202's poll_url until it is confirmed or rejected (as Retry-After says)."""
        while not self.poll_stop.is_set() and not self.abort.is_set():
            with self.pending_lock:
                due = [g for g in self.pending.values() if g.next_poll <= self.now()]
            for guest in due:
                if self.poll_stop.is_set() or self.abort.is_set():
                    return
                status, found, payload, done = self.call(
                    "poll", "GET", f"/api/v1/bookings/{guest.reference}", timeout=15, key=guest.key
                )
                booking_status = (
                    payload.get("status") if status == 200 and isinstance(payload, dict) else None
                )
                if booking_status and booking_status != "pending":
                    guest.settled, guest.settled_status = done, str(booking_status)
                    with self.pending_lock:
                        self.pending.pop(guest.reference, None)
                else:
                    guest.next_poll = done + retry_after(found, 0.5 if status != 200 else 2.0, high=2.0)
            self.poll_stop.wait(0.2)

    # the monitor -------------------------------------------------------------------------------------

    def monitor_loop(self) -> None:
        import psycopg
        import redis

        client = redis.Redis(
            host="127.0.0.1", port=self.redis_server.port, socket_timeout=0.3, socket_connect_timeout=0.3
        )
        db: psycopg.Connection[Any] | None = None
        while not self.monitor_stop.is_set() and not self.abort.is_set():
            status, _, _, t = self.call("ready", "GET", "/readyz", timeout=3)  # t: when it answered
            up, consumers, throttles, flag_cache, queued, pending = False, 0, False, False, -1, -1
            try:
                consumers = sum(1 for c in client.client_list() if c.get("cmd") in ("brpop", "blpop"))
                throttles = bool(client.keys("*:throttle:*"))
                flag_cache = bool(client.keys("*flags:overrides*"))
                queued = int(client.llen("reservex"))
                up = True
            except Exception:  # noqa: BLE001, S110 - Redis down is what is being observed
                pass
            try:
                db = db or psycopg.connect(**self.dsn, autocommit=True, connect_timeout=1)
                row = db.execute(PENDING_SQL, [f"{NOTE_PREFIX}%"]).fetchone()
                pending = int(row[0]) if row else -1
            except psycopg.Error:
                if db is not None:
                    db.close()
                db = None
            self.samples.append(
                Sample(round(t, 3), status, up, consumers, throttles, flag_cache, queued, pending)
            )
            self.monitor_stop.wait(0.25)
        client.close()
        if db is not None:
            db.close()

    # faults ----------------------------------------------------------------------------------------

    def wait_until(self, t: float) -> None:
        while (left := t - self.now()) > 0:
            if self.abort.wait(min(left, 0.5)):
                raise Interrupted("aborted")
            self.note_deaths()

    def note_deaths(self) -> None:
        for name in self.procs.dead():
            if name not in self.died:
                self.died.append(name)
                log(f"{name} died by itself at t={self.now():.1f}s")

    def inject(self, name: str) -> Fault:
        at = self.now()
        if name == "celery_worker_sigkill":
            worker = self.procs.worker
            assert worker is not None
            pids = [worker.pid, *children_of(worker.pid)]
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
            self.procs.start_worker()
            return Fault(name, at, self.now(), f"SIGKILL worker pids {pids}; a new worker started at once")
        if name == "redis_outage":
            self.redis_server.stop()
            stopped = self.now()
            self.wait_until(stopped + self.plan.redis_down_s)
            self.redis_server.start()
            return Fault(
                name, at, self.now(), f"redis-server stopped for {self.plan.redis_down_s:.0f}s, started empty"
            )
        if name == "postgres_restart":
            self.pg.restart()
            return Fault(name, at, self.now(), "pg_ctl restart -m fast")
        if name == "gunicorn_worker_sigkill":
            web = self.procs.web
            assert web is not None
            before = children_of(web.pid)
            victim = before[0]
            os.kill(victim, signal.SIGKILL)
            fault = Fault(name, at, self.now(), f"SIGKILL gunicorn worker {victim} of {len(before)}")
            deadline = self.now() + 20
            while self.now() < deadline:
                fresh = set(children_of(web.pid)) - set(before)
                if fresh:
                    fault.marks["replacement_worker_s"] = round(self.now() - at, 2)
                    break
                time.sleep(0.05)
            return fault
        raise ValueError(name)

    def drive(self) -> None:
        """Traffic for plan.seconds with the faults on their timeline; then let the guests finish."""
        threads = [
            threading.Thread(target=self.guest_loop, args=(i,), name=f"guest-{i}", daemon=True)
            for i in range(self.plan.clients)
        ]
        poller = threading.Thread(target=self.poll_loop, name="poller", daemon=True)
        monitor = threading.Thread(target=self.monitor_loop, name="monitor", daemon=True)
        self.t0, self.wall0 = time.monotonic(), time.time()
        for thread in [monitor, poller, *threads]:
            thread.start()
        log(f"traffic: {self.plan.clients} guests for {self.plan.seconds:.0f}s")
        for at, name in self.plan.schedule():
            self.wait_until(at)
            fault = self.inject(name)
            self.faults.append(fault)
            log(f"t={fault.at:5.1f}s {name}: {fault.detail} (over at t={fault.until:.1f}s)")
        self.wait_until(self.plan.seconds)
        self.traffic_over.set()
        log(f"traffic over; guests finish their bookings (at most {self.plan.answer_budget_s:.0f}s)")
        finish_by = time.monotonic() + self.plan.answer_budget_s + self.plan.request_timeout_s + 5
        for thread in threads:
            thread.join(timeout=max(0.1, finish_by - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            log("some guests still had a request open; they count as unanswered")
        self.end_of_traffic = self.now()
        self.threads = [poller, monitor]
        self.note_deaths()

    def settle(self) -> tuple[int, float]:
        """Wait (bounded) until no chaos booking is pending in the database; return (left, seconds)."""
        import psycopg

        started = self.now()
        left = -1
        while self.now() - started < self.plan.settle_s and not self.abort.is_set():
            with contextlib.suppress(psycopg.Error), psycopg.connect(**self.dsn, connect_timeout=3) as conn:
                row = conn.execute(PENDING_SQL, [f"{NOTE_PREFIX}%"]).fetchone()
                left = int(row[0]) if row else -1
            with self.pending_lock:
                polled = len(self.pending)
            if left == 0 and polled == 0:
                break
            self.abort.wait(0.5)
        # One more look by the poller at anything it still holds.
        self.abort.wait(min(3.0, max(0.0, self.plan.settle_s - (self.now() - started))))
        self.poll_stop.set()
        self.monitor_stop.set()
        for thread in self.threads:
            thread.join(timeout=20)
        self.note_deaths()
        return left, round(self.now() - started, 1)


# --- checks and report ----------------------------------------------------------------------------


def status_label(status: int, code: str) -> str:
    if status == 0:
        return f"no answer ({code})"
    return f"{status} {code}".strip()


@dataclass
class Observations:
    """Everything a run saw, in seconds since the traffic started: the input of the analysis."""

    faults: list[Fault]
    exchanges: list[Exchange]
    guests: list[Guest]
    samples: list[Sample]
    end_of_traffic: float
    celery: list[tuple[float, str]] = field(default_factory=list)  # (t, event) from the workers' logs
    died: list[str] = field(default_factory=list)  # services that exited by themselves


@dataclass
class FaultCost:
    name: str
    at: float
    until: float
    window_end: float
    answered: int  # guests whose final answer came in the window
    answer_p50_ms: float | None  # their time to a final answer (retries included)
    answer_p95_ms: float | None
    failed: dict[str, int]  # non-final answers to booking POSTs in the window, by label
    http_503: int  # any request (booking, poll, /readyz)
    http_5xx_other: int  # any request
    no_answer: int  # booking POSTs without an HTTP answer
    guests_delayed: int  # guests whose first failed try fell in the window
    delay_median_s: float | None  # their time to a final answer
    delay_max_s: float | None
    last_failure_s: float | None  # after the fault started
    recovered_s: float | None  # first 201/202 to a booking sent after the last failure
    pending_202: int  # 202 answers given in the window
    pending_wait_median_s: float | None  # 202 → seen confirmed/rejected by the poller
    pending_wait_max_s: float | None
    backlog_max: int  # most chaos bookings pending in the database at once
    marks: dict[str, float]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000)


def fault_costs(obs: Observations) -> list[FaultCost]:
    """Cost of each fault over its window (from it to the next one); the first row is the quiet
    stretch before any fault, the baseline."""
    quiet = Fault("(before any fault)", 0.0, 0.0, "baseline")
    faults = [quiet, *obs.faults]
    ends = [f.at for f in obs.faults] + [obs.end_of_traffic]
    baseline_backlog = 0
    costs = []
    for fault, end in zip(faults, ends, strict=True):
        book = [x for x in obs.exchanges if x.kind == "book" and fault.at <= x.done < end]
        failures = [x for x in book if x.status not in (201, 202) and not _is_refusal(x)]
        every = [x for x in obs.exchanges if fault.at <= x.done < end]
        last_failure = max((x.done for x in failures), default=None)
        first_ok = None
        if last_failure is not None:
            first_ok = min(
                (
                    x.done
                    for x in obs.exchanges
                    if x.kind == "book" and x.status in (201, 202) and x.sent >= last_failure
                ),
                default=None,
            )
        answered = [g for g in obs.guests if g.answered is not None and fault.at <= g.answered < end]
        times = [g.answered - g.started for g in answered if g.answered is not None]
        delayed = [g for g in obs.guests if g.failures and fault.at <= g.failures[0] < end]
        delays = [g.answered - g.started for g in delayed if g.answered is not None]
        pending = [g for g in answered if g.pending]
        waits = [g.settled - g.answered for g in pending if g.settled is not None and g.answered is not None]
        backlog = max((s.pending for s in obs.samples if fault.at <= s.t < end), default=0)
        if fault is quiet:
            baseline_backlog = backlog
        costs.append(
            FaultCost(
                name=fault.name,
                at=round(fault.at, 1),
                until=round(fault.until, 1),
                window_end=round(end, 1),
                answered=len(answered),
                answer_p50_ms=_ms(_pct(times, 0.5)),
                answer_p95_ms=_ms(_pct(times, 0.95)),
                failed=dict(Counter(status_label(x.status, x.code) for x in failures).most_common()),
                http_503=sum(1 for x in every if x.status == 503),
                http_5xx_other=sum(1 for x in every if x.status >= 500 and x.status != 503),
                no_answer=sum(1 for x in book if x.status == 0),
                guests_delayed=len(delayed),
                delay_median_s=_rounded(statistics.median(delays) if delays else None),
                delay_max_s=_rounded(max(delays) if delays else None),
                last_failure_s=_rounded(None if last_failure is None else last_failure - fault.at),
                recovered_s=_rounded(None if first_ok is None else first_ok - fault.at),
                pending_202=len(pending),
                pending_wait_median_s=_rounded(statistics.median(waits) if waits else None, 1),
                pending_wait_max_s=_rounded(max(waits) if waits else None, 1),
                backlog_max=backlog,
                marks={}
                if fault is quiet
                else {**fault.marks, **subsystem_marks(obs, fault, end, baseline_backlog)},
            )
        )
    return costs


def _is_refusal(x: Exchange) -> bool:
    return x.status in REFUSALS and x.code not in RETRYABLE_CODES


def subsystem_marks(obs: Observations, fault: Fault, end: float, baseline_backlog: int) -> dict[str, float]:
    """Seconds after the fault was over until each part was seen working again (monitor samples)."""
    marks: dict[str, float] = {}
    later = [s for s in obs.samples if s.t >= fault.until]

    def first(pred: Callable[[Sample], bool]) -> float | None:
        return next((round(s.t - fault.until, 2) for s in later if pred(s)), None)

    def celery(kind: str) -> float | None:
        return next((round(t - fault.until, 2) for t, k in obs.celery if k == kind and t >= fault.at), None)

    if fault.name == "celery_worker_sigkill" and (t := celery("ready")) is not None:
        marks["new_worker_ready_s"] = t
    if fault.name == "redis_outage" and (t := celery("connected")) is not None:
        marks["worker_reconnected_s"] = t
    if (
        t := next(
            (round(t - fault.until, 2) for t, k in obs.celery if k == "task_done" and t >= fault.until), None
        )
    ) is not None:
        marks["first_background_job_done_s"] = t
    if fault.name in ("redis_outage", "celery_worker_sigkill"):
        sweep = next(
            (round(t - fault.until, 2) for t, k in obs.celery if k == "sweep_done" and t >= fault.until), None
        )
        if sweep is not None:
            marks["first_sweep_done_s"] = sweep
    retries = sum(1 for t, k in obs.celery if k == "task_retry" and fault.at <= t < end)
    if retries:
        marks["background_job_retries"] = retries
    if fault.name == "redis_outage":
        if (t := first(lambda s: s.throttle_keys)) is not None:
            marks["throttles_counting_again_s"] = t
        if (t := first(lambda s: s.flag_keys)) is not None:
            marks["flag_cache_filled_again_s"] = t
    if fault.name == "postgres_restart":
        # The web processes' pools: the last 503 of any request, after Postgres was back.
        unavailable = [x.done for x in obs.exchanges if x.status == 503 and fault.at <= x.done < end]
        if unavailable:
            marks["last_503_after_postgres_back_s"] = round(max(unavailable) - fault.until, 2)
        not_ready = [s.t for s in obs.samples if s.ready != 200 and fault.at <= s.t < end]
        if not_ready:
            marks["readyz_not_200_samples"] = len(not_ready)
            marks["readyz_200_again_s"] = next(
                (round(s.t - fault.until, 2) for s in later if s.t > max(not_ready) and s.ready == 200), -1.0
            )
    # The pending backlog: only when it grew in this window (earlier faults' backlogs drain later).
    window = [s for s in obs.samples if fault.at <= s.t < end and s.pending >= 0]
    if window and (peak := max(s.pending for s in window)) > max(window[0].pending, baseline_backlog):
        peak_t = next(s.t for s in window if s.pending == peak)
        back = next((s.t for s in obs.samples if s.t > peak_t and 0 <= s.pending <= baseline_backlog), None)
        marks["pending_backlog_peak"] = peak
        if back is not None:
            marks["pending_backlog_normal_again_s"] = round(back - fault.until, 1)
    return marks


def database_view(dsn: dict[str, Any]) -> dict[str, Any]:
    """Chaos bookings as the database has them, and overlapping active table windows."""
    import psycopg

    with psycopg.connect(**dsn, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT substr(notes, %s), reference, status FROM bookings_booking WHERE notes LIKE %s",
            [len(NOTE_PREFIX) + 1, f"{NOTE_PREFIX}%"],
        ).fetchall()
        overlaps = conn.execute(
            "SELECT count(*) FROM bookings_tableoccupancy a JOIN bookings_tableoccupancy b "
            "ON a.table_id = b.table_id AND a.id < b.id AND a.during && b.during "
            "WHERE a.released_at IS NULL AND b.released_at IS NULL"
        ).fetchone()
    by_key: dict[str, list[dict[str, str]]] = {}
    for key, reference, status in rows:
        by_key.setdefault(key, []).append({"reference": reference, "status": status})
    return {"by_key": by_key, "overlaps": int(overlaps[0]) if overlaps else -1}


def verdict(
    obs: Observations, db: dict[str, Any], integrity: dict[str, Any], pending_left: int
) -> dict[str, int]:
    """Count every violation (each must be 0)."""
    by_key: dict[str, list[dict[str, str]]] = db["by_key"]
    accepted = [g for g in obs.guests if g.status in (201, 202)]
    stored = {g.key: {b["reference"] for b in by_key.get(g.key, [])} for g in accepted}
    return {
        "accepted_lost": sum(1 for g in accepted if g.reference not in stored[g.key]),
        "duplicates_per_key": sum(len(rows) - 1 for rows in by_key.values() if len(rows) > 1),
        "answers_with_another_reference": sum(1 for g in accepted if len(set(g.references)) > 1),
        "booked_but_told_otherwise": sum(
            1 for g in obs.guests if g.status not in (201, 202) and g.key in by_key
        ),
        "http_500": sum(1 for x in obs.exchanges if x.status >= 500 and x.status != 503),
        "unanswered": sum(1 for g in obs.guests if g.answered is None),
        "pending_left": pending_left if pending_left >= 0 else 1,
        "pending_never_final_for_guest": sum(1 for g in accepted if g.pending and g.settled is None),
        "overlaps": db["overlaps"] if db["overlaps"] >= 0 else 1,
        "check_integrity_failed": 0 if integrity.get("exit_code") == 0 else 1,
        "services_died": len(obs.died),
    }


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join("—" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


COST_HEADERS = [
    *("window", "answered", "p50 / p95 ms", "failed tries", "503", "other 5xx", "no answer"),
    *("guests delayed", "their wait median / max s", "last failure +s", "next success +s"),
    *("202s", "202 → final median / max s", "pending peak"),
]


def _pair(a: float | None, b: float | None) -> str | None:
    return None if a is None and b is None else f"{a} / {b}"


def cost_row(c: FaultCost) -> list[Any]:
    return [
        *(c.name, f"{c.at:.1f}–{c.window_end:.1f}", c.answered, _pair(c.answer_p50_ms, c.answer_p95_ms)),
        *(sum(c.failed.values()), c.http_503, c.http_5xx_other, c.no_answer, c.guests_delayed),
        *(_pair(c.delay_median_s, c.delay_max_s), c.last_failure_s, c.recovered_s, c.pending_202),
        *(_pair(c.pending_wait_median_s, c.pending_wait_max_s), c.backlog_max),
    ]


def report(
    plan: Plan, obs: Observations, costs: list[FaultCost], violations: dict[str, int],
    integrity: dict[str, Any], settle_s: float, tracebacks: dict[str, int],
) -> str:  # fmt: skip
    book = [x for x in obs.exchanges if x.kind == "book"]
    answers = Counter(status_label(x.status, x.code) for x in book)
    polls = Counter(status_label(x.status, x.code) for x in obs.exchanges if x.kind == "poll")
    ready = Counter(status_label(x.status, x.code) for x in obs.exchanges if x.kind == "ready")
    outcomes = Counter(
        ("unanswered" if g.answered is None else status_label(g.status, g.code))
        + (f" → {g.settled_status or 'never final'}" if g.pending else "")
        for g in obs.guests
    )
    out = [
        f"## Run: {plan.clients} guests, {plan.seconds:.0f} s of traffic"
        f"{' (short form)' if plan.short else ''}, {len(obs.guests)} bookings tried",
        "",
        "### Faults (seconds since the traffic started)",
        "",
        table(
            ["t", "fault", "what", "over at"],
            [[f"{f.at:.1f}", f.name, f.detail, f"{f.until:.1f}"] for f in obs.faults],
        ),
        "",
        "### Answers to POST /api/v1/bookings (every try)",
        "",
        table(["answer", "count"], [[k, v] for k, v in answers.most_common()]),
        "",
        "### Final outcome per guest (one Idempotency-Key each)",
        "",
        table(["outcome", "guests"], [[k, v] for k, v in outcomes.most_common()]),
        "",
        f"Polls of 202 bookings: {dict(polls.most_common())}. /readyz samples: {dict(ready.most_common())}.",
        "",
        "### What each fault cost (its window runs to the next fault; the first row is the baseline)",
        "",
        table(["fault", *COST_HEADERS], [cost_row(c) for c in costs]),
        "",
        "### Recovery marks (seconds after the fault was over; monitor sampled every ~0.3 s)",
        "",
        table(
            ["fault", "over at", "marks"],
            [[c.name, c.until, ", ".join(f"{k} {v}" for k, v in c.marks.items()) or "—"] for c in costs[1:]],
        ),
        "",
        "Failed tries by answer: " + "; ".join(f"{c.name}: {c.failed or 'none'}" for c in costs),
        "",
        f"Settling took {settle_s:.1f} s. check_integrity: {integrity.get('violations')} "
        f"(exit {integrity.get('exit_code')}). Services that died by themselves: {obs.died or 'none'}.",
        "",
        "### Checks (each must be 0)",
        "",
        table(["check", "count"], [[k, v] for k, v in violations.items()]),
    ]
    if tracebacks:
        out += [
            "",
            "Exceptions in the logs (last line of each traceback; approximate where threads interleave):",
            "",
        ]
        out += [f"- `{line}` × {n}" for line, n in sorted(tracebacks.items(), key=lambda kv: -kv[1])]
    return "\n".join(out)


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Lost)\b.*)$")
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def traceback_summary(logs: Path) -> dict[str, int]:
    """Return {'<log>: <exception line>': count}: the last exception of every traceback chain."""
    found: Counter[str] = Counter()
    for path in sorted(logs.glob("*.log")):
        in_traceback, last = False, None
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Traceback (most recent call last)"):
                in_traceback, last = True, None
            elif in_traceback and line and not line.startswith((" ", "\t")):
                in_traceback = False
                match = _EXCEPTION_LINE.match(line.strip())
                last = f"{path.stem.split('-')[0]}: {match.group(1)[:160]}" if match else None
            elif last is not None and line.strip():
                if not line.startswith(_CHAINED):
                    found[last] += 1
                last = None
        if last is not None:
            found[last] += 1
    return dict(found)


_CELERY_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): \w+/[\w-]+\] (.*)$")
CELERY_EVENTS = (
    ("connected", re.compile(r"^Connected to redis")),
    ("ready", re.compile(r"^\S+ ready\.$")),
    ("broker_lost", re.compile(r"Connection to broker lost")),
    ("task_done", re.compile(r"^Task allocator\.tasks\.allocate_booking\[\S+\] succeeded")),
    ("task_retry", re.compile(r"^Task allocator\.tasks\.allocate_booking\[\S+\] retry")),
    ("sweep_done", re.compile(r"^Task allocator\.tasks\.requeue_stale_pending\[\S+\] succeeded")),
)


def celery_events(logs: Path, wall0: float) -> list[tuple[float, str]]:
    """Return (seconds since the traffic started, event) from the Celery workers' logs, in order."""
    events = []
    for path in sorted(logs.glob("worker-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            match = _CELERY_LINE.match(line)
            if not match:
                continue
            # Celery writes local time; a naive datetime's timestamp() reads it as local time too.
            stamp = (
                datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
                + int(match.group(2)) / 1000
            )
            for kind, pattern in CELERY_EVENTS:
                if pattern.search(match.group(3)):
                    events.append((round(stamp - wall0, 3), kind))
    return sorted(events)


# --- orchestration ---------------------------------------------------------------------------------


def service_env(plan: Plan, database_url: str, redis_url: str, prom_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "reservex.settings",
            "RESERVEX_ENV": "staging",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
            "THROTTLE_RATE_IP": THROTTLE_OFF,
            "THROTTLE_RATE_RESTAURANT": THROTTLE_OFF,
            "INLINE_MAX_CONCURRENT": str(plan.inline_max_concurrent),
            "ALLOCATION_STALE_SECONDS": str(plan.stale_s),
            "ALLOCATION_SWEEP_SECONDS": str(plan.sweep_s),
            "WEB_WORKERS": str(plan.web_workers),
            "WEB_THREADS": str(plan.web_threads),
            "WEB_ACCESS_LOG": "",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def manage(
    env: dict[str, str], logs: Path, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    with (logs / "manage.log").open("a") as out:
        out.write(f"$ manage.py {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}\n")
    return done


def wait_ready(run_port: int, procs: Processes, redis_port: int, timeout: float) -> None:
    """Wait for /readyz 200 and a Celery worker blocked on the queue."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=1)
    deadline = time.monotonic() + timeout
    web_ok = consuming = False
    while time.monotonic() < deadline:
        procs.check_alive()
        if not web_ok:
            web_ok = http_call(run_port, "GET", "/readyz", timeout=3)[0] == 200
        if not consuming:
            with contextlib.suppress(redis.RedisError):
                consuming = any(c.get("cmd") in ("brpop", "blpop") for c in client.client_list())
        if web_ok and consuming:
            client.close()
            return
        time.sleep(0.25)
    client.close()
    raise HarnessError(f"not ready within {timeout:.0f}s (web {web_ok}, worker consuming {consuming})")


def keep_logs(workdir: Path, pg: PrivatePostgres | None) -> None:
    """Copy the run's logs to .reservex/chaos/ (replacing the previous run's) before the folder goes."""
    with contextlib.suppress(OSError):
        if KEPT_LOGS.exists():
            shutil.rmtree(KEPT_LOGS)
        KEPT_LOGS.mkdir(parents=True)
        for path in (workdir / "logs").glob("*"):
            shutil.copy2(path, KEPT_LOGS / path.name)
        for path in (workdir / "redis").glob("*.log"):
            shutil.copy2(path, KEPT_LOGS / path.name)
        if pg is not None and pg.logfile.exists():
            shutil.copy2(pg.logfile, KEPT_LOGS / "postgres.log")


def execute(plan: Plan) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="reservex-chaos-"))
    workdir.chmod(0o711)  # the postgres user must reach its folder inside
    logs = workdir / "logs"
    logs.mkdir()
    pg: PrivatePostgres | None = None
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        stack.callback(lambda: keep_logs(workdir, pg))
        pg = PrivatePostgres(workdir / "pg", free_port())
        pg.init()
        stack.callback(pg.stop)
        pg.start()
        redis_server = PrivateRedis(workdir / "redis", free_port())
        stack.callback(redis_server.stop)
        redis_server.start()
        log(f"private PostgreSQL on 127.0.0.1:{pg.port} ({pg.bin}), Redis on 127.0.0.1:{redis_server.port}")

        import psycopg

        dsn: dict[str, Any] = {"host": "127.0.0.1", "port": pg.port, "user": "postgres", "dbname": DATABASE}
        with psycopg.connect(**{**dsn, "dbname": "postgres"}, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        (workdir / "prometheus").mkdir()
        env = service_env(plan, pg.url, redis_server.url, workdir / "prometheus")
        for args in (("migrate", "--no-input", "-v", "0"), ("seed_demo",)):
            done = manage(env, logs, *args)
            if done.returncode:
                raise HarnessError(
                    f"manage.py {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
                )
        with psycopg.connect(**dsn, autocommit=True) as conn:
            conn.execute("ANALYZE")
        log("migrated and seeded the demo restaurant")

        procs = Processes(env, logs, plan)
        stack.callback(procs.stop_all)
        procs.start_worker()
        procs.start_beat(workdir / "celerybeat-schedule")
        procs.start_web()
        wait_ready(procs.web_port, procs, redis_server.port, timeout=90)
        log(
            f"serving on http://127.0.0.1:{procs.web_port}: gunicorn {plan.web_workers}x{plan.web_threads}, "
            f"celery x{plan.celery_concurrency}, beat"
        )

        run = Run(plan, procs, pg, redis_server, dsn)
        stack.callback(run.abort.set)  # first thing on the way out: the guests stop
        run.drive()
        log(f"waiting for pending bookings to settle (at most {plan.settle_s:.0f}s)")
        pending_left, settle_s = run.settle()
        integrity_run = manage(env, logs, "check_integrity", "--json", timeout=120)
        lines = [line for line in integrity_run.stdout.splitlines() if line.strip().startswith("{")]
        integrity: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False}
        integrity["exit_code"] = integrity_run.returncode
        db = database_view(dsn)
        procs.stop_all()  # before reading the logs: everything flushed
        obs = Observations(
            run.faults,
            run.exchanges,
            run.guests,
            run.samples,
            run.end_of_traffic,
            celery_events(logs, run.wall0),
        )
        costs = fault_costs(obs)
        violations = verdict(obs, db, integrity, pending_left)
        tracebacks = traceback_summary(logs)
        text = report(plan, obs, costs, violations, integrity, settle_s, tracebacks)
        print("\n" + text + "\n", flush=True)
        summary = {
            "plan": asdict(plan),
            "faults": [asdict(f) for f in run.faults],
            "costs": [asdict(c) for c in costs],
            "violations": violations,
            "integrity": integrity,
            "guests": len(run.guests),
            "exchanges": len(run.exchanges),
            "tracebacks": tracebacks,
        }
        (logs / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        (logs / "report.md").write_text(text + "\n")
        (logs / "exchanges.jsonl").write_text("".join(json.dumps(asdict(x)) + "\n" for x in run.exchanges))
        (logs / "samples.jsonl").write_text("".join(json.dumps(asdict(x)) + "\n" for x in run.samples))
        failed = {k: v for k, v in violations.items() if v}
        if failed:
            log(f"FAIL: {failed} (logs in {KEPT_LOGS.relative_to(ROOT)}/)")
            return 1
        log(
            f"PASS: nothing lost, no duplicate, no 500, all answered (logs in {KEPT_LOGS.relative_to(ROOT)}/)"
        )
        return 0
    return 2  # not reached: the with block returns or raises


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reservex.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="the ~20 s form for CI (CHAOS_SHORT=1)")
    parser.add_argument("--seconds", type=float, help="seconds of traffic (default 60; 20 with --short)")
    parser.add_argument("--clients", type=int, help="concurrent guests (default 8)")
    parser.add_argument("--deadline", type=float, help="hard limit on the whole run, seconds (default 240)")
    parser.add_argument("--seed", type=int, help="random seed of the guests' bookings")
    args = parser.parse_args(argv)
    short = args.short or os.environ.get("CHAOS_SHORT", "") not in ("", "0")
    plan = Plan.short_form() if short else Plan()
    if args.seconds or os.environ.get("CHAOS_SECONDS"):
        plan.seconds = float(args.seconds or os.environ["CHAOS_SECONDS"])
    if args.clients:
        plan.clients = args.clients
    if args.deadline:
        plan.deadline_s = args.deadline
    if args.seed is not None:
        plan.seed = args.seed

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise Interrupted("deadline passed" if signum == signal.SIGALRM else f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGALRM, interrupted)
    signal.alarm(int(plan.deadline_s))
    try:
        return execute(plan)
    except (HarnessError, Interrupted, KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
        log(f"ERROR: {type(exc).__name__}: {exc} (logs in {KEPT_LOGS.relative_to(ROOT)}/)")
        return 2
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
