"""Invariant 6 for every event type: whatever context a caller passes, no guest PII is stored."""

from __future__ import annotations

import json

import pytest

from observability.events import EVENT_TYPES, record_event
from observability.models import ObservabilityEvent
from observability.sanitizer import ALLOWED_CONTEXT_KEYS

NAME, EMAIL, PHONE, NOTES = "Ada Lovelace", "ada.lovelace@example.org", "+44 1223 555 0100", "Ada's birthday"
PII_VALUES = (NAME, EMAIL, PHONE, NOTES, "ada.lovelace", "555 0100", "01223 555010")

# What a careless caller might pass: PII under its own keys, under allowed keys, nested in
# mappings and lists, inside error texts, as a model-like object with PII in its repr.
PII_CONTEXT = {
    "guest_name": NAME,
    "guest_email": EMAIL,
    "guest_phone": PHONE,
    "notes": NOTES,
    "name": NAME,
    "email": EMAIL,
    "phone": "01223 5550100",
    "guest": {"name": NAME, "email": EMAIL},
    "booking": {"guest_name": NAME, "party_size": 2},
    "reason": f"guest {EMAIL} asked for a window seat",
    "error": f"IntegrityError: Failing row contains (42, {NAME}, , , {NOTES})",
    "status": f"call {PHONE}",
    "limits": {"max_covers": 40, "guest_name": NAME, "nested": {"email": EMAIL}},
    "tables": ["D5", EMAIL, {"label": "D6", "guest_phone": PHONE}],
    "alternatives": ["19:00", "19:15", PHONE],
    "old_value": {"guest_email": EMAIL},
    "new_value": f"{NAME} <{EMAIL}>",
    "title": f"Booking for {EMAIL}",
    "kind": f"Key (guest_email)=({EMAIL}) already exists",
}


class Guest:
    def __str__(self) -> str:
        return f"{NAME} <{EMAIL}> {PHONE}"


@pytest.mark.django_db
@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_no_pii_is_stored_for(event_type: str) -> None:
    event = record_event(
        event_type, restaurant_id=1, booking_id=2, **PII_CONTEXT, source=Guest(), party_size=4
    )

    stored = ObservabilityEvent.objects.get(pk=event.pk).context
    text = json.dumps(stored)
    for value in PII_VALUES:
        assert value not in text, f"{event_type} stored {value!r}: {text}"
    assert stored["party_size"] == 4  # harmless context survives
    assert set(stored) <= ALLOWED_CONTEXT_KEYS


def test_the_walk_covers_every_allowed_free_text_key() -> None:
    # A new allowed key carrying text should be added to PII_CONTEXT above.
    text_keys = {"reason", "error", "status", "title", "kind", "new_value", "old_value"}
    assert text_keys <= ALLOWED_CONTEXT_KEYS
