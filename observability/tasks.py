"""Periodic tasks of observability (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from observability.detector import evaluate_p0_conditions
from observability.metrics import track_task
from observability.retention import telemetry_purge


@shared_task(name="observability.tasks.purge_old_telemetry", ignore_result=True)
def purge_old_telemetry() -> dict[str, Any]:
    """Delete telemetry older than TELEMETRY_RETENTION_DAYS in short batches."""
    with track_task("observability.purge_old_telemetry"):
        report = telemetry_purge()
    return {"deleted": report.deleted, "batches": report.batches, "finished": report.finished}


@shared_task(name="observability.tasks.check_p0_conditions", ignore_result=True)
def check_p0_conditions() -> dict[str, Any]:
    """Evaluate the P0 conditions from the database and alert on sustained ones."""
    with track_task("observability.check_p0_conditions"):
        results = evaluate_p0_conditions()
    return {
        result.check.key: {
            "bad": result.check.bad,
            "value": result.check.value,
            "firing": result.state.firing,
            "transition": result.transition,
        }
        for result in results
    }
