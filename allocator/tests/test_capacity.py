"""Properties and examples of the pure capacity rules (no database)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.capacity import (
    CapacityLimits,
    CapacityRequest,
    EnforcementMode,
    Seating,
    evaluate,
    resolve_limits,
    usage_at,
)

T0 = datetime(2025, 6, 1, 18, 0)
SLOT = timedelta(minutes=15)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seat(start: int, minutes: int, party: int) -> Seating:
    return Seating(starts_at=at(start), ends_at=at(start + minutes), party_size=party)


def ask(start: int, minutes: int, party: int) -> CapacityRequest:
    return CapacityRequest(
        starts_at=at(start), ends_at=at(start + minutes), party_size=party, slot_interval=SLOT
    )


def brute_usage(existing: list[Seating], req: CapacityRequest) -> tuple[int, int, int]:
    """Count at every instant where the count can change: the peak is at one of them."""
    instants = {req.starts_at} | {s.starts_at for s in existing if req.starts_at < s.starts_at < req.ends_at}
    covers = parties = 0
    for t in instants:
        here = [s for s in existing if s.starts_at <= t < s.ends_at]
        covers = max(covers, sum(s.party_size for s in here))
        parties = max(parties, len(here))
    pacing = sum(
        s.party_size for s in existing if req.starts_at <= s.starts_at < req.starts_at + req.slot_interval
    )
    return covers, parties, pacing


seatings = st.lists(
    st.builds(
        seat,
        st.integers(0, 32).map(lambda q: q * 15),
        st.integers(1, 12).map(lambda q: q * 15),
        st.integers(1, 10),
    ),
    max_size=25,
)
requests = st.builds(
    ask,
    st.integers(0, 32).map(lambda q: q * 15),
    st.integers(1, 12).map(lambda q: q * 15),
    st.integers(1, 10),
)
optional_limit = st.none() | st.integers(min_value=0, max_value=60)
limits_strategy = st.builds(
    CapacityLimits,
    max_covers=optional_limit,
    max_parties=st.none() | st.integers(min_value=0, max_value=12),
    pacing_covers=optional_limit,
    closed=st.integers(0, 9).map(lambda x: x == 0),
)


@settings(max_examples=300, deadline=None)
@given(seatings, requests)
def test_usage_matches_a_brute_force_count(existing: list[Seating], req: CapacityRequest) -> None:
    usage = usage_at(existing, req.starts_at, req.ends_at, req.slot_interval)
    assert tuple(usage) == brute_usage(existing, req)


@settings(max_examples=300, deadline=None)
@given(limits_strategy, seatings, requests)
def test_enforce_never_admits_past_a_limit(
    limits: CapacityLimits, existing: list[Seating], req: CapacityRequest
) -> None:
    decision = evaluate(limits, existing, req, EnforcementMode.ENFORCE)
    covers, parties, pacing = brute_usage(existing, req)
    assert decision.peak_covers == covers + req.party_size
    assert decision.peak_parties == parties + 1
    assert decision.pacing_covers == pacing + req.party_size
    within = (
        not limits.closed
        and (limits.max_covers is None or decision.peak_covers <= limits.max_covers)
        and (limits.max_parties is None or decision.peak_parties <= limits.max_parties)
        and (limits.pacing_covers is None or decision.pacing_covers <= limits.pacing_covers)
    )
    assert decision.admitted == within
    assert decision.would_refuse == (not within)
    assert (decision.reason is None) == within


@settings(max_examples=200, deadline=None)
@given(limits_strategy, seatings, requests)
def test_shadow_admits_and_flags_what_enforce_refuses(
    limits: CapacityLimits, existing: list[Seating], req: CapacityRequest
) -> None:
    enforce = evaluate(limits, existing, req, EnforcementMode.ENFORCE)
    shadow = evaluate(limits, existing, req, EnforcementMode.SHADOW)
    off = evaluate(limits, existing, req, EnforcementMode.OFF)
    assert shadow.admitted and off.admitted
    assert shadow.would_refuse == (not enforce.admitted)
    assert shadow.reason == enforce.reason
    assert not off.would_refuse
    assert off.reason is None
    for d in (shadow, off):
        assert (d.peak_covers, d.peak_parties, d.pacing_covers) == (
            enforce.peak_covers,
            enforce.peak_parties,
            enforce.pacing_covers,
        )
        assert json.loads(json.dumps(d.as_dict())) == d.as_dict()


@settings(max_examples=200, deadline=None)
@given(seatings, requests)
def test_no_limits_admit_everything(existing: list[Seating], req: CapacityRequest) -> None:
    limits = resolve_limits(None, None)
    assert evaluate(limits, existing, req, EnforcementMode.ENFORCE).admitted


def test_touching_seatings_are_not_at_once() -> None:
    existing = [seat(-120, 120, 4), seat(120, 90, 4)]
    decision = evaluate(
        CapacityLimits(max_covers=4, max_parties=1), existing, ask(0, 120, 4), EnforcementMode.ENFORCE
    )
    assert decision.admitted
    assert (decision.peak_covers, decision.peak_parties) == (4, 1)


def test_an_ending_seating_frees_capacity_at_its_end() -> None:
    # 6 covers until 19:00, 6 more from 19:00: never 12 at once.
    existing = [seat(0, 60, 6), seat(60, 60, 6)]
    decision = evaluate(CapacityLimits(max_covers=10), existing, ask(0, 120, 4), EnforcementMode.ENFORCE)
    assert decision.admitted
    assert decision.peak_covers == 10


def test_it_refuses_covers_over_the_limit() -> None:
    existing = [seat(0, 120, 6), seat(30, 120, 4)]
    decision = evaluate(CapacityLimits(max_covers=12), existing, ask(60, 120, 3), EnforcementMode.ENFORCE)
    assert not decision.admitted
    assert decision.reason == "max_covers"
    assert decision.peak_covers == 13


def test_it_refuses_parties_over_the_limit() -> None:
    existing = [seat(0, 120, 2), seat(0, 120, 2)]
    decision = evaluate(CapacityLimits(max_parties=2), existing, ask(15, 60, 2), EnforcementMode.ENFORCE)
    assert decision.reason == "max_parties"
    assert not decision.admitted


def test_pacing_counts_starts_in_the_requests_slot_only() -> None:
    existing = [seat(-15, 120, 8), seat(0, 120, 4), seat(10, 120, 2), seat(15, 120, 8)]
    decision = evaluate(CapacityLimits(pacing_covers=10), existing, ask(0, 120, 4), EnforcementMode.ENFORCE)
    assert decision.pacing_covers == 10
    assert decision.admitted
    decision = evaluate(CapacityLimits(pacing_covers=9), existing, ask(0, 120, 4), EnforcementMode.ENFORCE)
    assert decision.reason == "pacing"


def test_closed_refuses_even_an_empty_room() -> None:
    decision = evaluate(CapacityLimits(closed=True), [], ask(0, 90, 2), EnforcementMode.ENFORCE)
    assert not decision.admitted
    assert decision.reason == "closed"


def test_shadow_admits_but_flags() -> None:
    decision = evaluate(CapacityLimits(max_covers=2), [], ask(0, 90, 4), EnforcementMode.SHADOW)
    assert decision.admitted
    assert decision.would_refuse
    assert decision.reason == "max_covers"


def test_off_admits_and_still_reports_figures() -> None:
    decision = evaluate(CapacityLimits(max_covers=2), [seat(0, 90, 3)], ask(0, 90, 4), EnforcementMode.OFF)
    assert decision.admitted
    assert not decision.would_refuse
    assert decision.peak_covers == 7


def test_the_override_beats_the_rule_entirely() -> None:
    rule = CapacityLimits(max_covers=40, max_parties=10, pacing_covers=12)
    override = CapacityLimits(max_covers=80)
    assert resolve_limits(rule, override) == override
    assert resolve_limits(rule, None) == rule
    assert resolve_limits(None, override) == override
    assert resolve_limits(None, None) == CapacityLimits()


def test_usage_unpacks_as_a_tuple() -> None:
    covers, parties, pacing = usage_at([seat(0, 60, 3), seat(30, 60, 2)], at(0), at(120), SLOT)
    assert (covers, parties, pacing) == (5, 2, 3)


@pytest.mark.parametrize(
    "req",
    [
        ask(0, 0, 2),
        ask(0, 60, 0),
        CapacityRequest(starts_at=at(0), ends_at=at(60), party_size=2, slot_interval=timedelta(0)),
    ],
)
def test_it_rejects_a_malformed_request(req: CapacityRequest) -> None:
    with pytest.raises(ValueError):
        evaluate(CapacityLimits(), [], req, EnforcementMode.ENFORCE)
