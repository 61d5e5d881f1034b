"""ReserveX keeps no session state, so PgBouncer in transaction mode cannot break it (decision 0014).

Behind a transaction-mode pooler consecutive transactions of one client may run on different server
connections, and one server connection serves many clients in turn. Anything that outlives a
transaction (a session advisory lock, a plain SET, LISTEN, a temporary table, a WITH HOLD cursor,
a named prepared statement) would leak to another client or be lost. This scans our own code for
those constructs and checks what DATABASE_PGBOUNCER=1 selects.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["bookings", "flags", "observability", "reservex", "allocator", "locustfiles", "bench"]

SESSION_STATE = re.compile(
    r"pg_(try_)?advisory_lock(_shared)?\s*\("  # session advisory locks (ours are _xact_)
    r"|set_config\([^)]*,\s*(false|False)\s*\)"  # set_config(..., is_local => false)
    r"|execute\(\s*f?[\"']\s*(SET\s+(SESSION\s+)?\w+\s*(=|TO\b)|LISTEN\b|UNLISTEN\b|PREPARE\b|DECLARE\b)"
    r"|CREATE\s+(TEMP|TEMPORARY)\s+TABLE"
    r"|WITH\s+HOLD\b",
    re.IGNORECASE,
)


def offending_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if SESSION_STATE.search(line)]


def test_the_scan_finds_each_kind_of_session_state() -> None:
    # A scan that finds nothing proves nothing unless it would find these.
    samples = [
        "cursor.execute('SELECT pg_advisory_lock(1, 2)')",
        "cursor.execute(\"SELECT set_config('lock_timeout', '2s', false)\")",
        'cursor.execute("SET lock_timeout = 100")',
        'cursor.execute(f"SET statement_timeout TO {ms}")',
        'cursor.execute("LISTEN bookings")',
        'cursor.execute("CREATE TEMP TABLE scratch (id int)")',
        'cursor.execute("DECLARE c CURSOR WITH HOLD FOR SELECT 1")',
    ]
    assert [bool(offending_lines(sample)) for sample in samples] == [True] * len(samples)
    allowed = [
        "cursor.execute('SELECT pg_advisory_xact_lock(1, 2)')",
        "cursor.execute(\"SELECT set_config('lock_timeout', '2s', true)\")",
        'cursor.execute(f"SET LOCAL statement_timeout = {ms}")',
        'cursor.execute("UPDATE bookings_booking SET status = %s")',
    ]
    assert [line for sample in allowed for line in offending_lines(sample)] == []


def test_our_code_keeps_nothing_in_the_database_session() -> None:
    this_file = Path(__file__).resolve()
    found = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix not in (".py", ".sql") or path.resolve() == this_file:
                continue
            found += [f"{path.relative_to(ROOT)}: {line}" for line in offending_lines(path.read_text())]
    assert found == [], "session state breaks under PgBouncer's transaction pooling:\n" + "\n".join(found)


def test_database_pgbouncer_turns_off_prepared_statements_and_server_side_cursors() -> None:
    probe = (
        "import json; from django.conf import settings; db = settings.DATABASES['default'];"
        "print(json.dumps([db['OPTIONS'].get('prepare_threshold', 'unset'),"
        " db.get('DISABLE_SERVER_SIDE_CURSORS', False)]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reservex.settings", "DATABASE_PGBOUNCER": "1"}
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {probe}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [None, True]


@pytest.mark.django_db
def test_behind_pgbouncer_the_tests_really_go_through_it() -> None:
    """Under .ci/pgbouncer-tests the server's own port differs from the one we connect to."""
    if not settings.DATABASE_PGBOUNCER:
        pytest.skip("not behind PgBouncer (run .ci/pgbouncer-tests)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_port()")
        (server_port,) = cursor.fetchone()
    assert str(server_port) != str(connection.settings_dict["PORT"])
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is None
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
