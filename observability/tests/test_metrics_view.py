"""GET /metrics: the token, the exposition, and the scrape-time backlog and queue metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from bookings.models import Booking
from bookings.tests.factories import BookingFactory
from observability import metrics
from observability.collectors import read_queue_depth

TOKEN = "s3cret-metrics-token"


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse an exposition into {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


@pytest.fixture
def production(settings):  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    settings.METRICS_TOKEN = TOKEN
    return settings


@pytest.mark.django_db
class TestToken:
    def test_it_refuses_a_scrape_without_a_token(self, client: Client, production: object) -> None:
        response = client.get("/metrics")
        assert response.status_code == 401
        assert response.json()["error"] == "UNAUTHORIZED"
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_it_refuses_a_wrong_token(self, client: Client, production: object) -> None:
        response = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert response.status_code == 401

    def test_it_refuses_basic_auth_with_the_right_secret(self, client: Client, production: object) -> None:
        response = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        assert response.status_code == 401

    def test_it_answers_the_right_token(self, client: Client, production: object) -> None:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert b"reservex_booking_requests_total" in response.content

    def test_it_refuses_everyone_when_no_token_is_configured(self, client: Client, settings) -> None:  # type: ignore[no-untyped-def]
        settings.DEBUG = False
        settings.METRICS_TOKEN = ""
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401

    def test_it_is_open_in_debug(self, client: Client, settings) -> None:  # type: ignore[no-untyped-def]
        settings.DEBUG = True
        settings.METRICS_TOKEN = ""
        assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_it_exports_reservex_and_django_metrics(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    before = samples(client.get("/metrics").content)
    metrics.BOOKING_REQUESTS.labels("confirmed").inc(3)
    metrics.ALLOCATION_ATTEMPTS.labels("inline", "assigned").inc()
    metrics.BOOKING_LATENCY.observe(0.012)
    client.get("/healthz")

    after = samples(client.get("/metrics").content)

    key = ("reservex_booking_requests_total", (("outcome", "confirmed"),))
    assert after[key] - before.get(key, 0) == 3
    # Every bounded label value exists from the start, so rate() and ratios never miss a series.
    for outcome in metrics.BOOKING_OUTCOMES:
        assert ("reservex_booking_requests_total", (("outcome", outcome),)) in after
    assert any(name == "reservex_booking_request_seconds_bucket" for name, _ in after)
    assert any(name.startswith("django_http_requests_total") for name, _ in after)


@pytest.mark.django_db
def test_it_exports_the_pending_backlog(client: Client, settings, alice_restaurant) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    old = BookingFactory(restaurant=alice_restaurant)
    Booking.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=30))
    BookingFactory(restaurant=alice_restaurant)
    BookingFactory(restaurant=alice_restaurant, status=Booking.Status.CONFIRMED)

    exported = samples(client.get("/metrics").content)

    assert exported[("reservex_pending_bookings", ())] == 2
    assert 30 * 60 - 5 < exported[("reservex_pending_oldest_age_seconds", ())] < 30 * 60 + 60


@pytest.mark.django_db
def test_it_exports_zero_age_without_pending_bookings(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    exported = samples(client.get("/metrics").content)
    assert exported[("reservex_pending_bookings", ())] == 0
    assert exported[("reservex_pending_oldest_age_seconds", ())] == 0


def test_it_reads_the_queue_depth_from_redis(settings) -> None:  # type: ignore[no-untyped-def]
    queue = "reservex-test-queue-depth"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue, f"{queue}\x06\x163")
    try:
        client.rpush(queue, "a", "b")
        client.rpush(f"{queue}\x06\x163", "c")  # a priority-3 message lives in a sibling list
        assert read_queue_depth(queue) == 3
    finally:
        client.delete(queue, f"{queue}\x06\x163")


@pytest.mark.django_db
def test_a_scrape_survives_redis_being_down(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/metrics")
    assert response.status_code == 200
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert samples(response.content)[("reservex_queue_depth", (("queue", queue),))] == -1


@pytest.mark.django_db
def test_a_scrape_survives_the_backlog_being_unreadable(client: Client, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    monkeypatch.setattr("observability.collectors.PENDING_SQL", "SELECT * FROM no_such_table")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"reservex_pending_bookings" not in response.content
    assert b"reservex_queue_depth" in response.content


def test_set_integrity_violations_sets_every_known_kind() -> None:
    metrics.set_integrity_violations({"overlap": 2})
    gauge = metrics.INTEGRITY_VIOLATIONS
    values = {kind: gauge.labels(kind)._value.get() for kind in metrics.INTEGRITY_KINDS}
    assert values == {"overlap": 2, "over_capacity": 0, "unseated_confirmed": 0, "stale_pending": 0}
    assert metrics.INTEGRITY_LAST_CHECK._value.get() > 0

    metrics.set_integrity_violations({})
    assert metrics.INTEGRITY_VIOLATIONS.labels("overlap")._value.get() == 0


def test_unknown_integrity_kinds_are_exported_as_other() -> None:
    metrics.set_integrity_violations({"teleported": 1, "vanished": 2})
    assert metrics.INTEGRITY_VIOLATIONS.labels("other")._value.get() == 3
    metrics.set_integrity_violations({})
    assert metrics.INTEGRITY_VIOLATIONS.labels("other")._value.get() == 0


def test_track_task_counts_success_retry_and_failure() -> None:
    from celery.exceptions import Retry

    def value(outcome: str) -> float:
        return metrics.TASK_RUNS.labels("test.task", outcome)._value.get()

    before = {outcome: value(outcome) for outcome in metrics.TASK_OUTCOMES}
    with metrics.track_task("test.task"):
        pass
    with pytest.raises(Retry), metrics.track_task("test.task"):
        raise Retry()
    with pytest.raises(ZeroDivisionError), metrics.track_task("test.task"):
        1 / 0  # noqa: B018
    assert {outcome: value(outcome) - before[outcome] for outcome in metrics.TASK_OUTCOMES} == {
        "success": 1,
        "retry": 1,
        "failure": 1,
    }


def test_the_metrics_route_is_wired() -> None:
    from django.urls import resolve

    assert resolve("/metrics").func.__name__ == "metrics"
    assert settings.ROOT_URLCONF == "reservex.urls"
