"""Retention: telemetry older than TELEMETRY_RETENTION_DAYS goes, in batches; newer rows stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from observability.models import AllocationAttempt, ObservabilityEvent
from observability.retention import telemetry_purge
from observability.tasks import purge_old_telemetry


def age(model: type[ObservabilityEvent] | type[AllocationAttempt], days: float, count: int) -> None:
    """Insert ``count`` rows of ``model`` created ``days`` ago."""
    if model is ObservabilityEvent:
        rows = [ObservabilityEvent(type="booking.created", restaurant_id=1) for _ in range(count)]
    else:
        rows = [
            AllocationAttempt(
                restaurant_id=1, booking_id=n, mode="inline", attempt=1, outcome="assigned", total_ms=5
            )
            for n in range(count)
        ]
    created = model.objects.bulk_create(rows)  # type: ignore[attr-defined]
    model.objects.filter(pk__in=[row.pk for row in created]).update(  # type: ignore[attr-defined]
        created_at=timezone.now() - timedelta(days=days)
    )


@pytest.mark.django_db(transaction=True)
def test_it_deletes_only_rows_older_than_the_retention(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TELEMETRY_RETENTION_DAYS = 90
    age(ObservabilityEvent, 91, 23)
    age(ObservabilityEvent, 89, 4)
    age(AllocationAttempt, 120, 12)
    age(AllocationAttempt, 1, 3)

    report = telemetry_purge(batch_size=5)

    assert report.deleted == {"observability_observabilityevent": 23, "observability_allocationattempt": 12}
    assert report.batches == 5 + 3  # ceil(23/5) + ceil(12/5), each a short statement of its own
    assert report.finished
    assert ObservabilityEvent.objects.count() == 4
    assert AllocationAttempt.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_retention_is_configurable(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TELEMETRY_RETENTION_DAYS = 7
    age(ObservabilityEvent, 8, 2)
    age(ObservabilityEvent, 6, 1)
    purge_old_telemetry()
    assert ObservabilityEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_stops_when_its_time_budget_is_spent() -> None:
    age(ObservabilityEvent, 100, 10)
    report = telemetry_purge(batch_size=2, max_seconds=0)
    assert not report.finished
    assert ObservabilityEvent.objects.count() > 0


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_run_inside_a_transaction() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        telemetry_purge()


def test_the_beat_tasks_have_the_scheduled_names(settings) -> None:  # type: ignore[no-untyped-def]
    from observability import tasks

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks.purge_old_telemetry.name in scheduled
    assert tasks.check_p0_conditions.name in scheduled
