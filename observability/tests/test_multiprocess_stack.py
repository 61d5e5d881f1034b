"""Metrics stay exact across real processes: two gunicorn workers (one killed mid-way) and Celery."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from bookings.models import Booking, Restaurant
from bookings.tests.processes import (
    Stack,
    WebServer,
    free_port,
    stack_fixture,  # noqa: F401 - the "stack" fixture
    wait_until,
)

TOKEN = "multiprocess-test-token"


def totals(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """Sum the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)


def scrape(web: WebServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = web.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200, answer.body
    return totals(answer.body)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_n_bookings_through_two_gunicorn_workers_and_a_celery_worker_read_exactly_n(
    stack: Stack,
    small_restaurant: Restaurant,
    set_flags: Callable[..., None],
    tmp_path: Path,
) -> None:
    # Given: every booking goes to the background job (inline budget 0), two gunicorn workers and
    # a Celery worker with two pool processes, all writing to one metrics directory.
    set_flags(**{"allocator.inline_timeout_ms": 0})
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    web = WebServer(
        [sys.executable, "-m", "gunicorn", "reservex.wsgi", "--config", "reservex/gunicorn_conf.py"],
        stack.env(
            RESERVEX_PORT=str(port),
            WEB_WORKERS="2",
            WEB_THREADS="2",
            PROMETHEUS_MULTIPROC_DIR=str(directory),
            DEBUG="false",
            METRICS_TOKEN=TOKEN,
        ),
        tmp_path / "web.log",
        port,
    )
    stack.processes.append(web)
    web.ready()
    worker = stack.worker(concurrency=2, PROMETHEUS_MULTIPROC_DIR=str(directory))
    n = 12
    day = timezone.now().date() + timedelta(days=7)

    def book(i: int) -> tuple[int, object]:
        body = {
            "restaurant": small_restaurant.slug,
            "date": (day + timedelta(days=i)).isoformat(),
            "time": "19:00",
            "party_size": 2,
            "guest_name": "Ada Lovelace",
        }
        answer = web.request("POST", "/api/v1/bookings", body, headers={"Idempotency-Key": str(uuid.uuid4())})
        return answer.status, answer.body

    # When: half the bookings, then one gunicorn worker dies hard (as on OOM) and is replaced,
    # then the other half.
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = list(pool.map(book, range(n // 2)))
        victim = web.children()[0].pid
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: len(web.children()) == 2 and victim not in {p.pid for p in web.children()},
            what="gunicorn to replace the killed worker",
        )
        second = list(pool.map(book, range(n // 2, n)))
    answers = first + second
    assert [status for status, _ in answers] == [202] * n, answers
    wait_until(
        lambda: Booking.objects.filter(status=Booking.Status.CONFIRMED).count() == n,
        what="the Celery worker to confirm every booking",
        interval=0.2,
    )

    # Then: /metrics (whichever gunicorn worker answers) counts each booking exactly once.
    assert web.request("GET", "/metrics").status == 401
    samples = scrape(web)
    assert total(samples, "reservex_booking_requests_total") == n
    assert total(samples, "reservex_booking_requests_total", outcome="pending") == n
    assert total(samples, "reservex_booking_request_seconds_count") == n
    assert total(samples, "reservex_allocation_attempts_total", mode="background", outcome="assigned") == n
    runs = total(samples, "reservex_task_runs_total", task="allocator.allocate_booking", outcome="success")
    assert runs == n
    assert total(samples, "reservex_pending_bookings") == 0
    assert total(samples, "reservex_queue_depth", queue="allocation") == 0
    # The dead worker's samples are still in (counters survive the process), and more than one
    # gunicorn worker plus the Celery pool processes wrote them.
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("counter_*.db")}
    assert victim in pids
    assert len(pids) >= 4

    # And: after the Celery worker stops (its pool processes marked dead), nothing is lost.
    worker.stop()
    assert total(scrape(web), "reservex_allocation_attempts_total", mode="background") == n
