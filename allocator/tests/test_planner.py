"""Properties and examples of the pure table planner (no database)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.planner import (
    FAILURE_BUSY,
    FAILURE_INVALID_REQUEST,
    FAILURE_NO_FIT,
    FAILURE_NO_TABLES,
    Decision,
    FloorSnapshot,
    Plan,
    PlannerSettings,
    PlanRequest,
    TableInfo,
    plan_tables,
    score_tables,
)

RID = 7
T0 = datetime(2025, 6, 1, 18, 0)
HOUR = timedelta(hours=1)
SECTIONS = ("main", "terrace", "bar")

# The default 50 ms enumeration budget is wall-clock time: on a loaded machine a descheduled test
# process could see it run out on a four-table floor. Tests of the ranking get all the time they
# need; the timeout itself is tested with injected timers.
UNHURRIED = PlannerSettings(enumeration_timeout_ms=60_000.0)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def table(
    tid: int,
    seats: int,
    *,
    min_party: int = 1,
    section: str = "main",
    combinable: bool = True,
    active: bool = True,
    restaurant_id: int = RID,
) -> TableInfo:
    return TableInfo(
        id=tid,
        label=f"T{tid}",
        section=section,
        min_party=min_party,
        max_party=seats,
        active=active,
        combinable=combinable,
        restaurant_id=restaurant_id,
    )


def floor(
    tables: list[TableInfo],
    edges: Sequence[tuple[int, int]] = (),
    busy: dict[int, tuple[tuple[datetime, datetime], ...]] | None = None,
) -> FloorSnapshot:
    return FloorSnapshot(
        restaurant_id=RID,
        tables=tuple(tables),
        adjacency=frozenset((min(a, b), max(a, b)) for a, b in edges),
        busy=busy or {},
    )


def request(party: int, start: int = 0, minutes: int = 120, section: str | None = None) -> PlanRequest:
    return PlanRequest(
        party_size=party, starts_at=at(start), ends_at=at(start + minutes), preferred_section=section
    )


def chain(ids: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(ids))


# --- a reference: every table set the rules allow, by brute force ---------------------------


def _connected(ids: tuple[int, ...], edges: frozenset[tuple[int, int]]) -> bool:
    wanted = set(ids)
    seen = {ids[0]}
    stack = [ids[0]]
    while stack:
        x = stack.pop()
        for a, b in edges:
            for u, v in ((a, b), (b, a)):
                if u == x and v in wanted and v not in seen:
                    seen.add(v)
                    stack.append(v)
    return seen == wanted


def allowed_sets(fl: FloorSnapshot, req: PlanRequest, cfg: PlannerSettings) -> set[tuple[int, ...]]:
    """Return every table set the documented rules allow, by brute force."""
    free = [
        t
        for t in sorted(fl.tables, key=lambda t: t.id)
        if t.active
        and t.restaurant_id == fl.restaurant_id
        and t.max_party >= 1
        and t.min_party <= t.max_party
        and not any(s < req.ends_at and req.starts_at < e for s, e in fl.busy.get(t.id, ()))
    ]
    party = req.party_size
    found = {(t.id,) for t in free if t.min_party <= party <= t.max_party}
    if not (cfg.merges_enabled and cfg.max_merge_tables >= 2):
        return found
    pool = [t for t in free if t.combinable and t.max_party < party]
    for size in range(2, cfg.max_merge_tables + 1):
        for combo in itertools.combinations(pool, size):
            ids = tuple(t.id for t in combo)
            seats = sum(t.max_party for t in combo)
            if seats < party:
                continue
            if cfg.require_adjacency and not _connected(ids, fl.adjacency):
                continue
            redundant = False
            for drop in combo:
                rest = tuple(t.id for t in combo if t is not drop)
                if seats - drop.max_party >= party and (
                    not cfg.require_adjacency or _connected(rest, fl.adjacency)
                ):
                    redundant = True
            if not redundant:
                found.add(ids)
    return found


# --- strategies -----------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FloorSnapshot, PlanRequest, PlannerSettings]:
    n = draw(st.integers(min_value=0, max_value=8))
    tables = []
    for tid in range(1, n + 1):
        seats = draw(st.sampled_from([1, 2, 2, 4, 4, 6, 8]))
        tables.append(
            table(
                tid,
                seats,
                min_party=draw(st.integers(min_value=1, max_value=seats)),
                section=draw(st.sampled_from(SECTIONS)),
                combinable=draw(st.booleans()) or draw(st.booleans()),
                active=draw(st.integers(0, 9)) > 0,
                restaurant_id=RID if draw(st.integers(0, 9)) > 0 else RID + 1,
            )
        )
    pairs = [(a, b) for a in range(1, n + 1) for b in range(a + 1, n + 1)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    busy: dict[int, tuple[tuple[datetime, datetime], ...]] = {}
    for tid in range(1, n + 1):
        windows = draw(st.lists(st.tuples(st.integers(0, 16), st.integers(1, 8)), max_size=2))
        busy[tid] = tuple((at(s * 15), at(s * 15 + d * 15)) for s, d in windows)
    req = request(
        draw(st.integers(min_value=1, max_value=22)),
        start=15 * draw(st.integers(0, 12)),
        minutes=15 * draw(st.integers(1, 10)),
        section=draw(st.none() | st.sampled_from(SECTIONS)),
    )
    cfg = PlannerSettings(
        merges_enabled=draw(st.booleans()),
        require_adjacency=draw(st.booleans()),
        max_merge_tables=draw(st.integers(min_value=1, max_value=4)),
        enumeration_timeout_ms=1000.0,
    )
    return floor(tables, edges, busy), req, cfg


def all_plans(decision: Decision) -> Iterator[Plan]:
    if decision.plan is not None:
        yield decision.plan
    yield from decision.runners_up


def assert_valid(plan: Plan, fl: FloorSnapshot, req: PlanRequest, cfg: PlannerSettings) -> None:
    by_id = {t.id: t for t in fl.tables}
    members = [by_id[i] for i in plan.table_ids]
    party = req.party_size
    assert plan.table_ids == tuple(sorted(set(plan.table_ids)))
    assert plan.seats == sum(t.max_party for t in members) >= party
    assert plan.seat_waste == plan.seats - party
    for t in members:
        assert t.active
        assert t.restaurant_id == fl.restaurant_id
        assert not any(s < req.ends_at and req.starts_at < e for s, e in fl.busy.get(t.id, ()))
    if len(members) == 1:
        assert members[0].min_party <= party <= members[0].max_party
    else:
        assert cfg.merges_enabled
        assert len(members) <= cfg.max_merge_tables
        assert all(t.combinable for t in members)
        assert all(t.max_party < party for t in members)
        if cfg.require_adjacency:
            assert _connected(plan.table_ids, fl.adjacency)


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_returned_plan_is_allowed_and_the_best_is_optimal(
    case: tuple[FloorSnapshot, PlanRequest, PlannerSettings],
) -> None:
    fl, req, cfg = case
    decision = plan_tables(fl, req, cfg)
    allowed = allowed_sets(fl, req, cfg)

    assert not decision.truncated
    for plan in all_plans(decision):
        assert_valid(plan, fl, req, cfg)
        assert plan.table_ids in allowed
    if not allowed:
        assert decision.plan is None
        assert decision.failure_reason is not None
        return
    assert decision.plan is not None
    assert decision.failure_reason is None
    # Nothing the rules allow wastes fewer seats, or as few with fewer tables.
    by_id = {t.id: t for t in fl.tables}
    best = min((sum(by_id[i].max_party for i in ids) - req.party_size, len(ids)) for ids in allowed)
    assert (decision.plan.seat_waste, len(decision.plan.table_ids)) == best
    # The plan and runners up are exactly the four best allowed sets: pruning lost nothing.
    scored = [score_tables(fl, req, cfg, ids) for ids in allowed]
    expected = sorted((p for p in scored if p is not None), key=lambda p: p.score)[:4]
    assert list(all_plans(decision)) == expected


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_score_tables_accepts_exactly_the_allowed_sets(
    case: tuple[FloorSnapshot, PlanRequest, PlannerSettings],
) -> None:
    fl, req, cfg = case
    allowed = allowed_sets(fl, req, cfg)
    ids = sorted(t.id for t in fl.tables)
    for size in range(1, 5):
        for combo in itertools.combinations(ids, size):
            plan = score_tables(fl, req, cfg, combo)
            assert (plan is not None) == (combo in allowed), combo
            if plan is not None:
                assert_valid(plan, fl, req, cfg)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_it_is_deterministic_and_ignores_table_order(
    case: tuple[FloorSnapshot, PlanRequest, PlannerSettings],
) -> None:
    fl, req, cfg = case
    shuffled = FloorSnapshot(fl.restaurant_id, tuple(reversed(fl.tables)), fl.adjacency, fl.busy)
    first = plan_tables(fl, req, cfg)
    again = plan_tables(fl, req, cfg)
    other = plan_tables(shuffled, req, cfg)
    for d in (again, other):
        assert d.plan == first.plan
        assert d.runners_up == first.runners_up
        assert d.failure_reason == first.failure_reason


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_the_reason_is_json_serialisable(case: tuple[FloorSnapshot, PlanRequest, PlannerSettings]) -> None:
    fl, req, cfg = case
    reason = plan_tables(fl, req, cfg).as_reason()
    assert json.loads(json.dumps(reason)) == reason
    assert set(reason) >= {"plan", "runners_up", "settings", "candidates_considered", "truncated"}


def jumping_timer(step: float) -> Callable[[], float]:
    now = [0.0]

    def timer() -> float:
        now[0] += step
        return now[0]

    return timer


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_a_blown_budget_still_returns_a_valid_plan_or_none(
    case: tuple[FloorSnapshot, PlanRequest, PlannerSettings],
) -> None:
    fl, req, cfg = case
    decision = plan_tables(fl, req, cfg, timer=jumping_timer(10.0))
    for plan in all_plans(decision):
        assert_valid(plan, fl, req, cfg)
    assert (decision.plan is None) == (decision.failure_reason is not None)


# --- examples -------------------------------------------------------------------------------


def test_it_truncates_when_the_timer_jumps_past_the_budget() -> None:
    tables = [table(i, 2) for i in range(1, 31)]
    fl = floor(tables, chain(list(range(1, 31))))
    decision = plan_tables(fl, request(6), PlannerSettings(), timer=jumping_timer(1.0))
    assert decision.truncated
    assert decision.plan is None
    assert decision.failure_reason == "enumeration_timeout"


def test_a_budget_blown_mid_enumeration_keeps_what_was_found() -> None:
    # Two rows of 2-tops joined side by side and front to back: plenty of connected sets.
    tables = [table(i, 2) for i in range(1, 41)]
    edges = chain(list(range(1, 21))) + chain(list(range(21, 41))) + [(i, i + 20) for i in range(1, 21)]
    reads = [0]

    def timer() -> float:
        reads[0] += 1
        return 0.0 if reads[0] < 3 else 1e9

    decision = plan_tables(floor(tables, edges), request(6), PlannerSettings(), timer=timer)
    assert decision.truncated
    assert decision.subsets_explored > 0
    for plan in all_plans(decision):
        assert_valid(plan, floor(tables, edges), request(6), UNHURRIED)


def test_a_truncated_search_keeps_the_best_single_table() -> None:
    tables = [table(1, 6), *(table(i, 2) for i in range(2, 30))]
    fl = floor(tables, chain(list(range(2, 30))))
    decision = plan_tables(fl, request(5), PlannerSettings(), timer=jumping_timer(1.0))
    assert decision.truncated
    assert decision.plan is not None
    assert decision.plan.table_ids == (1,)


def test_a_free_exact_single_table_beats_a_combination() -> None:
    fl = floor([table(1, 4), table(2, 4), table(3, 8)], chain([1, 2]))
    decision = plan_tables(fl, request(8), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (3,)
    assert decision.runners_up[0].table_ids == (1, 2)


def test_it_prefers_the_smallest_waste() -> None:
    fl = floor([table(1, 8), table(2, 6), table(3, 4)])
    decision = plan_tables(fl, request(5), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (2,)
    assert decision.plan.seat_waste == 1


def test_it_joins_tables_when_that_wastes_fewer_seats() -> None:
    fl = floor([table(1, 8), table(2, 4), table(3, 2)], chain([2, 3]))
    decision = plan_tables(fl, request(6), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (2, 3)


def test_it_prefers_fewer_tables_at_equal_waste() -> None:
    fl = floor([table(1, 2), table(2, 2), table(3, 2), table(4, 4), table(5, 2)], chain([1, 2, 3, 4, 5]))
    decision = plan_tables(fl, request(6), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids in {(3, 4), (4, 5)}


def test_it_keeps_the_big_table_free_for_a_big_party() -> None:
    # Ten guests: 6 + 4 or 8 + 2 waste nothing; the 8-top is worth keeping.
    fl = floor([table(1, 8), table(2, 2), table(3, 6), table(4, 4)], [(1, 2), (2, 3), (3, 4)])
    decision = plan_tables(fl, request(10), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (3, 4)


def test_it_keeps_joinable_tables_free() -> None:
    # Table 2 sits in the middle of a free chain; table 4 joins nothing.
    fl = floor([table(1, 4), table(2, 4), table(3, 4), table(4, 4, combinable=False)], chain([1, 2, 3]))
    decision = plan_tables(fl, request(4), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (4,)
    assert decision.runners_up[-1].table_ids == (2,)


def test_it_honours_the_preferred_section_between_equals() -> None:
    fl = floor([table(1, 4, section="main"), table(2, 4, section="terrace")])
    decision = plan_tables(fl, request(4, section="terrace"), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (2,)
    assert decision.plan.score_parts["section_mismatch"] == 0
    assert decision.runners_up[0].score_parts["section_mismatch"] == 1


def test_it_packs_a_booking_against_an_earlier_one() -> None:
    # Same size, same shape; table 2 stays free all evening for someone else.
    fl = floor([table(1, 4), table(2, 4)], busy={1: ((at(-120), at(0)),)})
    decision = plan_tables(fl, request(4), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (1,)
    assert decision.plan.score_parts["idle_minutes"] < decision.runners_up[0].score_parts["idle_minutes"]


def test_an_empty_window_blocks_nothing() -> None:
    fl = floor([table(1, 4)], busy={1: ((at(30), at(30)),)})
    assert plan_tables(fl, request(4), UNHURRIED).plan is not None


def test_touching_windows_do_not_overlap() -> None:
    fl = floor([table(1, 4)], busy={1: ((at(-120), at(0)), (at(120), at(240)))})
    decision = plan_tables(fl, request(4, start=0, minutes=120), UNHURRIED)
    assert decision.plan is not None


def test_it_never_uses_busy_inactive_or_foreign_tables() -> None:
    fl = floor(
        [table(1, 4, active=False), table(2, 4, restaurant_id=RID + 1), table(3, 4), table(4, 6)],
        busy={3: ((at(60), at(90)),)},
    )
    decision = plan_tables(fl, request(4), UNHURRIED)
    assert decision.plan is not None
    assert decision.plan.table_ids == (4,)


def test_it_does_not_join_tables_when_merges_are_off() -> None:
    fl = floor([table(1, 4), table(2, 4)], chain([1, 2]))
    decision = plan_tables(fl, request(8), PlannerSettings(merges_enabled=False))
    assert decision.plan is None
    assert decision.failure_reason == FAILURE_NO_FIT


def test_it_respects_max_merge_tables() -> None:
    fl = floor([table(i, 2) for i in range(1, 5)], chain([1, 2, 3, 4]))
    assert plan_tables(fl, request(8), PlannerSettings(max_merge_tables=3)).plan is None
    decision = plan_tables(fl, request(8), PlannerSettings(max_merge_tables=4))
    assert decision.plan is not None
    assert decision.plan.table_ids == (1, 2, 3, 4)


def test_it_joins_only_adjacent_tables_when_adjacency_is_required() -> None:
    fl = floor([table(1, 4), table(2, 4), table(3, 4)], [(1, 2)])
    assert plan_tables(fl, request(12), UNHURRIED).plan is None
    decision = plan_tables(fl, request(12), PlannerSettings(require_adjacency=False))
    assert decision.plan is not None
    assert decision.plan.table_ids == (1, 2, 3)


def test_it_never_joins_a_non_combinable_table() -> None:
    fl = floor([table(1, 4), table(2, 4, combinable=False)], chain([1, 2]))
    decision = plan_tables(fl, request(8), UNHURRIED)
    assert decision.plan is None


def test_it_says_why_there_is_no_plan() -> None:
    fl = floor([table(1, 4)], busy={1: ((at(0), at(60)),)})
    assert plan_tables(fl, request(4), UNHURRIED).failure_reason == FAILURE_BUSY
    assert plan_tables(fl, request(9), UNHURRIED).failure_reason == FAILURE_NO_FIT
    assert plan_tables(fl, request(0), UNHURRIED).failure_reason == FAILURE_INVALID_REQUEST
    assert plan_tables(fl, request(2, minutes=0), UNHURRIED).failure_reason == FAILURE_INVALID_REQUEST
    assert plan_tables(floor([]), request(2), UNHURRIED).failure_reason == FAILURE_NO_TABLES


def test_the_reason_explains_the_choice() -> None:
    fl = floor([table(1, 4), table(2, 6)])
    reason = plan_tables(fl, request(4), UNHURRIED).as_reason()
    assert reason["outcome"] == "planned"
    plan = reason["plan"]
    assert isinstance(plan, dict)
    assert plan["labels"] == ["T1"]
    assert plan["score_parts"]["seat_waste"] == 0
    runners_up = reason["runners_up"]
    assert isinstance(runners_up, list)
    assert runners_up[0]["labels"] == ["T2"]
    assert reason["settings"] == UNHURRIED.as_dict()
