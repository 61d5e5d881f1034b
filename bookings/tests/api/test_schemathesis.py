"""Schemathesis against the live schema: no 5xx, and every answer is one the schema documents.

The schema is fetched from ``/api/v1/schema/`` through the WSGI app, and every operation is
called in-process with generated data. Generated values are steered towards the seeded demo
restaurant (its slug, real booking references, hold ids, table labels, dates within the
booking horizon and times on the slot grid) so that the success paths run, not only the 404s.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.modes import GenerationMode

from bookings.demo import DEMO_TABLES, seed_demo
from bookings.models import Booking, Hold, Restaurant, WaitlistEntry
from reservex.wsgi import application

SCHEMA = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 40
ROOT_PASSWORD = "schemathesis-root"
# On the demo's slot grid, in and out of its lunch and dinner services.
SLOT_TIMES = ["12:00", "12:30", "13:45", "17:30", "18:00", "19:15", "20:30", "21:00", "22:00"]
ABSENT = object()


@dataclass(frozen=True)
class World:
    """What exists in the database for generated requests to hit."""

    restaurant: Restaurant
    other_restaurant: Restaurant
    root_auth: str
    outsider_auth: str


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Keep WSGI calls on the test's connection, as Django's test client does.

    The handler closes "old" connections when a request starts and finishes; inside the test's
    transaction that would drop the connection and every row the test set up.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(db: None, wsgi_in_test_transaction: None, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    """Seed the demo restaurant with bookings and holds, a superuser and a staff outsider."""
    # Basic auth on every staff call: a cheap hasher keeps the run about the API, not PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Throttling has its own tests; here a 429 would only hide the answers under test.
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon_ip", None)
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon_restaurant", None)
    restaurant = seed_demo()
    restaurant.allow_staff_override = True  # so that staff moves with override=True go through
    restaurant.save(update_fields=["allow_staff_override"])
    other = Restaurant.objects.create(slug="elsewhere", name="Elsewhere", timezone="UTC")
    users = get_user_model().objects
    users.create_superuser(username="root", password=ROOT_PASSWORD)
    outsider = users.create_user(username="outsider", password=ROOT_PASSWORD, is_staff=True)
    other.staff.add(outsider)
    _seed_bookings(restaurant)
    return World(
        restaurant=restaurant,
        other_restaurant=other,
        root_auth=basic_auth("root", ROOT_PASSWORD),
        outsider_auth=basic_auth("outsider", ROOT_PASSWORD),
    )


def _seed_bookings(restaurant: Restaurant) -> None:
    """Book a few dinners and hold a lunch table through the services the API uses."""
    from bookings.config import config_for
    from bookings.services.admission import BookingRequest
    from bookings.services.create import booking_create
    from bookings.services.holds import hold_create
    from bookings.slots import local_datetime

    day = _near_dates()[1]
    for hour, party in ((18, 2), (19, 4), (20, 6)):
        booking_create(
            config=config_for(restaurant.pk),
            request=BookingRequest(
                party_size=party,
                starts_at=local_datetime(restaurant, day, time(hour)),
                guest_name="Grace Hopper",
                guest_email="grace@example.org",
            ),
        )
    hold_create(restaurant=restaurant, party_size=2, starts_at=local_datetime(restaurant, day, time(12, 30)))
    _seed_waitlist(restaurant, day)


def _seed_waitlist(restaurant: Restaurant, day: date) -> None:
    """Put guests on the waitlist and offer them what is free, so accept and decline can succeed."""
    from bookings.config import config_for
    from bookings.services.waitlist import WaitlistRequest, waitlist_join, waitlist_offer_run

    for name in ("Ada Lovelace", "Alan Turing", "Edsger Dijkstra"):
        waitlist_join(
            config=config_for(restaurant.pk),
            request=WaitlistRequest(
                local_date=day,
                earliest_time=time(18),
                latest_time=time(21),
                party_size=2,
                guest_name=name,
                guest_email="guest@example.org",
            ),
        )
    waitlist_offer_run(restaurant_id=restaurant.pk, local_date=day)


def _near_dates() -> list[date]:
    """Return days within the booking horizon."""
    today = timezone.now().date()
    return [today + timedelta(days=n) for n in (1, 3, 7, 12)]


def _maybe(data: st.DataObject, generated: Any, options: Sequence[Any]) -> Any:
    """Return one of ``options`` seven times in eight, else the generated value.

    Always draws the same two numbers, so the draws do not depend on what the database holds
    (Hypothesis replays examples and insists that they draw alike). Hypothesis favours small
    numbers, so the generated value goes with the largest one and the first option is common.
    """
    keep_generated = data.draw(st.integers(0, 7)) == 7
    index = data.draw(st.integers(0, 1_000_000))
    if keep_generated or not options:
        return generated
    return options[index % len(options)]


def steer(case: Any, data: st.DataObject, world: World) -> None:
    """Point the generated request at things that exist, so success paths are reached."""
    references = list(Booking.objects.order_by("pk").values_list("reference", flat=True))
    holds = [str(pk) for pk in Hold.objects.order_by("created_at").values_list("pk", flat=True)]
    tokens = list(WaitlistEntry.objects.order_by("pk").values_list("token", flat=True))
    labels = data.draw(st.lists(st.sampled_from([t.label for t in DEMO_TABLES]), min_size=1, max_size=3))
    realistic: dict[str, Sequence[Any]] = {
        # Mostly the demo restaurant; "elsewhere" has no service periods and no tables.
        "restaurant": [world.restaurant.slug] * 3 + [world.other_restaurant.slug],
        "date": [day.isoformat() for day in _near_dates()],
        "time": SLOT_TIMES,
        "earliest_time": SLOT_TIMES[:5],
        "latest_time": SLOT_TIMES[5:],
        "party_size": range(1, 9),
        "hold_id": [None, *holds],
        "tables": [labels],
    }
    path = case.path_parameters or {}
    if "slug" in path:
        path["slug"] = _maybe(data, path["slug"], realistic["restaurant"])
    if "reference" in path:
        path["reference"] = _maybe(data, path["reference"], references)
    if "hold_id" in path:
        path["hold_id"] = _maybe(data, path["hold_id"], holds)
    if "token" in path:
        path["token"] = _maybe(data, path["token"], tokens)
    query = case.query if isinstance(case.query, dict) else {}
    body = case.body if isinstance(case.body, dict) else {}
    for fields in (query, body):
        for name, options in realistic.items():
            if name in fields:
                fields[name] = _maybe(data, fields[name], options)
    if case.operation.definition.raw["operationId"] == "staff_booking_create" and not body.get("walk_in"):
        # A phone booking needs a date and a time, optional in the schema because a walk-in has none.
        for name in ("date", "time"):
            if name not in body and (value := _maybe(data, ABSENT, realistic[name])) is not ABSENT:
                body[name] = value
    if case.operation.path.endswith("/move"):
        # Every field of a move is optional in the schema, but a move needs a time or tables.
        for name in ("date", "time", "tables"):
            if name not in body and (value := _maybe(data, ABSENT, realistic[name])) is not ABSENT:
                body[name] = value


def _staff_headers(case: Any, data: st.DataObject, world: World) -> dict[str, str]:
    """Call staff operations mostly as a superuser, sometimes as an outsider or anonymously.

    "Anonymously" means with whatever made-up credentials schemathesis generated, if any.
    """
    if not case.operation.path.startswith("/api/v1/staff/"):
        return {}
    who = data.draw(st.sampled_from(["root", "root", "root", "outsider", "anonymous"]))
    if who == "anonymous":
        return {}
    return {"Authorization": world.root_auth if who == "root" else world.outsider_auth}


def test_the_schema_documents_every_endpoint() -> None:
    assert {op.definition.raw["operationId"] for op in OPERATIONS} == {
        "availability",
        "hold_create",
        "hold_release",
        "booking_create",
        "booking_read",
        "booking_cancel",
        "staff_day",
        "staff_booking_create",
        "staff_move",
        "staff_status",
        "waitlist_join",
        "waitlist_read",
        "waitlist_accept",
        "waitlist_decline",
    }


def can_be_invalid(operation: Any) -> bool:
    """Say whether negative generation has anything to break: a body, or a constrained parameter.

    ``GET /bookings/{reference}`` takes any string, so no request to it can violate the schema.
    """
    raw = operation.definition.raw
    return "requestBody" in raw or any(
        param.get("schema") != {"type": "string"} for param in raw.get("parameters", [])
    )


RUNS = [
    pytest.param(operation, mode, id=f"{operation.definition.raw['operationId']}-{mode}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or can_be_invalid(operation)
]


@pytest.mark.slow
@pytest.mark.parametrize(("operation", "mode"), RUNS)
def test_every_answer_is_documented_and_none_is_a_server_error(
    operation: Any, mode: GenerationMode, world: World
) -> None:
    """Call each operation with valid (positive) and invalid (negative) requests."""
    strategy = operation.as_strategy(generation_mode=mode)

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,  # the same requests on every run
        database=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much],
    )
    @hypothesis.given(data=st.data())
    def call_and_validate(data: st.DataObject) -> None:
        case = data.draw(strategy)
        steer(case, data, world)
        response = case.call_and_validate(headers=_staff_headers(case, data, world), checks=CHECKS)
        statuses.append(response.status_code)

    statuses: list[int] = []
    call_and_validate()
    if mode is GenerationMode.POSITIVE:
        # Guard against a vacuous run that only ever met 404s and 400s.
        assert any(200 <= code < 300 for code in statuses), sorted(set(statuses))
