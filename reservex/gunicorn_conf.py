"""gunicorn settings for ReserveX (threaded workers; sized by the environment)."""

from __future__ import annotations

import os

bind = f"{os.environ.get('RESERVEX_BIND', '127.0.0.1')}:{os.environ.get('RESERVEX_PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
# 4 threads a worker measured best on 2 cores (docs/load/TUNING.md): more threads fight for the
# GIL while holding database locks, fewer leave requests queueing for a thread.
threads = int(os.environ.get("WEB_THREADS", "4"))
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections over
# them. On one shared socket a worker accepts all it can at once: in a 1 000-guest burst one took
# 656 connections and the other 360, and the burst lasted as long as the busier one
# (docs/load/TUNING.md).
reuse_port = True
timeout = 60  # above the 25 s inline-allocation ceiling
graceful_timeout = 20
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live gauges from the shared metrics directory (prometheus multiprocess)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, directory)  # type: ignore[attr-defined]
