"""Observability app: connects the multiprocess bookkeeping of Celery processes at start-up."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.apps import AppConfig

logger = logging.getLogger("reservex.metrics")


def mark_celery_process_dead(pid: int | None = None, **_: Any) -> None:
    """Drop the live gauges of a Celery pool process that exits (multiprocess mode only)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid if pid is not None else os.getpid(), directory)


def serve_celery_metrics(**_: Any) -> None:
    """Serve this worker's metrics on CELERY_METRICS_PORT when set (one container per worker).

    On one host (devstack) the web's /metrics already reads the worker's files from the shared
    directory; in docker-compose each container has its own directory, so the worker exposes it.
    """
    port = os.environ.get("CELERY_METRICS_PORT")
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not port or not directory:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, path=directory)
    start_http_server(int(port), addr=os.environ.get("CELERY_METRICS_BIND", "0.0.0.0"), registry=registry)  # noqa: S104
    logger.info("worker metrics on port %s", port)


class ObservabilityConfig(AppConfig):
    name = "observability"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_init, worker_process_shutdown

        # weak=False: the receivers are module functions, but keep them for the process's life.
        worker_process_shutdown.connect(mark_celery_process_dead, weak=False, dispatch_uid="obs-dead")
        worker_init.connect(serve_celery_metrics, weak=False, dispatch_uid="obs-serve")
