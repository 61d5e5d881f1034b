"""Properties and examples of the re-seating search (pure, no database)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.planner import (
    FloorSnapshot,
    PlannerSettings,
    PlanRequest,
    TableInfo,
    plan_tables,
    score_tables,
)
from allocator.reseating import (
    RESEAT_BUDGET,
    RESEAT_NO_ROOM,
    RESEAT_NO_TARGET,
    RESEAT_TOO_MANY_MOVES,
    PlacedBooking,
    Reseating,
    ReseatLimits,
    Tidy,
    reseat,
    tidy,
)

RID = 3
T0 = datetime(2025, 6, 6, 17, 0)
# Wall-clock budgets are not tested here: the search is bounded by nodes, the timer is injected.
UNHURRIED = PlannerSettings(enumeration_timeout_ms=60_000.0)

Busy = dict[int, tuple[tuple[datetime, datetime], ...]]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def table(tid: int, seats: int, *, combinable: bool = True, min_party: int = 1) -> TableInfo:
    return TableInfo(
        id=tid,
        label=f"T{tid}",
        section="main",
        min_party=min_party,
        max_party=seats,
        combinable=combinable,
        restaurant_id=RID,
    )


def booking(
    bid: int, party: int, start: int, minutes: int, tables: Sequence[int], *, movable: bool = True
) -> PlacedBooking:
    return PlacedBooking(
        booking_id=bid,
        party_size=party,
        starts_at=at(start),
        ends_at=at(start + minutes),
        table_ids=tuple(tables),
        movable=movable,
    )


def floor_of(
    tables: Sequence[TableInfo],
    edges: Sequence[tuple[int, int]],
    bookings: Sequence[PlacedBooking],
    extra: Busy | None = None,
) -> FloorSnapshot:
    busy: dict[int, list[tuple[datetime, datetime]]] = {
        t.id: list((extra or {}).get(t.id, ())) for t in tables
    }
    for b in bookings:
        for t in b.table_ids:
            busy[t].append((b.starts_at, b.ends_at))
    return FloorSnapshot(
        restaurant_id=RID,
        tables=tuple(tables),
        adjacency=frozenset((min(a, b), max(a, b)) for a, b in edges),
        busy={k: tuple(v) for k, v in busy.items()},
    )


def after_moves(fl: FloorSnapshot, bookings: Sequence[PlacedBooking], result: Reseating | Tidy) -> Busy:
    """Return the floor's windows once the moves and the request's plan are applied."""
    by_id = {b.booking_id: b for b in bookings}
    busy = {k: list(v) for k, v in fl.busy.items()}
    for move in result.moves:
        old = by_id[move.booking_id]
        for t in old.table_ids:
            busy[t].remove((old.starts_at, old.ends_at))
    for move in result.moves:
        for t in move.to_table_ids:
            busy.setdefault(t, []).append((move.starts_at, move.ends_at))
    return {k: tuple(v) for k, v in busy.items()}


# --- the scene of the issue: two couples on the two four-tops a party of six needs ---------------

FOUR_TOPS = [table(1, 4), table(2, 4), table(3, 2), table(4, 2)]
JOIN = [(1, 2)]
COUPLES = [booking(10, 2, 0, 90, [1]), booking(11, 2, 0, 90, [2])]
SIX_AT_1730 = PlanRequest(party_size=6, starts_at=at(30), ends_at=at(150))


def test_greedy_refuses_the_party_of_six_and_reseating_seats_it_by_moving_both_couples() -> None:
    fl = floor_of(FOUR_TOPS, JOIN, COUPLES)
    assert plan_tables(fl, SIX_AT_1730, UNHURRIED).plan is None  # the control: greedy refuses

    result = reseat(fl, COUPLES, SIX_AT_1730, UNHURRIED, ReseatLimits())

    assert result.decision is not None and result.decision.plan is not None
    assert result.decision.plan.table_ids == (1, 2)
    assert {(m.booking_id, m.from_labels, m.to_labels) for m in result.moves} == {
        (10, ("T1",), ("T3",)),
        (11, ("T2",), ("T4",)),
    }
    assert result.failure_reason is None
    assert result.seat_waste == 2  # six at two four-tops; the couples sit at two-tops


def test_an_unmovable_couple_keeps_its_table_and_the_party_is_refused() -> None:
    pinned = [COUPLES[0], booking(11, 2, 0, 90, [2], movable=False)]
    fl = floor_of(FOUR_TOPS, JOIN, pinned)

    result = reseat(fl, pinned, SIX_AT_1730, UNHURRIED, ReseatLimits())

    assert result.decision is None
    assert result.moves == ()
    assert result.failure_reason == RESEAT_NO_TARGET


def test_it_prefers_one_move_to_two() -> None:
    # A 6-top held by one couple, or the two 4-tops held by two couples: move the one couple.
    tables = [*FOUR_TOPS, table(5, 6), table(6, 2)]
    bookings = [*COUPLES, booking(12, 2, 0, 90, [5])]
    fl = floor_of(tables, JOIN, bookings)

    result = reseat(fl, bookings, SIX_AT_1730, UNHURRIED, ReseatLimits())

    assert [m.booking_id for m in result.moves] == [12]
    assert result.decision is not None and result.decision.plan is not None
    assert result.decision.plan.table_ids == (5,)


def test_a_chain_moves_a_second_booking_when_the_first_fits_nowhere_free() -> None:
    # The six needs the 6-top, held by a four whose only other table is held by a couple that
    # could sit at the free 2-top.
    tables = [table(1, 6), table(2, 4), table(3, 2)]
    bookings = [booking(10, 4, 0, 105, [1]), booking(11, 2, 0, 90, [2])]
    fl = floor_of(tables, [], bookings)

    one_move = reseat(fl, bookings, SIX_AT_1730, UNHURRIED, ReseatLimits(max_moves=1))
    two_moves = reseat(fl, bookings, SIX_AT_1730, UNHURRIED, ReseatLimits(max_moves=2))

    assert one_move.decision is None
    assert one_move.failure_reason == RESEAT_NO_ROOM
    assert two_moves.decision is not None
    assert [(m.booking_id, m.to_table_ids) for m in two_moves.moves] == [(10, (2,)), (11, (3,))]


def test_it_says_when_every_target_needs_more_moves_than_allowed() -> None:
    fl = floor_of(FOUR_TOPS, JOIN, COUPLES)

    result = reseat(fl, COUPLES, SIX_AT_1730, UNHURRIED, ReseatLimits(max_moves=1))

    assert result.decision is None
    assert result.failure_reason == RESEAT_TOO_MANY_MOVES


def test_the_node_bound_stops_the_search() -> None:
    fl = floor_of(FOUR_TOPS, JOIN, COUPLES)

    result = reseat(fl, COUPLES, SIX_AT_1730, UNHURRIED, ReseatLimits(max_nodes=2))

    assert result.decision is None
    assert result.truncated
    assert result.failure_reason == RESEAT_BUDGET


def test_an_injected_timer_bounds_the_search_and_without_one_no_clock_is_read() -> None:
    fl = floor_of(FOUR_TOPS, JOIN, COUPLES)
    ticks = itertools.count()

    def slow_clock() -> float:
        return next(ticks) * 0.010  # every read 10 ms later

    limited = reseat(fl, COUPLES, SIX_AT_1730, UNHURRIED, ReseatLimits(time_budget_ms=15), timer=slow_clock)
    unlimited = reseat(fl, COUPLES, SIX_AT_1730, UNHURRIED, ReseatLimits(time_budget_ms=15))

    assert limited.failure_reason == RESEAT_BUDGET
    assert unlimited.decision is not None
    assert unlimited.search_ms == 0.0


def test_a_booking_the_floor_does_not_show_where_the_caller_says_is_not_moved() -> None:
    # Couple 11 claims table 2 but the floor has no such window there: moving it would free a
    # window that is someone else's (here a hold's, 10 minutes longer).
    fl = floor_of(FOUR_TOPS, JOIN, [COUPLES[0]], extra={2: ((at(0), at(100)),)})

    result = reseat(fl, COUPLES, SIX_AT_1730, UNHURRIED, ReseatLimits())

    assert result.decision is None
    assert all(m.booking_id != 11 for m in result.moves)


# --- properties -----------------------------------------------------------------------------


@st.composite
def evenings(
    draw: st.DrawFn,
) -> tuple[FloorSnapshot, list[PlacedBooking], PlanRequest, PlannerSettings, ReseatLimits]:
    """A floor filled by the planner itself, some bookings unmovable, a few holds, one request."""
    n = draw(st.integers(min_value=2, max_value=8))
    tables = []
    for tid in range(1, n + 1):
        seats = draw(st.sampled_from([2, 2, 4, 4, 6, 8]))
        tables.append(
            table(
                tid,
                seats,
                combinable=draw(st.integers(0, 4)) > 0,
                min_party=draw(st.integers(1, max(1, seats // 2))),
            )
        )
    pairs = [(a, b) for a in range(1, n + 1) for b in range(a + 1, n + 1)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=2 * n))
    cfg = PlannerSettings(
        merges_enabled=draw(st.booleans()),
        require_adjacency=draw(st.booleans()) or draw(st.booleans()),
        max_merge_tables=draw(st.integers(min_value=2, max_value=3)),
        enumeration_timeout_ms=60_000.0,
    )
    holds: Busy = {}
    for tid in draw(st.lists(st.integers(1, n), max_size=2, unique=True)):
        start = 15 * draw(st.integers(0, 16))
        holds[tid] = ((at(start), at(start + 90)),)
    bookings: list[PlacedBooking] = []
    for bid in range(1, draw(st.integers(0, 14)) + 1):
        party = draw(st.integers(1, 8))
        start = 15 * draw(st.integers(0, 16))
        req = PlanRequest(party_size=party, starts_at=at(start), ends_at=at(start + 90 + 15 * (party // 3)))
        decision = plan_tables(floor_of(tables, edges, bookings, holds), req, cfg)
        if decision.plan is not None:
            bookings.append(
                PlacedBooking(
                    booking_id=bid,
                    party_size=party,
                    starts_at=req.starts_at,
                    ends_at=req.ends_at,
                    table_ids=decision.plan.table_ids,
                    movable=draw(st.integers(0, 3)) > 0,
                )
            )
    party = draw(st.integers(1, 12))
    start = 15 * draw(st.integers(0, 16))
    request = PlanRequest(party_size=party, starts_at=at(start), ends_at=at(start + 120))
    limits = ReseatLimits(max_moves=draw(st.integers(1, 3)), max_nodes=draw(st.sampled_from([5, 60, 400])))
    return floor_of(tables, edges, bookings, holds), bookings, request, cfg, limits


@settings(max_examples=300, deadline=None)
@given(evenings())
def test_moves_keep_time_and_party_and_touch_only_movable_bookings_once(
    scene: tuple[FloorSnapshot, list[PlacedBooking], PlanRequest, PlannerSettings, ReseatLimits],
) -> None:
    fl, bookings, req, cfg, limits = scene

    result = reseat(fl, bookings, req, cfg, limits)

    by_id = {b.booking_id: b for b in bookings}
    moved = [m.booking_id for m in result.moves]
    assert len(moved) == len(set(moved)) <= limits.max_moves
    for move in result.moves:
        old = by_id[move.booking_id]
        assert old.movable
        assert (move.party_size, move.starts_at, move.ends_at) == (old.party_size, old.starts_at, old.ends_at)
        assert tuple(sorted(old.table_ids)) == move.from_table_ids != move.to_table_ids
    if result.decision is None:
        assert result.moves == ()
        assert result.failure_reason is not None


@settings(max_examples=300, deadline=None)
@given(evenings())
def test_after_the_moves_nothing_overlaps_and_every_party_sits_at_tables_the_planner_allows(
    scene: tuple[FloorSnapshot, list[PlacedBooking], PlanRequest, PlannerSettings, ReseatLimits],
) -> None:
    fl, bookings, req, cfg, limits = scene

    result = reseat(fl, bookings, req, cfg, limits)

    if result.decision is None or result.decision.plan is None:
        return
    busy = after_moves(fl, bookings, result)
    # Invariant 3 for the request and for each moved booking: the planner's own rules (seats,
    # minimums, active tables of this restaurant, joins connected) on the floor without it.
    plan = result.decision.plan
    assert (
        score_tables(FloorSnapshot(RID, fl.tables, fl.adjacency, busy), req, cfg, plan.table_ids) is not None
    )
    for move in result.moves:
        own = {
            k: tuple(w for w in v if not (k in move.to_table_ids and w == (move.starts_at, move.ends_at)))
            for k, v in busy.items()
        }
        moved_req = PlanRequest(party_size=move.party_size, starts_at=move.starts_at, ends_at=move.ends_at)
        assert score_tables(
            FloorSnapshot(RID, fl.tables, fl.adjacency, own), moved_req, cfg, move.to_table_ids
        )
    # Invariant 1: with the request seated too, no table has two overlapping windows.
    for t in plan.table_ids:
        busy[t] = (*busy.get(t, ()), (req.starts_at, req.ends_at))
    for windows in busy.values():
        for (s1, e1), (s2, e2) in itertools.combinations(windows, 2):
            assert not (s1 < e2 and s2 < e1)


@settings(max_examples=200, deadline=None)
@given(evenings())
def test_it_never_refuses_what_the_planner_seats_and_is_deterministic(
    scene: tuple[FloorSnapshot, list[PlacedBooking], PlanRequest, PlannerSettings, ReseatLimits],
) -> None:
    fl, bookings, req, cfg, limits = scene

    first = reseat(fl, bookings, req, cfg, ReseatLimits(max_moves=limits.max_moves))
    again = reseat(fl, bookings, req, cfg, ReseatLimits(max_moves=limits.max_moves))

    if plan_tables(fl, req, cfg).plan is not None:
        assert first.decision is not None and first.moves == ()
    assert first.moves == again.moves
    assert (first.decision and first.decision.plan) == (again.decision and again.decision.plan)


@settings(max_examples=200, deadline=None)
@given(evenings())
def test_with_nothing_movable_it_seats_exactly_what_the_planner_seats(
    scene: tuple[FloorSnapshot, list[PlacedBooking], PlanRequest, PlannerSettings, ReseatLimits],
) -> None:
    fl, bookings, req, cfg, limits = scene
    frozen = [
        PlacedBooking(b.booking_id, b.party_size, b.starts_at, b.ends_at, b.table_ids, movable=False)
        for b in bookings
    ]

    result = reseat(fl, frozen, req, cfg, limits)

    assert result.moves == ()
    assert (result.decision is not None) == (plan_tables(fl, req, cfg).plan is not None)


# --- tidy-up after cancellations ----------------------------------------------------------------


def test_tidy_moves_a_couple_from_a_four_top_to_a_free_two_top_once() -> None:
    # The two-tops were taken when the couples booked; those bookings were cancelled since.
    fl = floor_of(FOUR_TOPS, JOIN, COUPLES)

    first = tidy(fl, COUPLES, UNHURRIED, ReseatLimits())
    moved = [
        PlacedBooking(b.booking_id, b.party_size, b.starts_at, b.ends_at, m.to_table_ids, movable=True)
        for b, m in zip(COUPLES, first.moves, strict=True)
    ]
    again = tidy(floor_of(FOUR_TOPS, JOIN, moved), moved, UNHURRIED, ReseatLimits())

    assert sorted(m.to_labels for m in first.moves) == [("T3",), ("T4",)]
    assert first.seats_freed == 4
    assert again.moves == ()


def test_tidy_leaves_unmovable_bookings_and_good_placements_alone() -> None:
    pinned = [booking(10, 2, 0, 90, [1], movable=False), booking(11, 4, 0, 90, [2])]
    fl = floor_of(FOUR_TOPS, JOIN, pinned)

    assert tidy(fl, pinned, UNHURRIED, ReseatLimits()).moves == ()


@settings(max_examples=200, deadline=None)
@given(evenings())
def test_tidy_keeps_time_party_and_the_rules_never_adds_empty_seats_and_settles(
    scene: tuple[FloorSnapshot, list[PlacedBooking], PlanRequest, PlannerSettings, ReseatLimits],
) -> None:
    fl, bookings, _, cfg, _ = scene
    limits = ReseatLimits(max_nodes=10_000)

    result = tidy(fl, bookings, cfg, limits)

    by_id = {b.booking_id: b for b in bookings}
    busy = after_moves(fl, bookings, result)
    for move in result.moves:
        old = by_id[move.booking_id]
        assert old.movable
        assert (move.party_size, move.starts_at, move.ends_at) == (old.party_size, old.starts_at, old.ends_at)
        own = {
            k: tuple(w for w in v if not (k in move.to_table_ids and w == (move.starts_at, move.ends_at)))
            for k, v in busy.items()
        }
        moved_req = PlanRequest(party_size=move.party_size, starts_at=move.starts_at, ends_at=move.ends_at)
        assert score_tables(
            FloorSnapshot(RID, fl.tables, fl.adjacency, own), moved_req, cfg, move.to_table_ids
        )
    for windows in busy.values():
        for (s1, e1), (s2, e2) in itertools.combinations(windows, 2):
            assert not (s1 < e2 and s2 < e1)
    assert result.seats_freed >= 0
    if result.passes < 3 and not result.truncated:
        # Settled: a second tidy-up of the tidied floor moves nothing.
        placed = {m.booking_id: m.to_table_ids for m in result.moves}
        tidied = [
            PlacedBooking(
                b.booking_id,
                b.party_size,
                b.starts_at,
                b.ends_at,
                placed.get(b.booking_id, b.table_ids),
                b.movable,
            )
            for b in bookings
        ]
        after = FloorSnapshot(RID, fl.tables, fl.adjacency, busy)
        assert tidy(after, tidied, cfg, limits).moves == ()
