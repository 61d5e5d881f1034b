"""The telemetry overhead benchmark runs, reports every variant and leaves no rows behind."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.telemetry import BENCH_TABLE, render, run
from observability.models import AllocationAttempt, ObservabilityEvent


@pytest.mark.django_db(transaction=True)
def test_a_short_run_reports_medians_and_cleans_up() -> None:
    results, context = run(iterations=5, warmup=1)

    assert len(results) == 6
    assert all(len(result.samples) == 5 and result.median_ms > 0 for result in results)
    assert not ObservabilityEvent.objects.exists()
    assert not AllocationAttempt.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [BENCH_TABLE])
        assert cursor.fetchone()[0] is None
    report = render(results, context, "python -m bench.telemetry")
    assert "| booking transaction alone |" in report
    assert "## End-to-end booking latency" in report
