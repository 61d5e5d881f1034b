"""Cohorts and percentages: stable buckets, the precedence, and one cached round trip per read."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

import flags
from flags import store
from flags.models import AuditEntry, Cohort
from flags.registry import REGISTRY
from flags.services import (
    NothingToChange,
    change_approve,
    change_propose,
    cohort_members_set,
)
from flags.targeting import bucket, in_percentage

KEY = "capacity.enforcement"


# --- the hash ---------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(sorted(REGISTRY)),
    first=st.integers(min_value=0, max_value=100),
    raise_by=st.integers(min_value=0, max_value=100),
    restaurant_ids=st.lists(
        st.integers(min_value=1, max_value=10**12), min_size=1, max_size=300, unique=True
    ),
)
def test_raising_the_percentage_only_adds_restaurants(
    key: str, first: int, raise_by: int, restaurant_ids: list[int]
) -> None:
    second = min(100, first + raise_by)

    before = {rid for rid in restaurant_ids if in_percentage(key, rid, first)}
    after = {rid for rid in restaurant_ids if in_percentage(key, rid, second)}

    assert before <= after
    assert all(in_percentage(key, rid, 100) for rid in restaurant_ids)
    assert not any(in_percentage(key, rid, 0) for rid in restaurant_ids)


def test_a_percentage_covers_about_that_share_of_many_restaurants() -> None:
    ids = range(1, 20_001)
    for percentage in (10, 50):
        share = sum(in_percentage(KEY, rid, percentage) for rid in ids) / len(ids)
        assert abs(share - percentage / 100) < 0.02, (percentage, share)


def test_two_flags_at_ten_percent_pick_different_restaurants() -> None:
    ids = range(1, 2_001)
    one = {rid for rid in ids if in_percentage("capacity.enforcement", rid, 10)}
    other = {rid for rid in ids if in_percentage("holds.strict_conflicts", rid, 10)}
    assert one != other
    assert bucket(KEY, 7) == bucket(KEY, 7)  # stable across calls (and processes: sha256, no seed)


# --- precedence ---------------------------------------------------------------------------------------


def _apply(carol: Any, dave: Any, **change: Any) -> None:
    change_approve(change_request=change_propose(proposer=carol, reason="test", **change), approver=dave)


def _restaurant_in(percentage: int, *, inside: bool, start: int = 1) -> int:
    return next(rid for rid in range(start, 10_000) if in_percentage(KEY, rid, percentage) is inside)


@pytest.mark.django_db
def test_precedence_is_restaurant_then_cohort_then_percentage_then_global_then_default(
    carol: Any, dave: Any
) -> None:
    covered = _restaurant_in(50, inside=True)
    not_covered = _restaurant_in(50, inside=False)
    in_cohort = _restaurant_in(50, inside=True, start=covered + 1)
    overridden = _restaurant_in(50, inside=True, start=in_cohort + 1)
    beta = Cohort.objects.create(name="beta-partners")
    cohort_members_set(cohort=beta, restaurant_ids=[in_cohort, overridden])
    assert flags.get(KEY, covered) == "enforce"  # the default

    _apply(carol, dave, key=KEY, value="shadow")  # global override
    _apply(carol, dave, key=KEY, value="enforce", percentage=50)
    _apply(carol, dave, key=KEY, value="off", cohort=beta)
    _apply(carol, dave, key=KEY, value="shadow", restaurant_id=overridden)

    assert flags.get(KEY, overridden) == "shadow"  # restaurant override beats its cohort
    assert flags.get(KEY, in_cohort) == "off"  # cohort beats the percentage that covers it
    assert flags.get(KEY, covered) == "enforce"  # percentage beats the global override
    assert flags.get(KEY, not_covered) == "shadow"  # outside the percentage: the global override
    assert flags.get(KEY) == "shadow"  # no restaurant: global, targets do not apply
    assert flags.get_all(covered)[KEY] == "enforce"


@pytest.mark.django_db
def test_joining_a_cohort_changes_the_restaurants_value_at_once(carol: Any, dave: Any) -> None:
    beta = Cohort.objects.create(name="beta-partners")
    _apply(carol, dave, key="holds.strict_conflicts", value=True, cohort=beta)
    assert flags.get("holds.strict_conflicts", 42) is False  # cached: not a member

    cohort_members_set(cohort=beta, restaurant_ids=[42])
    assert flags.get("holds.strict_conflicts", 42) is True

    cohort_members_set(cohort=beta, restaurant_ids=[])
    assert flags.get("holds.strict_conflicts", 42) is False


@pytest.mark.django_db
def test_a_percentage_change_is_audited_with_both_percentages(carol: Any, dave: Any) -> None:
    _apply(carol, dave, key=KEY, value="shadow", percentage=10)
    _apply(carol, dave, key=KEY, value="shadow", percentage=50)

    entry = AuditEntry.objects.first()
    assert entry is not None
    assert (entry.old_percentage, entry.percentage) == (10, 50)
    assert entry.change_text == "shadow @ 10 % → shadow @ 50 %"
    with pytest.raises(NothingToChange):
        change_propose(proposer=carol, key=KEY, value="shadow", percentage=50, reason="again")


@pytest.mark.django_db
def test_a_targeted_read_is_one_cached_round_trip_and_no_query(
    carol: Any, dave: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    beta = Cohort.objects.create(name="beta-partners")
    cohort_members_set(cohort=beta, restaurant_ids=[5])
    _apply(carol, dave, key=KEY, value="shadow", percentage=30)
    _apply(carol, dave, key="holds.strict_conflicts", value=True, cohort=beta)
    flags.get_all(5)  # warm, as a running server is

    cache = store._cache()
    calls: list[str] = []
    for name in ("get", "get_many", "set", "set_many"):
        real = getattr(cache, name)
        monkeypatch.setattr(
            cache, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k)
        )
    with CaptureQueriesContext(connection) as queries:
        values = flags.get_all(5)

    assert values["holds.strict_conflicts"] is True
    assert calls == ["get_many"]
    assert len(queries) == 0


@pytest.mark.django_db
def test_a_percentage_target_that_would_contradict_for_the_restaurants_it_covers_is_refused(
    carol: Any,
) -> None:
    from bookings.tests.factories import RestaurantFactory
    from flags.services import ContradictionRefused

    for _ in range(20):
        RestaurantFactory()

    with pytest.raises(ContradictionRefused, match=r"allocator\.merges_enabled is on"):
        change_propose(
            proposer=carol, key="allocator.require_adjacency", value=False, percentage=50, reason="r"
        )


@pytest.mark.django_db
def test_the_admin_add_form_proposes_a_percentage_target(client: Any, carol: Any) -> None:
    from flags.models import ChangeRequest

    client.force_login(carol)
    client.post(
        "/admin/flags/changerequest/add/",
        {"key": KEY, "restaurant_id": "", "percentage": "10", "value": "shadow", "reason": "first tenth"},
    )

    change = ChangeRequest.objects.get()
    assert (change.percentage, change.new_value, change.scope) == (10, "shadow", "10 % of restaurants")
