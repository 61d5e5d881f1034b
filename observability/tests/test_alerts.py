"""send_alert posts Slack-compatible JSON, never raises and records alert.sent."""

from __future__ import annotations

import socket

import pytest

from observability.alerts import send_alert
from observability.models import ObservabilityEvent
from observability.tests.webhook import webhook_server


@pytest.mark.django_db
def test_it_posts_slack_compatible_json(settings) -> None:  # type: ignore[no-untyped-def]
    with webhook_server() as hook:
        settings.ALERT_WEBHOOK_URL = hook.url
        assert send_alert("Overbooking", "2 overlapping windows", severity="P0") is True

    [post] = hook.received
    assert post["content_type"] == "application/json"
    assert "Overbooking" in post["body"]["text"]
    assert "2 overlapping windows" in post["body"]["text"]
    assert "[P0]" in post["body"]["text"]
    assert post["body"]["blocks"][0]["type"] == "header"
    event = ObservabilityEvent.objects.get(type="alert.sent")
    assert event.context["severity"] == "P0"
    assert event.context["delivered"] is True


@pytest.mark.django_db
def test_it_is_a_no_op_without_a_webhook(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_WEBHOOK_URL = ""
    assert send_alert("Overbooking", "text", severity="P0") is False
    assert not ObservabilityEvent.objects.filter(type="alert.sent").exists()


@pytest.mark.django_db
def test_a_webhook_error_returns_false_and_is_recorded(settings) -> None:  # type: ignore[no-untyped-def]
    with webhook_server(status=500) as hook:
        settings.ALERT_WEBHOOK_URL = hook.url
        assert send_alert("Overbooking", "text", severity="P0") is False
    event = ObservabilityEvent.objects.get(type="alert.sent")
    assert event.context["delivered"] is False
    assert event.context["status"] == 500


@pytest.mark.django_db
def test_an_unreachable_webhook_returns_false(settings) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
        assert send_alert("Overbooking", "text", severity="P0") is False


@pytest.mark.django_db
def test_a_slow_webhook_times_out_quickly(settings) -> None:  # type: ignore[no-untyped-def]
    import time

    with webhook_server() as hook:
        hook.delay = 3
        settings.ALERT_WEBHOOK_URL = hook.url
        settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 0.3
        started = time.monotonic()
        assert send_alert("Overbooking", "text", severity="P0") is False
        assert time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_it_never_raises_inside_a_broken_transaction(settings) -> None:  # type: ignore[no-untyped-def]
    from django.db import DatabaseError, connection, transaction

    with webhook_server() as hook:
        settings.ALERT_WEBHOOK_URL = hook.url
        with transaction.atomic():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1/0")
            except DatabaseError:
                pass
            # The transaction is aborted: recording the event fails, the alert still goes out.
            assert send_alert("Overbooking", "text", severity="P0") is True
    assert len(hook.received) == 1
