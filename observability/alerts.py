"""send_alert: post a Slack-compatible message to ALERT_WEBHOOK_URL, never raising.

Callers: the in-app P0 detector (observability.detector), the flags kill switch, the allocator when
a booking is rejected after its retries. Do not call it inside a database transaction: it waits up
to ALERT_WEBHOOK_TIMEOUT_SECONDS for the webhook (use ``transaction.on_commit``).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from observability.metrics import ALERTS_SENT

logger = logging.getLogger("reservex.alerts")

SEVERITIES = ("P0", "P1", "P2", "info", "resolved")
_EMOJI = {
    "P0": ":rotating_light:",
    "P1": ":warning:",
    "P2": ":information_source:",
    "resolved": ":white_check_mark:",
}
_COLOUR = {"P0": "#d62728", "P1": "#ff7f0e", "P2": "#1f77b4", "resolved": "#2ca02c"}


def build_payload(title: str, text: str, *, severity: str) -> dict[str, Any]:
    """Return the Slack-compatible body: ``text`` for any consumer, blocks and a coloured attachment."""
    environment = getattr(settings, "RESERVEX_ENV", "dev")
    headline = f"{_EMOJI.get(severity, '')} [{severity}] {title} ({environment})".strip()
    return {
        "text": f"{headline}\n{text}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
        ],
        "attachments": [{"color": _COLOUR.get(severity, "#7f7f7f"), "fallback": headline}],
    }


def send_alert(title: str, text: str, *, severity: str) -> bool:
    """Post an alert to ALERT_WEBHOOK_URL; return True when the webhook answered 2xx.

    A no-op returning False when no webhook is configured. Never raises: an alert that cannot be
    delivered is logged, counted and recorded as an ``alert.sent`` event with ``delivered=False``.
    """
    url: str = getattr(settings, "ALERT_WEBHOOK_URL", "")
    if not url:
        logger.warning("alert not sent (ALERT_WEBHOOK_URL unset): [%s] %s", severity, title)
        return False
    delivered = False
    status: int | None = None
    error = ""
    try:
        body = json.dumps(build_payload(title, text, severity=severity)).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is operator configuration
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        timeout = float(getattr(settings, "ALERT_WEBHOOK_TIMEOUT_SECONDS", 3.0))
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
            delivered = 200 <= status < 300
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except Exception as exc:  # noqa: BLE001 - alerting must never break its caller
        error = exc.__class__.__name__
    if not delivered:
        logger.error("alert not delivered (%s): [%s] %s", error or status, severity, title)
    _record(title=title, severity=severity, delivered=delivered, status=status, error=error)
    return delivered


def _record(*, title: str, severity: str, delivered: bool, status: int | None, error: str) -> None:
    try:
        ALERTS_SENT.labels(severity if severity in SEVERITIES else "other", str(delivered).lower()).inc()
        from observability.events import record_event

        record_event(
            "alert.sent",
            severity=severity,
            title=title,
            delivered=delivered,
            status=status,
            error=error,
        )
    except Exception:  # e.g. called inside a broken transaction
        logger.warning("alert.sent event not recorded", exc_info=True)
