"""Telemetry retention: delete events and allocation attempts older than TELEMETRY_RETENTION_DAYS.

Deletes in batches of ``batch_size`` rows, one short autocommit statement each, oldest first, so
the tables that the booking path inserts into are never locked for long and WAL/replication see
a steady trickle instead of one giant transaction. A run stops after ``max_seconds`` and the next
scheduled run carries on, so the task stays far below Celery's soft time limit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from observability.metrics import TELEMETRY_PURGED
from observability.models import AllocationAttempt, ObservabilityEvent

logger = logging.getLogger("reservex.retention")

DEFAULT_BATCH_SIZE = 5000
DEFAULT_MAX_SECONDS = 45.0
TELEMETRY_MODELS: tuple[type[models.Model], ...] = (ObservabilityEvent, AllocationAttempt)


@dataclass
class PurgeReport:
    cutoff: datetime
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    finished: bool = True


def _delete_batch(table: str, cutoff: datetime, batch_size: int) -> int:
    # The subquery walks the created_at index oldest-first; the outer DELETE touches only those ids.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {table} WHERE id IN (
                SELECT id FROM {table} WHERE created_at < %s ORDER BY created_at LIMIT %s
            )
            """,  # noqa: S608 - table names come from model metadata, not from input
            [cutoff, batch_size],
        )
        return int(cursor.rowcount)


def telemetry_purge(
    *,
    retention_days: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete telemetry older than the retention period, batch by batch; return what was deleted."""
    if connection.in_atomic_block:
        # Inside a transaction the batches would add up to the one long lock this function avoids.
        raise RuntimeError("telemetry_purge must run outside a transaction (autocommit batches)")
    days = retention_days if retention_days is not None else int(settings.TELEMETRY_RETENTION_DAYS)
    if days < 1:
        raise ValueError("retention must be at least one day")
    report = PurgeReport(cutoff=(now or timezone.now()) - timedelta(days=days))
    deadline = time.monotonic() + max_seconds
    for model in TELEMETRY_MODELS:
        table = model._meta.db_table
        report.deleted[table] = 0
        while True:
            if time.monotonic() > deadline:
                report.finished = False
                break
            deleted = _delete_batch(table, report.cutoff, batch_size)
            report.batches += 1
            report.deleted[table] += deleted
            TELEMETRY_PURGED.labels(table).inc(deleted)
            if deleted < batch_size:
                break
    logger.info(
        "telemetry older than %s purged: %s in %d batches%s",
        report.cutoff.isoformat(),
        report.deleted,
        report.batches,
        "" if report.finished else " (time budget spent; the next run continues)",
    )
    return report
