"""The chaos harness's own parts (``make chaos`` runs the whole thing; it is too long for the suite)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
from datetime import date, datetime
from pathlib import Path

import pytest

from reservex import chaos
from reservex.chaos import Exchange, Fault, Guest, Observations, Plan, Sample


def test_the_schedule_fits_the_run_and_the_short_form_is_about_20s() -> None:
    for plan in (Plan(), Plan.short_form()):
        times = [at for at, _ in plan.schedule()]
        assert times == sorted(times)
        assert times[0] > 0 and times[-1] < plan.seconds
        names = {name for _, name in plan.schedule()}
        assert names == {
            "celery_worker_sigkill",
            "redis_outage",
            "postgres_restart",
            "gunicorn_worker_sigkill",
        }
    short = Plan.short_form()
    assert short.seconds == 20 and short.deadline_s <= 180
    # The Redis outage ends before the Postgres restart starts.
    at = {name: t for t, name in short.schedule()}
    assert at["redis_outage"] + short.redis_down_s < at["postgres_restart"]


def test_guest_bodies_are_bookable_and_carry_their_key() -> None:
    rng = random.Random(1)
    today = date(2026, 12, 7)  # a Monday
    for i in range(300):
        body = chaos.guest_body(rng, today, f"key-{i}")
        day = date.fromisoformat(body["date"])
        assert 3 <= (day - today).days <= 62
        assert body["notes"] == f"chaos key-{i}"
        allowed = chaos.DINNER + ([] if day.weekday() == 0 else chaos.LUNCH)
        assert body["time"] in allowed
        assert body["party_size"] in {size for size, _ in chaos.PARTY_MIX}
    assert chaos.LUNCH[0] == "12:00" and chaos.LUNCH[-1] == "14:00"
    assert chaos.DINNER[0] == "17:30" and chaos.DINNER[-1] == "21:00"


def test_retry_after_is_read_and_bounded() -> None:
    assert chaos.retry_after({"retry-after": "2"}, 1.0) == 2.0
    assert chaos.retry_after({}, 1.0) == 1.0
    assert chaos.retry_after({"retry-after": "soon"}, 0.5) == 0.5
    assert chaos.retry_after({"retry-after": "600"}, 1.0) == 5.0
    assert chaos.retry_after({"retry-after": "0"}, 1.0) == 0.2


def _guest(
    key: str, started: float, answered: float | None, status: int, reference: str = "", **kw: object
) -> Guest:
    guest = Guest(key=key, body={}, started=started, answered=answered, status=status, reference=reference)
    guest.references = [reference] if reference else []
    for name, value in kw.items():
        setattr(guest, name, value)
    return guest


def _observations() -> Observations:
    faults = [Fault("postgres_restart", 10.0, 10.5, "pg_ctl restart -m fast")]
    exchanges = [
        Exchange("book", 1.0, 1.1, 201, "confirmed", "a"),
        Exchange("book", 10.1, 10.3, 503, "SERVICE_UNAVAILABLE", "b"),
        Exchange("book", 12.3, 12.4, 201, "confirmed", "b"),
        Exchange("book", 11.0, 11.2, 500, "INTERNAL_ERROR", "c"),
        Exchange("book", 13.2, 13.3, 202, "pending", "c"),
        Exchange("book", 14.0, 14.1, 409, "CAPACITY_EXCEEDED", "d"),
    ]
    guests = [
        _guest("a", 1.0, 1.1, 201, "R-A"),
        _guest("b", 10.1, 12.4, 201, "R-B", failures=[10.3]),
        _guest(
            "c",
            11.0,
            13.3,
            202,
            "R-C",
            failures=[11.2],
            pending=True,
            settled=15.0,
            settled_status="confirmed",
        ),
        _guest("d", 14.0, 14.1, 409, code="CAPACITY_EXCEEDED"),
        _guest("e", 14.5, None, 0),
    ]
    samples = [Sample(t, 200, True, 1, True, True, 0, 1 if 11 <= t < 14 else 0) for t in range(0, 20)]
    return Observations(faults, exchanges, guests, samples, end_of_traffic=20.0)


def test_fault_costs_count_what_each_window_saw() -> None:
    baseline, cost = chaos.fault_costs(_observations())
    assert baseline.name == "(before any fault)" and baseline.answered == 1 and not baseline.failed
    assert cost.http_503 == 1 and cost.http_5xx_other == 1
    assert cost.failed == {"503 SERVICE_UNAVAILABLE": 1, "500 INTERNAL_ERROR": 1}
    assert cost.guests_delayed == 2 and cost.delay_max_s == pytest.approx(2.3)
    assert cost.last_failure_s == pytest.approx(1.2)
    assert cost.recovered_s == pytest.approx(2.4)  # b's 201 was sent at 12.3 > the last failure, 11.2
    assert cost.pending_202 == 1 and cost.pending_wait_max_s == pytest.approx(1.7)
    assert cost.marks["last_503_after_postgres_back_s"] == pytest.approx(-0.2)


def test_the_verdict_finds_lost_duplicated_and_unanswered_bookings() -> None:
    obs = _observations()
    clean_db = {
        "by_key": {"a": [{"reference": "R-A"}], "b": [{"reference": "R-B"}], "c": [{"reference": "R-C"}]},
        "overlaps": 0,
    }
    found = chaos.verdict(obs, clean_db, {"exit_code": 0}, pending_left=0)
    assert found["http_500"] == 1 and found["unanswered"] == 1
    assert found["accepted_lost"] == found["duplicates_per_key"] == found["booked_but_told_otherwise"] == 0
    bad_db = {
        "by_key": {"a": [{"reference": "R-A"}, {"reference": "R-A2"}], "d": [{"reference": "R-D"}]},
        "overlaps": 2,
    }
    found = chaos.verdict(obs, bad_db, {"exit_code": 1}, pending_left=3)
    assert found["accepted_lost"] == 2  # b and c
    assert found["duplicates_per_key"] == 1
    assert found["booked_but_told_otherwise"] == 1  # d was refused but has a booking
    assert found["overlaps"] == 2 and found["pending_left"] == 3 and found["check_integrity_failed"] == 1


def test_logs_are_read_for_the_last_exception_of_each_chain_and_celery_events(tmp_path: Path) -> None:
    (tmp_path / "web.log").write_text(
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "ConnectionRefusedError: [Errno 111] Connection refused\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "y.py", line 2, in g\n'
        "django.db.utils.OperationalError: connection failed\n"
        "2026-12-02 23:05:29,246 ERROR django.request Internal Server Error: /api/v1/bookings\n"
    )
    assert chaos.traceback_summary(tmp_path) == {
        "web: django.db.utils.OperationalError: connection failed": 1
    }
    wall0 = datetime(2026, 12, 2, 23, 5, 0).timestamp()
    (tmp_path / "worker-2.log").write_text(
        "[2026-12-02 23:05:01,500: INFO/MainProcess] Connected to redis://:**@127.0.0.1:1/0\n"
        "[2026-12-02 23:05:01,600: INFO/MainProcess] chaos-1-2@vm ready.\n"
        "[2026-12-02 23:05:02,000: INFO/ForkPoolWorker-1] Task allocator.tasks.allocate_booking[x] "
        "succeeded in 0.1s: 'assigned'\n"
    )
    events = chaos.celery_events(tmp_path, wall0)
    assert [kind for _, kind in events] == ["connected", "ready", "task_done"]
    assert events[0][0] == pytest.approx(1.5)


def test_children_of_finds_a_child_process() -> None:
    child = subprocess.Popen(["sleep", "5"])
    try:
        assert child.pid in chaos.children_of(os.getpid())
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server binary")
def test_private_redis_stops_and_starts_again_on_its_port(tmp_path: Path) -> None:
    server = chaos.PrivateRedis(tmp_path, chaos.free_port())
    server.start()
    try:
        chaos.wait_for_port(server.port, 5)
        server.stop()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
            pass
        server.start()
        chaos.wait_for_port(server.port, 5)
    finally:
        server.stop()


def _has_initdb() -> bool:
    try:
        chaos._pg_bin()
    except chaos.HarnessError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _has_initdb(), reason="no PostgreSQL server binaries")
def test_private_postgres_cluster_starts_restarts_and_stops() -> None:
    import psycopg

    # Not pytest's tmp_path: its parents are private to us, and as root initdb runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="reservex-chaos-test-"))
    base.chmod(0o711)
    cluster = chaos.PrivatePostgres(base / "pg", chaos.free_port())
    try:
        cluster.init()
        cluster.start()
        params = {"host": "127.0.0.1", "port": cluster.port, "user": "postgres", "dbname": "postgres"}
        with psycopg.connect(**params) as conn:
            row = conn.execute("SHOW max_connections").fetchone()
            assert row is not None and int(row[0]) >= 200
        cluster.restart()
        with psycopg.connect(**params) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        cluster.stop()
        assert not (cluster.data / "postmaster.pid").exists()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", cluster.port), timeout=0.5):
            pass
    finally:
        cluster.stop()  # a no-op when stopped
        shutil.rmtree(base, ignore_errors=True)
