"""The in-app P0 detector: conditions from the database, hysteresis, maintenance, the webhook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from observability.detector import evaluate_p0_conditions
from observability.events import record_event
from observability.models import AlertState, AllocationAttempt
from observability.tasks import check_p0_conditions
from observability.tests.webhook import Webhook, webhook_server


@pytest.fixture
def hook(settings):  # type: ignore[no-untyped-def]
    with webhook_server() as webhook:
        settings.ALERT_WEBHOOK_URL = webhook.url
        settings.ALERTS_MAINTENANCE_UNTIL = None
        yield webhook


def attempts(*, errors: int, assigned: int) -> None:
    rows = [
        AllocationAttempt(
            restaurant_id=1,
            booking_id=n,
            mode="inline",
            attempt=1,
            outcome="error" if n < errors else "assigned",
            total_ms=12.0,
            failure_reason="error" if n < errors else "",
        )
        for n in range(errors + assigned)
    ]
    AllocationAttempt.objects.bulk_create(rows)


def texts(webhook: Webhook) -> list[str]:
    return [post["body"]["text"] for post in webhook.received]


@pytest.mark.django_db
class TestIntegrityCondition:
    def test_one_bad_check_does_not_alert(self, hook: Webhook) -> None:
        record_event("integrity.violation", kind="overlap", count=2)
        evaluate_p0_conditions()
        assert hook.received == []
        assert AlertState.objects.get(key="integrity").bad_streak == 1

    def test_two_bad_checks_in_a_row_alert_once(self, hook: Webhook) -> None:
        record_event("integrity.violation", kind="overlap", count=2)
        record_event("integrity.violation", kind="over_capacity", count=1)
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        evaluate_p0_conditions()  # still bad: no second page

        [text] = texts(hook)
        assert "[P0]" in text
        assert "1 over_capacity, 2 overlap" in text
        assert "docs/runbooks/integrity-violation.md" in text
        assert AlertState.objects.get(key="integrity").firing

    def test_a_good_check_between_bad_ones_resets_the_streak(self, hook: Webhook) -> None:
        record_event("integrity.violation", kind="overlap", count=1)
        now = timezone.now()
        evaluate_p0_conditions(now)
        # Later than the look-back: the event no longer counts, the check is good.
        evaluate_p0_conditions(now + timedelta(hours=1))
        record_event("integrity.violation", kind="overlap", count=1)
        evaluate_p0_conditions()
        assert hook.received == []

    def test_it_resolves_after_two_good_checks(self, hook: Webhook) -> None:
        record_event("integrity.violation", kind="overlap", count=1)
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        later = timezone.now() + timedelta(hours=1)
        evaluate_p0_conditions(later)
        assert len(hook.received) == 1
        evaluate_p0_conditions(later + timedelta(minutes=5))

        assert len(hook.received) == 2
        assert "[resolved] Resolved: Integrity violation" in texts(hook)[1]
        assert not AlertState.objects.get(key="integrity").firing

    def test_it_reads_the_violations_mapping_form(self, hook: Webhook) -> None:
        record_event("integrity.violation", violations={"stale_pending": 3})
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        assert "3 stale_pending" in texts(hook)[0]


@pytest.mark.django_db
class TestErrorRateCondition:
    def test_it_alerts_after_two_windows_above_five_percent(self, hook: Webhook) -> None:
        attempts(errors=3, assigned=37)  # 7.5 %
        evaluate_p0_conditions()
        assert hook.received == []
        evaluate_p0_conditions()
        [text] = texts(hook)
        assert "Booking error rate" in text
        assert "3 of 40" in text

    def test_it_stays_quiet_at_five_percent_or_less(self, hook: Webhook) -> None:
        attempts(errors=2, assigned=38)  # 5 %: not above the threshold
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        assert hook.received == []

    def test_it_ignores_a_high_rate_on_too_few_attempts(self, hook: Webhook) -> None:
        attempts(errors=3, assigned=2)
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        assert hook.received == []
        assert AlertState.objects.get(key="booking_error_rate").last_value == pytest.approx(0.6)

    def test_old_attempts_do_not_count(self, hook: Webhook) -> None:
        attempts(errors=10, assigned=10)
        AllocationAttempt.objects.update(created_at=timezone.now() - timedelta(hours=1))
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        assert hook.received == []


@pytest.mark.django_db
class TestMaintenance:
    def test_nothing_is_sent_during_maintenance(self, hook: Webhook, settings) -> None:  # type: ignore[no-untyped-def]
        settings.ALERTS_MAINTENANCE_UNTIL = timezone.now() + timedelta(hours=1)
        record_event("integrity.violation", kind="overlap", count=1)
        evaluate_p0_conditions()
        evaluate_p0_conditions()
        assert hook.received == []
        assert not AlertState.objects.get(key="integrity").firing

    def test_a_condition_still_bad_after_maintenance_fires_at_once(self, hook: Webhook, settings) -> None:  # type: ignore[no-untyped-def]
        record_event("integrity.violation", kind="overlap", count=1)
        now = timezone.now()
        settings.ALERTS_MAINTENANCE_UNTIL = now + timedelta(minutes=1)
        evaluate_p0_conditions(now)
        evaluate_p0_conditions(now)
        assert hook.received == []
        evaluate_p0_conditions(now + timedelta(minutes=2))
        assert len(hook.received) == 1


@pytest.mark.django_db
def test_the_beat_task_reports_each_condition(hook: Webhook) -> None:
    record_event("integrity.violation", kind="overlap", count=1)
    check_p0_conditions()
    report = check_p0_conditions()
    assert report["integrity"] == {"bad": True, "value": 1.0, "firing": True, "transition": "fire"}
    assert report["booking_error_rate"]["bad"] is False
    assert len(hook.received) == 1
