"""Multiprocess bookkeeping: Celery hooks, the worker's metrics port, devstack's metrics directory."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from observability.apps import mark_celery_process_dead, serve_celery_metrics


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_celery_process_leaves_its_counters_and_drops_its_live_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    names = ("counter_4242.db", "gauge_livesum_4242.db", "gauge_mostrecent_4242.db", "gauge_livesum_7.db")
    for name in names:
        (tmp_path / name).write_bytes(b"")

    mark_celery_process_dead(pid=4242, exitcode=0)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_4242.db",
        "gauge_livesum_7.db",
        "gauge_mostrecent_4242.db",
    ]


def test_the_celery_hooks_do_nothing_without_a_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("CELERY_METRICS_PORT", str(free_port()))
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    mark_celery_process_dead(pid=4242)
    serve_celery_metrics()  # would bind the port if it acted
    assert (tmp_path / "gauge_livesum_4242.db").exists()


def test_a_worker_serves_its_metrics_directory_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "from prometheus_client import Counter; Counter('probe_total', 'p').inc(3); "
        "from observability.apps import serve_celery_metrics; serve_celery_metrics(); "
        "import time, sys; sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(30)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "CELERY_METRICS_PORT": str(port)}
    env["CELERY_METRICS_BIND"] = "127.0.0.1"
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "up"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert "probe_total 3.0" in response.read().decode()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_devstack_gives_each_run_a_fresh_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reservex import devstack

    monkeypatch.setattr(devstack, "STATE_DIR", tmp_path)
    stale = tmp_path / "prometheus" / "run-999999999-abc"  # a run whose process is gone
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"")
    with devstack.prometheus_multiproc_dir() as first:
        assert Path(first).is_dir() and not any(Path(first).iterdir())
        assert not stale.exists()
        with devstack.prometheus_multiproc_dir() as second:
            assert second != first  # two runs in one tree never share (or wipe) a directory
    assert not Path(first).exists()
