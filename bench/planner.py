"""Benchmark the planner: latency on a busy 60-table floor, seats filled vs an offline optimum, re-seating.

Run ``python -m bench.planner [--out docs/bench.md]``. Everything is generated from seeded
RNGs, so two runs on one machine differ only in timings.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from allocator.planner import (
    FAILURE_BUSY,
    Decision,
    FloorSnapshot,
    PlannerSettings,
    PlanRequest,
    TableInfo,
    plan_tables,
)
from allocator.reseating import PlacedBooking, Reseating, ReseatLimits, reseat

RESTAURANT_ID = 1
EVENING = datetime(2025, 6, 6, 17, 0)
SLOT_MINUTES = 15
# Party sizes as a booking widget sees them: mostly twos and fours, a tail of big groups.
PARTY_WEIGHTS = {1: 3, 2: 40, 3: 12, 4: 20, 5: 7, 6: 7, 7: 3, 8: 3, 10: 3, 12: 2}
MACHINE_NOTE = "2 cores, shared; medians and ratios matter more than absolute times"
# The re-seating search as admission runs it (allocator.reshuffle_timeout_ms = 20).
RESEAT_LIMITS = ReseatLimits()
# Share of the bookings in the way that may move: the rest are seated, start within the freeze
# window or were placed by staff.
MOVABLE_SHARE = 0.75

Window = tuple[datetime, datetime]


def turn_minutes(party: int) -> int:
    """Return the table turn time for a party, as in the demo restaurant."""
    if party <= 2:
        return 90
    if party <= 4:
        return 105
    if party <= 6:
        return 120
    return 150


def draw_party(rng: random.Random) -> int:
    """Return a party size drawn from PARTY_WEIGHTS."""
    sizes = list(PARTY_WEIGHTS)
    return rng.choices(sizes, weights=[PARTY_WEIGHTS[s] for s in sizes])[0]


# --- layouts --------------------------------------------------------------------------------

# (section, rows of seat counts, combinable). Neighbours in a row can be joined; so can tables
# at the same position in consecutive rows of one section.
LAYOUT_60: tuple[tuple[str, tuple[tuple[int, ...], ...], bool], ...] = (
    ("main", ((4, 4, 4, 4, 4, 4), (2, 2, 2, 2, 2, 2), (6, 6, 6, 4, 4), (8, 8)), True),
    ("terrace", ((2, 2, 2, 2, 2), (4, 4, 4, 4, 4), (6, 6, 8)), True),
    ("window", ((2, 2, 2, 2, 2, 2, 2, 2), (4, 4, 4, 4)), True),
    ("patio", ((4, 4, 4, 4), (2, 2, 2, 2), (6, 6)), True),
    ("bar", ((2, 2, 2, 2, 2, 2),), False),
)
LAYOUT_SMALL: tuple[tuple[str, tuple[tuple[int, ...], ...], bool], ...] = (
    ("main", ((2, 2, 4, 4), (4, 6, 6)), True),
    ("window", ((2, 2, 4),), True),
    ("booth", ((8,),), False),
)
MIN_PARTY = {2: 1, 4: 2, 6: 3, 8: 5}


def build_layout(
    spec: Sequence[tuple[str, Sequence[Sequence[int]], bool]],
) -> tuple[tuple[TableInfo, ...], frozenset[tuple[int, int]]]:
    """Return the tables and adjacency edges of a layout spec."""
    tables: list[TableInfo] = []
    edges: set[tuple[int, int]] = set()
    next_id = 1
    for section, rows, combinable in spec:
        grid: list[list[int]] = []
        for row in rows:
            ids = []
            for seats in row:
                tables.append(
                    TableInfo(
                        id=next_id,
                        label=f"{section[0].upper()}{next_id}",
                        section=section,
                        min_party=MIN_PARTY.get(seats, 1),
                        max_party=seats,
                        combinable=combinable,
                        restaurant_id=RESTAURANT_ID,
                    )
                )
                ids.append(next_id)
                next_id += 1
            grid.append(ids)
        if not combinable:
            continue
        for r, ids in enumerate(grid):
            edges.update(itertools.pairwise(ids))
            if r + 1 < len(grid):
                edges.update(zip(ids, grid[r + 1], strict=False))
    return tuple(tables), frozenset(edges)


# --- 1. latency -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Planner timings over many requests."""

    occupancy: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # The five slowest calls re-run five times each, best of five: separates the planner's own
    # worst case from scheduler and GC noise on a shared machine.
    slowest_retimed_ms: float
    planned: int
    truncated: int
    busy_share: float
    mean_free_tables: float
    mean_explored: float
    failures: dict[str, int]


