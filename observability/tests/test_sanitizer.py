"""Invariant 6: guest PII never reaches telemetry."""

from __future__ import annotations

import json

import pytest

from observability.events import UnknownEventType, record_event
from observability.models import ObservabilityEvent
from observability.sanitizer import REDACTED, sanitize_context

PII = {
    "guest_name": "Ada Lovelace",
    "name": "Ada Lovelace",
    "guest_email": "ada@example.org",
    "email": "ada@example.org",
    "guest_phone": "+44 1223 555 0100",
    "phone": "01223 5550100",
    "notes": "Ada's birthday, allergic to nuts",
}


def test_it_drops_keys_that_are_not_allowed() -> None:
    clean = sanitize_context({**PII, "party_size": 4, "tables": ["D5", "D6"]})
    assert clean == {"party_size": 4, "tables": ["D5", "D6"]}


def test_it_redacts_pii_hidden_in_allowed_values() -> None:
    clean = sanitize_context(
        {
            "reason": "guest ada@example.org asked",
            "error": "call +44 1223 555 0100",
            "limits": {"max_covers": 40, "guest_name": "Ada"},
            "starts_at": "2030-01-07T19:00:00+00:00",
        }
    )
    assert clean == {
        "reason": REDACTED,
        "error": REDACTED,
        "limits": {"max_covers": 40},
        "starts_at": "2030-01-07T19:00:00+00:00",
    }


@pytest.mark.django_db
def test_record_event_stores_no_pii() -> None:
    event = record_event("booking.created", restaurant_id=1, booking_id=2, party_size=2, **PII)
    stored = json.dumps(ObservabilityEvent.objects.get(pk=event.pk).context)
    for value in PII.values():
        assert value not in stored
    assert json.loads(stored) == {"party_size": 2}


@pytest.mark.django_db
def test_record_event_refuses_an_unknown_type() -> None:
    with pytest.raises(UnknownEventType):
        record_event("booking.teleported")
