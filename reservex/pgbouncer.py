"""A private PgBouncer in transaction mode in front of a PostgreSQL server, for tests and load runs.

``python -m reservex.pgbouncer pytest [args]`` starts PgBouncer (the machine's ``pgbouncer``
binary, Debian's package) on a free 127.0.0.1 port as a foreground child, points DATABASE_URL at
it with DATABASE_PGBOUNCER=1, runs pytest on a test database of its own, then stops PgBouncer and
drops that database. ``pgbouncer()`` is the same as a context manager (make multinode uses it).

Transaction mode is what production poolers run: every transaction may get another server
connection, so anything kept in a session between transactions would break (decision 0014).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from reservex.devstack import ROOT, connect_params

# Server connections per (database, user): above the widest race in the tests (50 threads queue in
# PgBouncer for fewer server connections, as they would in production), below the machine's
# max_connections, which several test runs share.
DEFAULT_POOL_SIZE = 24
DEFAULT_TEST_SUFFIX = "_pgbouncer"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log(message: str) -> None:
    print(f"[pgbouncer] {message}", flush=True)


def binary() -> str:
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(found).exists():
        raise SystemExit(
            "pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/system-packages)"
        )
    return found


def write_config(directory: Path, upstream: dict[str, Any], port: int, pool_size: int) -> Path:
    """Write pgbouncer.ini and its auth file: transaction pooling, every database of the upstream."""
    host = upstream.get("host", "127.0.0.1")
    upstream_port = upstream.get("port", 5432)
    user = str(upstream.get("user", "postgres"))
    password = str(upstream.get("password", ""))
    auth = directory / "userlist.txt"
    auth.write_text(f'"{user}" "{password}"\n')
    ini = directory / "pgbouncer.ini"
    # The server password rides in the wildcard entry, so clients authenticate to PgBouncer only.
    server_password = f" password={password}" if password else ""
    ini.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={host} port={upstream_port} user={user}{server_password}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {auth}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "max_client_conn = 2000",
                "max_db_connections = 0",
                # Clients wait in PgBouncer for a server connection; a request's own timeouts bound it.
                "query_wait_timeout = 60",
                # Idle server connections go quickly, so a database can be dropped soon after a run.
                "server_idle_timeout = 10",
                # psycopg sends no extra startup parameters; JDBC-style clients send this one.
                "ignore_startup_parameters = extra_float_digits",
                "log_connections = 0",
                "log_disconnections = 0",
                "log_pooler_errors = 1",
                "stats_period = 60",
                "",
            ]
        )
    )
    return ini


@contextlib.contextmanager
def pgbouncer(upstream_url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Iterator[tuple[str, Path]]:
    """Run PgBouncer in front of ``upstream_url``'s server; yield (the same URL through it, its log)."""
    upstream = connect_params(upstream_url)
    if str(upstream.get("host", "127.0.0.1")).startswith("/"):
        raise SystemExit(
            "PgBouncer here fronts a TCP server: set DATABASE_URL to postgres://…@127.0.0.1:5432/…"
        )
    directory = Path(tempfile.mkdtemp(prefix="reservex-pgbouncer-"))
    port = _free_port()
    ini = write_config(directory, upstream, port, pool_size)
    log_path = directory / "pgbouncer.log"
    command = [binary(), str(ini)]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; drop to the postgres account, which must read the config.
        account = pwd.getpwnam("postgres")
        os.chown(directory, account.pw_uid, account.pw_gid)
        for path in directory.iterdir():
            os.chown(path, account.pw_uid, account.pw_gid)
        command += ["-u", "postgres"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_serving(process, port, log_path)
        url = urlunsplit(urlsplit(upstream_url)._replace(netloc=_netloc(upstream, port)))
        _log(
            f"transaction pooling on 127.0.0.1:{port} (pid {process.pid}, pool {pool_size}) in front of "
            f"{upstream.get('host', '127.0.0.1')}:{upstream.get('port', 5432)}"
        )
        yield url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _netloc(upstream: dict[str, Any], port: int) -> str:
    user = quote(str(upstream.get("user", "postgres")), safe="")
    return f"{user}@127.0.0.1:{port}"


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"pgbouncer exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"pgbouncer did not listen on 127.0.0.1:{port} within 15 s")


def drop_database(upstream_url: str, name: str) -> None:
    """Drop a database on the server itself (not through PgBouncer, whose idle links would block it)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**connect_params(upstream_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_pytest(pytest_args: list[str]) -> int:
    """Run pytest with every connection going through a transaction-mode PgBouncer."""
    upstream_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reservex")
    test_name = os.environ.get("DATABASE_TEST_NAME", "test_reservex") + DEFAULT_TEST_SUFFIX
    drop_database(upstream_url, test_name)
    try:
        with pgbouncer(upstream_url) as (url, log_path):
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "DATABASE_PGBOUNCER": "1",
                "DATABASE_TEST_NAME": test_name,
            }
            # --reuse-db: pytest-django would drop the test database at the end through PgBouncer,
            # whose pooled server links still hold it; it is dropped on the server below instead.
            command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--reuse-db", *pytest_args]
            done = subprocess.run(command, cwd=ROOT, env=env)
            errors = [
                line for line in log_path.read_text().splitlines() if " ERROR " in line or "FATAL" in line
            ]
            if errors:
                _log("PgBouncer logged errors:\n" + "\n".join(errors[-20:]))
            return done.returncode
    finally:
        drop_database(upstream_url, test_name)


def main(argv: list[str]) -> int:
    # Everything after "pytest" goes to pytest untouched (argparse would take its -p and -k).
    if not argv or argv[0] != "pytest":
        raise SystemExit("usage: python -m reservex.pgbouncer pytest [pytest arguments]")
    return run_pytest(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