def busy_floor(
    rng: random.Random,
    tables: tuple[TableInfo, ...],
    edges: frozenset[tuple[int, int]],
    req: PlanRequest,
    occupancy: float,
) -> FloorSnapshot:
    """Return a floor where ``occupancy`` of the tables are taken during the request window."""
    taken = set(rng.sample([t.id for t in tables], round(occupancy * len(tables))))
    busy: dict[int, tuple[Window, ...]] = {}
    for t in tables:
        windows: list[Window] = []
        if t.id in taken:
            length = timedelta(minutes=rng.choice((90, 105, 120, 150)))
            span = int((req.ends_at - req.starts_at + length).total_seconds() // 60) // SLOT_MINUTES
            start = req.starts_at - length + timedelta(minutes=SLOT_MINUTES * rng.randint(1, span - 1))
            windows.append((start, start + length))
        else:
            # Free tables still have their evening: one seating ending exactly when ours starts
            # (touching is free), another starting right after ours ends.
            if rng.random() < 0.5:
                windows.append((req.starts_at - timedelta(minutes=90), req.starts_at))
            if rng.random() < 0.5:
                windows.append((req.ends_at, req.ends_at + timedelta(minutes=105)))
        busy[t.id] = tuple(windows)
    return FloorSnapshot(RESTAURANT_ID, tables, edges, busy)


def bench_latency(requests: int, occupancy: float, seed: int, settings: PlannerSettings) -> LatencyResult:
    """Time plan_tables on generated busy floors of the 60-table layout."""
    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    tables, edges = build_layout(LAYOUT_60)
    sections = sorted({t.section for t in tables})
    cases: list[tuple[FloorSnapshot, PlanRequest]] = []
    for _ in range(requests):
        party = draw_party(rng)
        start = EVENING + timedelta(minutes=SLOT_MINUTES * rng.randint(0, 18))
        req = PlanRequest(
            party_size=party,
            starts_at=start,
            ends_at=start + timedelta(minutes=turn_minutes(party)),
            preferred_section=rng.choice(sections) if rng.random() < 0.3 else None,
        )
        cases.append((busy_floor(rng, tables, edges, req, occupancy), req))
    for fl, req in cases[:200]:  # warm-up: first calls pay for imports and caches
        plan_tables(fl, req, settings)

    timings: list[float] = []
    failures: Counter[str] = Counter()
    planned = truncated = free_total = explored_total = 0
    for fl, req in cases:
        t0 = time.perf_counter()
        decision = plan_tables(fl, req, settings)
        timings.append((time.perf_counter() - t0) * 1000.0)
        planned += decision.plan is not None
        truncated += decision.truncated
        free_total += decision.tables_free
        explored_total += decision.subsets_explored
        if decision.failure_reason:
            failures[decision.failure_reason] += 1
    slowest = sorted(range(len(timings)), key=timings.__getitem__)[-5:]
    retimed = []
    for i in slowest:
        fl, req = cases[i]
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            plan_tables(fl, req, settings)
            runs.append((time.perf_counter() - t0) * 1000.0)
        retimed.append(min(runs))
    timings.sort()
    return LatencyResult(
        occupancy=occupancy,
        requests=requests,
        p50_ms=statistics.median(timings),
        p90_ms=timings[int(0.90 * (len(timings) - 1))],
        p99_ms=timings[int(0.99 * (len(timings) - 1))],
        max_ms=timings[-1],
        slowest_retimed_ms=max(retimed),
        planned=planned,
        truncated=truncated,
        busy_share=1 - free_total / (len(tables) * requests),
        mean_free_tables=free_total / requests,
        mean_explored=explored_total / requests,
        failures=dict(failures),
    )


@dataclass(frozen=True, slots=True)
class ReseatLatency:
    """Admission's table work with re-seating on: planner, then the search when nothing is free."""

    occupancy: float
    requests: int
    reseat_runs: int
    reseated: int
    truncated: int
    mean_moves: float
    all_p50_ms: float
    all_p99_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    failures: dict[str, int]


def reseat_floor(
    rng: random.Random,
    tables: tuple[TableInfo, ...],
    edges: frozenset[tuple[int, int]],
    req: PlanRequest,
    occupancy: float,
) -> tuple[FloorSnapshot, list[PlacedBooking]]:
    """Return busy_floor's evening with a booking behind every window, some of them movable."""
    fl = busy_floor(rng, tables, edges, req, occupancy)
    by_id = {t.id: t for t in tables}
    bookings: list[PlacedBooking] = []
    for tid, windows in fl.busy.items():
        for start, end in windows:
            t = by_id[tid]
            bookings.append(
                PlacedBooking(
                    booking_id=len(bookings) + 1,
                    party_size=rng.randint(t.min_party, t.max_party),
                    starts_at=start,
                    ends_at=end,
                    table_ids=(tid,),
                    movable=rng.random() < MOVABLE_SHARE,
                )
            )
    return fl, bookings


def bench_reseat_latency(
    requests: int, occupancy: float, seed: int, settings: PlannerSettings, limits: ReseatLimits
) -> ReseatLatency:
    """Time plan_tables, then reseat (real clock, its time budget on) where the planner finds no free set."""
    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    tables, edges = build_layout(LAYOUT_60)
    cases = []
    for _ in range(requests):
        party = draw_party(rng)
        start = EVENING + timedelta(minutes=SLOT_MINUTES * rng.randint(0, 18))
        req = PlanRequest(
            party_size=party, starts_at=start, ends_at=start + timedelta(minutes=turn_minutes(party))
        )
        cases.append((*reseat_floor(rng, tables, edges, req, occupancy), req))

    def admit(fl: FloorSnapshot, bookings: list[PlacedBooking], req: PlanRequest) -> Decision | Reseating:
        decision = plan_tables(fl, req, settings)
        if decision.plan is None and decision.failure_reason == FAILURE_BUSY:
            return reseat(fl, bookings, req, settings, limits, timer=time.perf_counter)
        return decision

    for fl, bookings, req in cases[:200]:  # warm-up
        admit(fl, bookings, req)
    everything: list[float] = []
    searched: list[float] = []
    failures: Counter[str] = Counter()
    reseated = truncated = moves = 0
    for fl, bookings, req in cases:
        t0 = time.perf_counter()
        outcome = admit(fl, bookings, req)
        elapsed = (time.perf_counter() - t0) * 1000.0
        everything.append(elapsed)
        if isinstance(outcome, Reseating):
            searched.append(elapsed)
            truncated += outcome.truncated
            if outcome.decision is not None:
                reseated += 1
                moves += len(outcome.moves)
            else:
                failures[outcome.failure_reason or "?"] += 1
    everything.sort()
    searched.sort()

    def pct(values: list[float], q: float) -> float:
        return values[int(q * (len(values) - 1))] if values else 0.0

    return ReseatLatency(
        occupancy=occupancy,
        requests=requests,
        reseat_runs=len(searched),
        reseated=reseated,
        truncated=truncated,
        mean_moves=moves / reseated if reseated else 0.0,
        all_p50_ms=pct(everything, 0.5),
        all_p99_ms=pct(everything, 0.99),
        p50_ms=pct(searched, 0.5),
        p90_ms=pct(searched, 0.9),
        p99_ms=pct(searched, 0.99),
        max_ms=searched[-1] if searched else 0.0,
        failures=dict(failures),
    )


# --- 2. seats filled vs an offline optimum --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Booking:
    """One request of a simulated evening, in minutes after EVENING."""

    party: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class FillResult:
    """Greedy online vs exact offline covers for one seeded evening."""

    seed: int
    requests: int
    demand_covers: int
    greedy_covers: int
    optimum_covers: int
    optimum_nodes: int
    # Greedy, and re-seating movable bookings when a request fits nowhere (allocator.reseating).
    reseat_covers: int = 0
    reseatings: int = 0
    moves: int = 0
    # Online with unlimited re-seating: accept a request when some assignment of every accepted
    # booking and it exists (the ceiling of any re-seating policy that seats first come, first served).
    reseat_bound_covers: int = 0

    @property
    def ratio(self) -> float:
        """Return greedy covers over optimum covers."""
        return self.greedy_covers / self.optimum_covers if self.optimum_covers else 1.0

    @property
    def reseat_ratio(self) -> float:
        """Return greedy + re-seating covers over optimum covers."""
        return self.reseat_covers / self.optimum_covers if self.optimum_covers else 1.0


def allowed_sets(
    tables: Sequence[TableInfo], edges: frozenset[tuple[int, int]], party: int, settings: PlannerSettings
) -> list[tuple[int, ...]]:
    """Return every table set (local indices) the planner's rules allow on an empty floor."""
    index = {t.id: i for i, t in enumerate(tables)}
    nb: list[set[int]] = [set() for _ in tables]
    for a, b in edges:
        nb[index[a]].add(index[b])
        nb[index[b]].add(index[a])

    def connected(members: Sequence[int]) -> bool:
        seen = {members[0]}
        stack = [members[0]]
        while stack:
            for u in nb[stack.pop()]:
                if u in members and u not in seen:
                    seen.add(u)
                    stack.append(u)
        return len(seen) == len(members)

    found: list[tuple[int, ...]] = [(i,) for i, t in enumerate(tables) if t.min_party <= party <= t.max_party]
    if not settings.merges_enabled:
        return found
    pool = [i for i, t in enumerate(tables) if t.combinable and t.max_party < party]
    for size in range(2, settings.max_merge_tables + 1):
        for combo in itertools.combinations(pool, size):
            seats = sum(tables[i].max_party for i in combo)
            if seats < party or (settings.require_adjacency and not connected(combo)):
                continue
            minimal = True
            for drop in combo:
                rest = [i for i in combo if i != drop]
                if seats - tables[drop].max_party >= party and (
                    not settings.require_adjacency or connected(rest)
                ):
                    minimal = False
            if minimal:
                found.append(combo)
    return found


def simulate_greedy(
    tables: tuple[TableInfo, ...],
    edges: frozenset[tuple[int, int]],
    arrivals: Sequence[Booking],
    settings: PlannerSettings,
) -> int:
    """Seat requests in arrival order with plan_tables; return the covers seated."""
    busy: dict[int, list[Window]] = {t.id: [] for t in tables}
    seated = 0
    for b in arrivals:
        req = PlanRequest(b.party, EVENING + timedelta(minutes=b.start), EVENING + timedelta(minutes=b.end))
        fl = FloorSnapshot(RESTAURANT_ID, tables, edges, {k: tuple(v) for k, v in busy.items()})
        decision = plan_tables(fl, req, settings)
        if decision.plan is not None:
            seated += b.party
            for tid in decision.plan.table_ids:
                busy[tid].append((req.starts_at, req.ends_at))
    return seated


@dataclass(frozen=True, slots=True)
class ReseatRun:
    """Covers seated with re-seating, and how much moving it took."""

    covers: int
    reseatings: int
    moves: int


def simulate_reseating(
    tables: tuple[TableInfo, ...],
    edges: frozenset[tuple[int, int]],
    arrivals: Sequence[Booking],
    settings: PlannerSettings,
    limits: ReseatLimits,
) -> ReseatRun:
    """Seat requests in arrival order as admission does with allocator.reshuffle_enabled on.

    plan_tables first; when it finds nothing, ``reseat`` may move bookings already placed (all
    movable: nobody has arrived while the evening is being booked). Bounded by nodes, not time.
    """
    busy: dict[int, list[Window]] = {t.id: [] for t in tables}
    placed: dict[int, PlacedBooking] = {}
    seated = reseatings = moves = 0
    for n, b in enumerate(arrivals):
        req = PlanRequest(b.party, EVENING + timedelta(minutes=b.start), EVENING + timedelta(minutes=b.end))
        fl = FloorSnapshot(RESTAURANT_ID, tables, edges, {k: tuple(v) for k, v in busy.items()})
        decision = plan_tables(fl, req, settings)
        if decision.plan is None:
            found = reseat(fl, list(placed.values()), req, settings, limits)
            if found.decision is None or found.decision.plan is None:
                continue
            for move in found.moves:
                window = (move.starts_at, move.ends_at)
                for tid in move.from_table_ids:
                    busy[tid].remove(window)
                for tid in move.to_table_ids:
                    busy[tid].append(window)
                placed[move.booking_id] = replace(placed[move.booking_id], table_ids=move.to_table_ids)
            decision = found.decision
            reseatings += 1
            moves += len(found.moves)
        assert decision.plan is not None
        seated += b.party
        for tid in decision.plan.table_ids:
            busy[tid].append((req.starts_at, req.ends_at))
        placed[n] = PlacedBooking(
            n, b.party, req.starts_at, req.ends_at, decision.plan.table_ids, movable=True
        )
    return ReseatRun(covers=seated, reseatings=reseatings, moves=moves)


def reseat_bound(
    tables: tuple[TableInfo, ...],
    edges: frozenset[tuple[int, int]],
    arrivals: Sequence[Booking],
    settings: PlannerSettings,
) -> int:
    """Return the covers seated online when any accepted booking may be moved anywhere.

    A request is accepted when the accepted bookings and it can all be seated together on the
    allowed table sets (exact search over bookings in start order, with failed states remembered).
    No re-seating policy that seats requests first come, first served can seat more.
    """
    options = {p: allowed_sets(tables, edges, p, settings) for p in {b.party for b in arrivals}}

    def feasible(bookings: list[Booking]) -> bool:
        order = sorted(bookings, key=lambda b: (b.start, b.end, b.party))
        failed: set[tuple[int, tuple[int, ...]]] = set()

        def fit(pos: int, state: tuple[int, ...]) -> bool:
            if pos == len(order):
                return True
            b = order[pos]
            # Tables free by this start are all alike to what follows (requests in start order).
            key = (pos, tuple(free_at if free_at > b.start else 0 for free_at in state))
            if key in failed:
                return False
            for option in options[b.party]:
                if all(state[i] <= b.start for i in option):
                    nxt = list(state)
                    for i in option:
                        nxt[i] = b.end
                    if fit(pos + 1, tuple(nxt)):
                        return True
            failed.add(key)
            return False

        return fit(0, tuple(0 for _ in tables))

    accepted: list[Booking] = []
    for b in arrivals:
        if feasible([*accepted, b]):
            accepted.append(b)
    return sum(b.party for b in accepted)


def solve_optimum(
    tables: tuple[TableInfo, ...],
    edges: frozenset[tuple[int, int]],
    bookings: Sequence[Booking],
    settings: PlannerSettings,
) -> tuple[int, int]:
    """Return the most covers any assignment could seat, and the search nodes visited.

    Exact branch and bound over requests in start order (accept on any allowed table set free
    at that moment, or reject), with Russian-doll bounds: the optima of every suffix of the
    request list on an empty floor, solved from the last request backwards, bound the search
    of the next longer suffix. A node is also cut when the same position and table state were
    reached before with at least as many covers.
    """
    order = sorted(bookings, key=lambda b: (b.start, b.end, b.party))
    n = len(order)
    starts = [b.start for b in order]
    options = {p: allowed_sets(tables, edges, p, settings) for p in {b.party for b in order}}
    never = 1 << 30
    suffix_best = [0] * (n + 1)
    nodes = 0

    def canonical(pos: int, state: tuple[int, ...]) -> tuple[int, ...]:
        # Only which later requests a table can serve matters, so snap "free at" up to the
        # next start among them (0 = free now, never = no later request can use it).
        if pos == n:
            return state
        now = starts[pos]
        out = []
        for free_at in state:
            if free_at <= now:
                out.append(0)
            else:
                j = bisect.bisect_left(starts, free_at, lo=pos)
                out.append(starts[j] if j < n else never)
        return tuple(out)

    def occupy(state: tuple[int, ...], option: tuple[int, ...], until: int) -> tuple[int, ...]:
        nxt = list(state)
        for i in option:
            nxt[i] = until
        return tuple(nxt)

    best = 0
    # (position, state) -> most covers it was reached with, for the current suffix.
    seen: dict[tuple[int, tuple[int, ...]], int] = {}

    def search(pos: int, state: tuple[int, ...], covers: int) -> None:
        nonlocal best, nodes
        nodes += 1
        best = max(best, covers)
        if pos == n or covers + suffix_best[pos] <= best:
            return
        state = canonical(pos, state)
        if seen.get((pos, state), -1) >= covers:
            return
        seen[(pos, state)] = covers
        b = order[pos]
        for option in options[b.party]:
            if all(state[i] == 0 for i in option):
                search(pos + 1, occupy(state, option, b.end), covers + b.party)
        search(pos + 1, state, covers)

    for first in range(n - 1, -1, -1):
        # Rejecting request `first` leaves the next suffix's optimum: a solution to beat.
        best = suffix_best[first + 1]
        seen.clear()
        b0 = order[first]
        empty = tuple(0 for _ in tables)
        for option in options[b0.party]:
            search(first + 1, occupy(empty, option, b0.end), b0.party)
        suffix_best[first] = best
    return suffix_best[0], nodes


def bench_fill(seed: int, requests: int, settings: PlannerSettings) -> FillResult:
    """Simulate one seeded evening on the small layout, online greedy vs offline optimum."""
    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    tables, edges = build_layout(LAYOUT_SMALL)
    bookings = []
    for _ in range(requests):
        party = draw_party(rng)
        start = SLOT_MINUTES * rng.randint(0, 16)  # 17:00 .. 21:00
        bookings.append(Booking(party, start, start + turn_minutes(party)))
    # Guests book in their own order, not in the order they will arrive at the restaurant.
    arrivals = bookings[:]
    rng.shuffle(arrivals)
    greedy = simulate_greedy(tables, edges, arrivals, settings)
    reseated = simulate_reseating(tables, edges, arrivals, settings, RESEAT_LIMITS)
    optimum, states = solve_optimum(tables, edges, bookings, settings)
    return FillResult(
        seed=seed,
        requests=requests,
        demand_covers=sum(b.party for b in bookings),
        greedy_covers=greedy,
        optimum_covers=optimum,
        optimum_nodes=states,
        reseat_covers=reseated.covers,
        reseatings=reseated.reseatings,
        moves=reseated.moves,
        reseat_bound_covers=reseat_bound(tables, edges, arrivals, settings),
    )


# --- report ---------------------------------------------------------------------------------


def render(
    latencies: Sequence[LatencyResult],
    settings: PlannerSettings,
    fills: dict[int, list[FillResult]],
    elapsed_s: float,
    reseat_latency: ReseatLatency | None = None,
) -> str:
    """Return the markdown section."""
    tables, edges = build_layout(LAYOUT_60)
    small, small_edges = build_layout(LAYOUT_SMALL)
    seats = Counter(t.max_party for t in tables)
    lines = [
        "## Planner benchmark",
        "",
        f"Machine: {MACHINE_NOTE}. Generated by `python -m bench.planner` in {elapsed_s:.1f} s "
        f"(CPython {sys.version.split()[0]}).",
        f"Settings: {settings.as_dict()}.",
        "",
        "### Latency of `plan_tables` — 60 tables",
        "",
        f"Layout: {len(tables)} tables ({', '.join(f'{n}×{s}' for s, n in sorted(seats.items()))} seats) in "
        f"{len({t.section for t in tables})} sections, {len(edges)} adjacency edges (rows joined side by "
        "side and front to back; bar tables not combinable). Each request gets its own floor: the "
        "given share of tables hold a seating overlapping the request, the others have seatings "
        "that end as it starts or start as it ends. Party sizes drawn with weights "
        f"{dict(PARTY_WEIGHTS)}; 30 % ask for a section. Seeded; 200 warm-up calls not timed; "
        "garbage collection left on, as in production. *Slowest re-timed*: the five slowest calls "
        "re-run, best of five — the planner's own worst case without scheduler noise.",
        "",
        "| tables taken | requests | p50 ms | p90 ms | p99 ms | max ms | slowest re-timed ms "
        "| planned | truncated | subsets explored / call |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lat in latencies:
        lines.append(
            f"| {lat.busy_share:.0%} | {lat.requests} | {lat.p50_ms:.3f} | {lat.p90_ms:.3f} "
            f"| **{lat.p99_ms:.3f}** | {lat.max_ms:.3f} | {lat.slowest_retimed_ms:.3f} "
            f"| {lat.planned} | {lat.truncated} "
            f"| {lat.mean_explored:.1f} |"
        )
    target = next((lat for lat in latencies if abs(lat.occupancy - 0.8) < 1e-9), None)
    if target is not None:
        verdict = "met" if target.p99_ms <= 2.0 else "MISSED"
        lines += [
            "",
            f"Target p99 ≤ 2 ms at 80 % occupancy: **{verdict}** ({target.p99_ms:.3f} ms). "
            f"Unplanned requests at 80 %: {target.failures or 'none'}.",
        ]

    levels = sorted(fills)
    seeds = [f.seed for f in fills[levels[0]]]
    lines += [
        "",
        "### Seats filled vs an offline optimum",
        "",
        f"Layout: {len(small)} tables ({', '.join(str(t.max_party) for t in small)} seats, the 8-top "
        f"a booth that joins nothing), {len(small_edges)} edges. Each seeded evening draws N requests "
        "with starts on the 15-minute grid from 17:00 to 21:00 and turn times by party size; guests "
        "book in random order. **Greedy** seats each request as it arrives with `plan_tables` and "
        "never moves it; **optimum** is an exact branch and bound (Russian-doll bounds, requests in "
        "start order, accept on any allowed table set or reject) over the same allowed table sets, "
        "maximising covers seated. **Greedy + re-seating** is greedy where, when no table set is "
        "free, `allocator.reseating.reseat` may move bookings already placed to other tables at "
        "their own time (all movable: nobody has arrived while the evening is booked; limits "
        f"{RESEAT_LIMITS.as_dict()}, bounded by nodes here so the column is reproducible). "
        "**Re-seating bound** accepts a request whenever the accepted bookings and it can all be "
        "seated together, moving anyone anywhere: no re-seating policy that answers requests "
        "first come, first served seats more. Cells: greedy → greedy + re-seating / optimum covers "
        "(re-seating's ratio).",
        "",
        "| seed | " + " | ".join(f"N = {n}" for n in levels) + " |",
        "|---:|" + "---:|" * len(levels),
    ]
    for i, seed in enumerate(seeds):
        cells = [
            f"{f.greedy_covers} → {f.reseat_covers} / {f.optimum_covers} ({f.reseat_ratio:.1%})"
            for f in (fills[n][i] for n in levels)
        ]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| N requests | covers asked | optimum seats | greedy / optimum | worst seed | greedy + re-seating "
        "/ optimum | worst seed | re-seatings (moves) | re-seating bound / optimum | worst seed "
        "| target ≥ 97 %, worst ≥ 92 % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n in levels:
        runs = fills[n]
        demand = sum(f.demand_covers for f in runs)
        o = sum(f.optimum_covers for f in runs)
        g = sum(f.greedy_covers for f in runs)
        r = sum(f.reseat_covers for f in runs)
        bound = sum(f.reseat_bound_covers for f in runs)
        worst_r = min(f.reseat_ratio for f in runs)
        worst_b = min(f.reseat_bound_covers / f.optimum_covers for f in runs if f.optimum_covers)
        met = r >= 0.97 * o and worst_r >= 0.92
        lines.append(
            f"| {n} | {demand} | {o / demand:.1%} of asked | {g / o:.1%} | {min(f.ratio for f in runs):.1%} "
            f"| **{r / o:.1%}** | {worst_r:.1%} "
            f"| {sum(f.reseatings for f in runs)} ({sum(f.moves for f in runs)}) "
            f"| {bound / o:.1%} | {worst_b:.1%} | {'met' if met else 'missed'} |"
        )
    at_bound = [
        n
        for n in levels
        if sum(f.reseat_covers for f in fills[n]) >= sum(f.reseat_bound_covers for f in fills[n])
    ]
    lines += [
        "",
        "Reading: greedy never moves a booking once placed, so once the evening is busy a late "
        "large party is refused while small parties sit on the tables it could have had. "
        "Re-seating closes that part of the gap"
        + (
            f" entirely at N = {', '.join(map(str, at_bound))}: it seats what the bound seats"
            if at_bound
            else ""
        )
        + ". What is left between the bound and the optimum is not a placement problem but an "
        "admission one: the optimum knows every request in advance and refuses a small party to "
        "seat a larger one later, which first come, first served cannot do, however bookings are "
        "moved. A single seed can even lose a little to re-seating (a party seated by a move may "
        "take the room a later, larger party needed, as in greedy).",
        "",
    ]
    if reseat_latency is not None:
        rl = reseat_latency
        verdict = "met" if rl.p99_ms <= 25.0 else "MISSED"
        lines += [
            "### Admission with re-seating — 60 tables at 80 % occupancy",
            "",
            f"The latency floors above, with a booking behind every window ({MOVABLE_SHARE:.0%} of "
            "them movable; the rest stand for seated, frozen or staff-pinned bookings), timed the "
            "way admission runs it in process: `plan_tables`, then, only when it answers "
            "`all_tables_busy`, `reseat` with the real clock and its 20 ms budget. No database: "
            "the statements admission adds when it re-seats (one read of the bookings in the way, "
            "one row lock, the moved windows) are not in these figures.",
            "",
            "| requests | needed re-seating | re-seated | moves / re-seating | budget spent "
            "| all requests p50 / p99 ms | re-seating p50 ms | p90 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {rl.requests} | {rl.reseat_runs} | {rl.reseated} | {rl.mean_moves:.2f} | {rl.truncated} "
            f"| {rl.all_p50_ms:.3f} / {rl.all_p99_ms:.3f} | {rl.p50_ms:.3f} | {rl.p90_ms:.3f} "
            f"| **{rl.p99_ms:.3f}** | {rl.max_ms:.3f} |",
            "",
            f"Target p99 ≤ 25 ms for admissions that re-seat: **{verdict}** ({rl.p99_ms:.3f} ms). "
            f"Not re-seated: {rl.failures or 'none'}.",
            "",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the markdown section, optionally write it to a file."""
    parser = argparse.ArgumentParser(prog="python -m bench.planner", description=__doc__)
    parser.add_argument("--out", help="write the markdown section to this file")
    parser.add_argument(
        "--requests", type=int, default=5000, help="latency requests per floor (default 5000)"
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeded evenings per load (default 10)")
    parser.add_argument(
        "--loads", default="12,16,18", help="requests per evening, comma-separated (default 12,16,18)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    settings = PlannerSettings()
    latencies = [
        bench_latency(args.requests, occupancy, seed=20250606, settings=settings) for occupancy in (0.8, 0.0)
    ]
    fills = {
        n: [bench_fill(seed, n, settings) for seed in range(1, args.seeds + 1)]
        for n in (int(x) for x in args.loads.split(","))
    }
    reseat_latency = bench_reseat_latency(
        args.requests, 0.8, seed=20250606, settings=settings, limits=RESEAT_LIMITS
    )
    text = render(latencies, settings, fills, time.perf_counter() - started, reseat_latency)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0 if latencies[0].p99_ms <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
