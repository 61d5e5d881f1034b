"""Keep guest PII out of telemetry (DESIGN §4 invariant 6).

Works by allow-list: a context key is stored only if it is listed here, so a new field carrying a
name or an email is dropped by default rather than leaked. Values under allowed keys are checked
too, because a free-text value can still carry an email address or a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ALLOWED_CONTEXT_KEYS = frozenset(
    {
        "alternatives",
        "approver_id",
        "attempt",
        "attempts",
        "background",
        "condition",
        "count",
        "covers",
        "delivered",
        "duration_ms",
        "enforcement",
        "error",
        "entry_id",
        "error_code",
        "expired",
        "failure_reason",
        "flag_key",
        "hold_id",
        "kind",
        "limits",
        "max_covers",
        "max_parties",
        "mode",
        "new_status",
        "new_value",
        "old_status",
        "old_value",
        "outcome",
        "pacing_covers",
        "party_size",
        "peak_covers",
        "peak_parties",
        "planner_ms",
        "proposer_id",
        "reason",
        "retries",
        "scope",
        "seat_waste",
        "severity",
        "source",
        "starts_at",
        "ends_at",
        "status",
        "table_ids",
        "tables",
        "threshold",
        "title",
        "total_ms",
        "violations",
        "would_refuse",
        # integrity.violation may carry violations={kind: count}; nested keys pass the list too.
        "overlap",
        "over_capacity",
        "unseated_confirmed",
        "stale_pending",
    }
)

REDACTED = "[redacted]"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
# Dates and times look like digits with separators too; they are not phone numbers.
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
# PostgreSQL error texts quote the failing row ("Failing row contains (…, Ada Lovelace, …)") or
# key values ("Key (guest_email)=(…)"): names there cannot be recognised, so the detail goes.
_ROW_DETAIL = re.compile(r"(Failing row contains|DETAIL:|Key \()")
_MAX_STRING = 200
_MAX_DEPTH = 3


def _clean_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if _ISO_DATETIME.match(value):
            return value
        if _EMAIL.search(value) or _PHONE.search(value):
            return REDACTED
        if (detail := _ROW_DETAIL.search(value)) is not None:
            return value[: detail.start()].rstrip() + " " + REDACTED
        return value[:_MAX_STRING]
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return sanitize_context(value, _depth=depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean_value(item, depth + 1) for item in value]
    # Anything else (model instances, dates) is stored as text, then checked like text.
    return _clean_value(str(value), depth)


def sanitize_context(context: Mapping[str, Any], *, _depth: int = 0) -> dict[str, Any]:
    """Return the context with only allow-listed keys and PII-free values."""
    return {key: _clean_value(value, _depth) for key, value in context.items() if key in ALLOWED_CONTEXT_KEYS}
