"""Named timing spans: the booking path declares its stages, and the list of stages matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from bookings.models import Restaurant
from bookings.tests.api.conftest import booking_body, post_booking
from observability.spans import STAGES, collect_spans, span

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_a_booking_passes_through_its_declared_stages(small_restaurant: Restaurant) -> None:
    with collect_spans() as spans:
        assert post_booking(APIClient(), booking_body(small_restaurant.slug)).status_code == 201

    assert set(spans) == {
        "booking.submit",
        "booking.cached_refusal",
        "booking.transaction",
        "booking.claim",
        "admission.lock",
        "admission.read",
        "admission.plan",
        "admission.write",
        "booking.telemetry",
        "booking.answer",
    }
    inner = sum(spans[s] for s in ("booking.claim", "admission.lock", "admission.read", "admission.plan"))
    assert 0 < inner <= spans["booking.transaction"] <= spans["booking.submit"]


def test_an_undeclared_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stage"), span("booking.somewhere_else"):
        pass


def test_every_declared_stage_is_used_and_every_used_stage_declared() -> None:
    used: set[str] = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        used.update(re.findall(r'\bspan\("([a-z_.]+)"\)', path.read_text()))
    assert used == set(STAGES)
