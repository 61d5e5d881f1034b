"""Choose the tables for one booking request.

Pure: the caller passes a ``FloorSnapshot`` (tables, adjacency, occupied windows) and a
``PlanRequest``; ``plan_tables`` returns a ``Decision``. No ORM, no I/O, no wall clock — the
injected ``timer`` only bounds how long the enumeration may run.

Candidates
    * a single table fits when ``min_party <= party <= max_party``;
    * a combination (2..``max_merge_tables`` tables, merges enabled) fits when every member is
      combinable, ``sum(max_party) >= party``, the party is larger than every member's
      ``max_party`` (never join tables when one would do), it is minimal (no member can be
      dropped leaving a set that still seats the party and is still connected) and, with
      ``require_adjacency``, the members form a connected subgraph of the adjacency graph.
      Members' ``min_party`` is not enforced for combinations: joined tables seat the party as
      one, and a minimum exists to stop a couple taking a six-top, which cannot happen here.

A table is usable when it is active, belongs to ``floor.restaurant_id`` and has sane bounds;
it is free when none of its busy windows overlaps ``[starts_at, ends_at)`` (touching windows,
``end == start``, do not overlap).

Ranking, lexicographic, lower is better
    1. ``seat_waste`` — seats minus party;
    2. ``tables`` — number of tables joined;
    3. ``idle_minutes`` — free time left around the booking on each member table (before and
       after, each capped at ``IDLE_CAP_MINUTES``; a side with no booking counts the cap):
       packing bookings against each other keeps long free runs whole for later parties;
    4. ``value`` — how much future flexibility the plan burns (see ``_VALUE_DOC``);
    5. ``section_mismatch`` — members outside the preferred section;
    6. table ids — a deterministic tie-break.

Terms 3 and 4 together "keep valuable tables free": 3 in time, 4 in shape. Term 3 only sees
windows in ``floor.busy``, so pass the whole service day's windows, not just overlapping ones.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# Failure reasons, stable strings: telemetry and the API group by them.
FAILURE_INVALID_REQUEST = "invalid_request"
FAILURE_NO_TABLES = "no_usable_tables"
FAILURE_NO_FIT = "no_table_fits_party"
FAILURE_BUSY = "all_tables_busy"
FAILURE_TIMEOUT = "enumeration_timeout"

# The chosen plan plus three runners up.
TOP_K = 4
# Subsets explored between two timer reads: a read costs ~100 ns, a subset ~1 µs.
CHECK_EVERY = 32
# value = sum(max_party ** 2) + JOIN_WEIGHT * joins, where joins counts, per combinable member,
# 1 + its free combinable neighbours left outside the plan (only when merges are enabled).
# Squares make a combination prefer an even split (6 + 4 over 8 + 2 for ten guests, keeping the
# big table for a big party); joins make a small party prefer a table that nobody could join
# to anything over the middle of a free chain that a large party will need.
JOIN_WEIGHT = 4
# Beyond three hours a free run is as good as an empty evening: the longest turn is 150 min.
IDLE_CAP_MINUTES = 180
_VALUE_DOC = "sum(max_party^2) + 4 * sum(1 + free combinable neighbours outside the plan)"
RANKING = ("seat_waste", "tables", "idle_minutes", "value", "section_mismatch", "table_ids")

Window = tuple[datetime, datetime]
# (score, table ids in ascending order) — plain tuples in the hot loop, Plans only at the end.
_Entry = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One table as the planner sees it."""

    id: int
    label: str
    section: str
    min_party: int
    max_party: int
    active: bool = True
    combinable: bool = True
    restaurant_id: int = 0


@dataclass(frozen=True, slots=True)
class FloorSnapshot:
    """A restaurant's tables, which may be joined, and when each is taken."""

    restaurant_id: int
    tables: tuple[TableInfo, ...]
    # Undirected edges; (min_id, max_id) by convention, either order is accepted.
    adjacency: frozenset[tuple[int, int]]
    # Table id -> occupied [start, end) windows: active holds and assignments.
    busy: Mapping[int, tuple[Window, ...]]


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """The party to seat and the window it needs."""

    party_size: int
    starts_at: datetime
    ends_at: datetime
    preferred_section: str | None = None


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    """Feature-flag values in force for this call."""

    merges_enabled: bool = True
    require_adjacency: bool = True
    max_merge_tables: int = 3
    enumeration_timeout_ms: float = 50.0

    def as_dict(self) -> dict[str, object]:
        """Return the settings as JSON-ready data."""
        return {
            "merges_enabled": self.merges_enabled,
            "require_adjacency": self.require_adjacency,
            "max_merge_tables": self.max_merge_tables,
            "enumeration_timeout_ms": self.enumeration_timeout_ms,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """One candidate set of tables and why it ranks where it does."""

    table_ids: tuple[int, ...]
    labels: tuple[str, ...]
    seats: int
    seat_waste: int
    # Lower is better, compared lexicographically; see RANKING.
    score: tuple[float, ...]
    # Named parts of the score, for staff asking "why these tables?".
    score_parts: dict[str, float] = field(hash=False)

    def as_dict(self) -> dict[str, object]:
        """Return the plan as JSON-ready data."""
        return {
            "table_ids": list(self.table_ids),
            "labels": list(self.labels),
            "seats": self.seats,
            "seat_waste": self.seat_waste,
            "score": list(self.score),
            "score_parts": dict(self.score_parts),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What the planner chose, what came next, and how hard it looked."""

    plan: Plan | None
    # Next best plans, best first (up to three).
    runners_up: tuple[Plan, ...]
    # One of the FAILURE_* strings when plan is None, else None.
    failure_reason: str | None
    # Table sets that seat the party and were scored.
    candidates_considered: int
    # The enumeration hit its time budget; the plan is the best found so far.
    truncated: bool
    planner_ms: float
    # Table sets looked at, fitting or not (partial combinations included).
    subsets_explored: int = 0
    # Active tables of this restaurant, and those of them free for the window.
    tables_usable: int = 0
    tables_free: int = 0
    party_size: int = 0
    settings: PlannerSettings = field(default_factory=PlannerSettings)

    def as_reason(self) -> dict[str, object]:
        """Return a JSON-serialisable explanation of the decision."""
        return {
            "outcome": "planned" if self.plan is not None else "no_plan",
            "party_size": self.party_size,
            "plan": self.plan.as_dict() if self.plan is not None else None,
            "runners_up": [p.as_dict() for p in self.runners_up],
            "failure_reason": self.failure_reason,
            "ranking": list(RANKING),
            "value_formula": _VALUE_DOC,
            "settings": self.settings.as_dict(),
            "candidates_considered": self.candidates_considered,
            "subsets_explored": self.subsets_explored,
            "tables_usable": self.tables_usable,
            "tables_free": self.tables_free,
            "truncated": self.truncated,
            "planner_ms": round(self.planner_ms, 4),
        }


def plan_tables(
    floor: FloorSnapshot,
    request: PlanRequest,
    settings: PlannerSettings,
    *,
    timer: Callable[[], float] = time.thread_time,
) -> Decision:
    """Return the best table plan for the request on this floor, or why there is none.

    ``timer`` returns seconds; it is read at the start, at phase boundaries and every
    ``CHECK_EVERY`` explored subsets, and bounds the enumeration to
    ``settings.enumeration_timeout_ms``. By default it is this thread's CPU time: the budget
    bounds the search's work, so a pause of the host or a wait for the GIL under load does not
    spend it (and ``planner_ms`` is the search's own cost). Single tables are always scored in
    full, so a truncated decision still carries the best single-table plan when one exists.
    """
    started = timer()
    deadline = started + settings.enumeration_timeout_ms / 1000.0
    party = request.party_size
    if party < 1 or not request.starts_at < request.ends_at:
        return _decision(started, timer, request, settings, failure=FAILURE_INVALID_REQUEST)

    usable = _usable_tables(floor)
    if not usable:
        return _decision(started, timer, request, settings, failure=FAILURE_NO_TABLES)
    free, idle = _free_tables(floor, usable, request)

    found = _search(
        _prepare(free, idle, floor.adjacency, request, settings), deadline, timer, first_only=False
    )
    explored = found.explored
    failure: str | None = None
    if not found.top:
        if found.truncated:
            failure = FAILURE_TIMEOUT
        else:
            # Tell "never fits" from "fits, but not now": the service rejects the first and may
            # retry or offer other times for the second.
            anytime = _prepare(usable, [0] * len(usable), floor.adjacency, request, settings)
            empty = _search(anytime, deadline, timer, first_only=True)
            explored += empty.explored
            if empty.top:
                failure = FAILURE_BUSY
            elif empty.truncated:
                failure = FAILURE_TIMEOUT
            else:
                failure = FAILURE_NO_FIT

    by_id = {t.id: t for t in free}
    plans = tuple(_to_plan(entry, by_id, party) for entry in found.top)
    return _decision(
        started,
        timer,
        request,
        settings,
        plans=plans,
        failure=failure,
        considered=found.considered,
        explored=explored,
        truncated=found.truncated,
        usable=len(usable),
        free=len(free),
    )


def score_tables(
    floor: FloorSnapshot,
    request: PlanRequest,
    settings: PlannerSettings,
    table_ids: Sequence[int],
) -> Plan | None:
    """Return how the planner ranks these tables for the request, or None if it may not use them.

    For staff choosing tables by hand ("why not these?") and for tests: the Plan's score is
    comparable with the scores in ``plan_tables``' decision for the same floor and request.
    """
    if request.party_size < 1 or not request.starts_at < request.ends_at:
        return None
    free, idle = _free_tables(floor, _usable_tables(floor), request)
    index = {t.id: i for i, t in enumerate(free)}
    members = [index[tid] for tid in table_ids if tid in index]
    if not members or len(members) != len(table_ids) or len(set(members)) != len(members):
        return None
    prepared = _prepare(free, idle, floor.adjacency, request, settings)
    if not _allowed(prepared, members):
        return None
    seats = sum(prepared.maxp[m] for m in members)
    return _to_plan(_score(prepared, members, seats), {t.id: t for t in free}, request.party_size)


def _decision(
    started: float,
    timer: Callable[[], float],
    request: PlanRequest,
    settings: PlannerSettings,
    *,
    plans: tuple[Plan, ...] = (),
    failure: str | None = None,
    considered: int = 0,
    explored: int = 0,
    truncated: bool = False,
    usable: int = 0,
    free: int = 0,
) -> Decision:
    """Assemble a Decision from best-first plans, stamping the elapsed time."""
    return Decision(
        plan=plans[0] if plans else None,
        runners_up=plans[1:],
        failure_reason=failure,
        candidates_considered=considered,
        truncated=truncated,
        planner_ms=max(0.0, (timer() - started) * 1000.0),
        subsets_explored=explored,
        tables_usable=usable,
        tables_free=free,
        party_size=request.party_size,
        settings=settings,
    )


def _usable_tables(floor: FloorSnapshot) -> list[TableInfo]:
    """Return active, well-formed tables of the floor's restaurant, sorted by id."""
    seen: set[int] = set()
    usable: list[TableInfo] = []
    for t in floor.tables:
        # A duplicated id would let one physical table be counted twice; keep the first.
        if t.id in seen:
            continue
        seen.add(t.id)
        well_formed = t.max_party >= 1 and t.min_party <= t.max_party
        if t.active and t.restaurant_id == floor.restaurant_id and well_formed:
            usable.append(t)
    usable.sort(key=lambda t: t.id)
    return usable


def _free_tables(
    floor: FloorSnapshot, usable: list[TableInfo], request: PlanRequest
) -> tuple[list[TableInfo], list[int]]:
    """Return the usable tables free for the request's window, and their idle minutes."""
    free: list[TableInfo] = []
    idle: list[int] = []
    for t in usable:
        minutes = _idle_around(floor.busy.get(t.id, ()), request.starts_at, request.ends_at)
        if minutes is not None:
            free.append(t)
            idle.append(minutes)
    return free, idle


def _idle_around(windows: Sequence[Window], starts_at: datetime, ends_at: datetime) -> int | None:
    """Return the capped idle minutes around [starts_at, ends_at), or None if a window overlaps."""
    before: datetime | None = None
    after: datetime | None = None
    for start, end in windows:
        if not start < end:
            continue  # an empty range overlaps nothing, as in Postgres
        if start < ends_at and starts_at < end:
            return None
        if end <= starts_at and (before is None or end > before):
            before = end
        elif start >= ends_at and (after is None or start < after):
            after = start
    idle = 0
    for gap in (None if before is None else starts_at - before, None if after is None else after - ends_at):
        minutes = IDLE_CAP_MINUTES if gap is None else int(gap.total_seconds()) // 60
        idle += min(minutes, IDLE_CAP_MINUTES)
    return idle


def _to_plan(entry: _Entry, by_id: Mapping[int, TableInfo], party: int) -> Plan:
    """Turn a hot-loop entry into a Plan."""
    score, ids = entry
    waste, count, idle, value, mismatch = score[0], score[1], score[2], score[3], score[4]
    tables = [by_id[i] for i in ids]
    large = sum(t.max_party * t.max_party for t in tables)
    seats = party + waste
    return Plan(
        table_ids=ids,
        labels=tuple(t.label for t in tables),
        seats=seats,
        seat_waste=waste,
        score=tuple(float(x) for x in score),
        score_parts={
            "seat_waste": float(waste),
            "tables": float(count),
            "idle_minutes": float(idle),
            "value": float(value),
            "value_large_tables": float(large),
            "value_joins": float((value - large) // JOIN_WEIGHT),
            "section_mismatch": float(mismatch),
        },
    )


@dataclass(slots=True)
class _Found:
    """Result of one enumeration."""

    top: list[_Entry]
    considered: int
    explored: int
    truncated: bool


@dataclass(slots=True)
class _Prepared:
    """Per-call arrays over candidate tables (local index = position, ascending id)."""

    tables: list[TableInfo]
    ids: list[int]
    maxp: list[int]
    idle: list[int]
    mismatch: list[int]
    # Neighbours among these tables, combinable ones only: nothing joins a non-combinable table.
    adj: list[set[int]]
    party: int
    merges: bool
    adjacent_only: bool
    k: int


def _prepare(
    tables: list[TableInfo],
    idle: list[int],
    adjacency: frozenset[tuple[int, int]],
    request: PlanRequest,
    settings: PlannerSettings,
) -> _Prepared:
    """Index the candidate tables (sorted by id) for one request."""
    preferred = request.preferred_section
    merges = settings.merges_enabled and settings.max_merge_tables >= 2
    ids = [t.id for t in tables]
    adj: list[set[int]] = [set() for _ in tables]
    if merges:
        index = {tid: i for i, tid in enumerate(ids)}
        for a, b in adjacency:
            ia = index.get(a)
            ib = index.get(b)
            if ia is None or ib is None or ia == ib:
                continue
            if tables[ia].combinable and tables[ib].combinable:
                adj[ia].add(ib)
                adj[ib].add(ia)
    return _Prepared(
        tables=tables,
        ids=ids,
        maxp=[t.max_party for t in tables],
        idle=idle,
        mismatch=[0 if preferred is None or t.section == preferred else 1 for t in tables],
        adj=adj,
        party=request.party_size,
        merges=merges,
        adjacent_only=settings.require_adjacency,
        k=settings.max_merge_tables,
    )


def _allowed(p: _Prepared, members: Sequence[int]) -> bool:
    """Return whether the rules let this set of local indices seat the party."""
    party = p.party
    if len(members) == 1:
        t = p.tables[members[0]]
        return t.min_party <= party <= t.max_party
    if not p.merges or not 2 <= len(members) <= p.k:
        return False
    if any(not p.tables[m].combinable or p.maxp[m] >= party for m in members):
        return False
    seats = sum(p.maxp[m] for m in members)
    if seats < party or (p.adjacent_only and not _connected(list(members), p.adj)):
        return False
    return not _has_redundant_member(p, members, seats)


def _has_redundant_member(p: _Prepared, members: Sequence[int], seats: int) -> bool:
    """Return whether dropping one member leaves a set that still seats the party (and joins)."""
    for m in members:
        if seats - p.maxp[m] >= p.party:
            rest = [x for x in members if x != m]
            if not p.adjacent_only or _connected(rest, p.adj):
                return True
    return False


def _score(p: _Prepared, members: Sequence[int], seats: int) -> _Entry:
    """Return the ranking key and sorted table ids of an allowed set of local indices."""
    member_set = set(members)
    large = joins = miss = idle = 0
    for m in members:
        idle += p.idle[m]
        large += p.maxp[m] * p.maxp[m]
        miss += p.mismatch[m]
        # A join partner only matters while merges are on; without adjacency rules any
        # combinable table can join any other, so position carries no extra value.
        if p.merges and p.tables[m].combinable:
            joins += 1 + (len(p.adj[m] - member_set) if p.adjacent_only else 0)
    sorted_ids = tuple(sorted(p.ids[m] for m in members))
    value = large + JOIN_WEIGHT * joins
    return (seats - p.party, len(members), idle, value, miss, *sorted_ids), sorted_ids


def _search(
    p: _Prepared,
    deadline: float,
    timer: Callable[[], float],
    *,
    first_only: bool,
) -> _Found:
    """Enumerate allowed table sets and keep the TOP_K best.

    With ``first_only`` stop at the first allowed set (used to ask whether the party could ever
    be seated).
    """
    tables, party, k, n = p.tables, p.party, p.k, len(p.tables)
    maxp, adj, adjacent_only = p.maxp, p.adj, p.adjacent_only

    top: list[_Entry] = []
    considered = 0
    # (waste, tables) of the worst kept entry once TOP_K are kept: a set that cannot do better
    # on these two cannot enter, and neither can anything grown from it.
    worst = (1 << 62, 1 << 62)

    def offer(score: tuple[int, ...], members: tuple[int, ...]) -> None:
        nonlocal worst
        if len(top) == TOP_K and score >= top[-1][0]:
            return
        bisect.insort(top, (score, members))
        if len(top) > TOP_K:
            top.pop()
        if len(top) == TOP_K:
            worst = (top[-1][0][0], top[-1][0][1])

    # Phase 1: single tables, always in full — cheap, and usually where the answer is.
    for i, t in enumerate(tables):
        if t.min_party <= party <= t.max_party:
            considered += 1
            if first_only:
                return _Found([((), ())], considered, 0, False)
            offer(*_score(p, (i,), t.max_party))

    if not p.merges:
        return _Found(top, considered, 0, False)

    # Phase 2: combinations. Only tables that cannot seat the party alone may join one.
    pool = [i for i in range(n) if tables[i].combinable and maxp[i] < party]
    if len(pool) < 2 or sum(sorted((maxp[i] for i in pool), reverse=True)[:k]) < party:
        return _Found(top, considered, 0, False)
    # Seats of any combination are a multiple of the capacities' gcd, so its waste is at least
    # this (all-even floors never seat an odd party exactly).
    min_waste = -party % math.gcd(*(maxp[i] for i in pool))
    if (min_waste, 2) > worst:
        return _Found(top, considered, 0, False)
    if timer() > deadline:
        return _Found(top, considered, 0, True)

    explored = 0
    truncated = False
    found_any = False
    in_pool = [False] * n
    for i in pool:
        in_pool[i] = True
    pool_max = max(maxp[i] for i in pool)

    def consider(members: list[int], seats: int) -> None:
        # Score a fitting set of local indices; reject it when a member is redundant.
        nonlocal considered, found_any
        if (seats - party, len(members)) > worst or _has_redundant_member(p, members, seats):
            return
        considered += 1
        found_any = True
        if not first_only:
            offer(*_score(p, members, seats))

    if adjacent_only:
        # ESU (Wernicke 2006): grow connected sets from each seed through neighbours with a
        # larger index, extending only by neighbours exclusive to the newly added vertex, so
        # every connected set of size <= k is visited exactly once. A branch stops as soon as
        # it seats the party: every superset has a redundant member.
        nb = [{u for u in adj[i] if in_pool[u]} for i in range(n)]

        def grow(sub: list[int], closed: set[int], ext: list[int], seats: int, seed: int) -> None:
            nonlocal explored, truncated
            while ext:
                if truncated or (first_only and found_any) or (min_waste, len(sub) + 1) > worst:
                    return
                w = ext.pop()
                explored += 1
                if explored % CHECK_EVERY == 0 and timer() > deadline:
                    truncated = True
                    return
                total = seats + maxp[w]
                sub.append(w)
                if total >= party:
                    consider(sub, total)
                elif (
                    len(sub) < k
                    and total + (k - len(sub)) * pool_max >= party
                    and (min_waste, len(sub) + 1) <= worst
                ):
                    extra = [u for u in nb[w] if u > seed and u not in closed]
                    grow(sub, closed | nb[w] | {w}, ext + extra, total, seed)
                sub.pop()

        for seed in pool:
            if truncated or (first_only and found_any):
                break
            if not nb[seed]:
                continue
            explored += 1
            grow([seed], nb[seed] | {seed}, [u for u in nb[seed] if u > seed], maxp[seed], seed)
    else:
        # Any combinable tables may join: plain combinations, largest first so the bound
        # "cannot reach the party even with the next largest tables" cuts whole suffixes.
        order = sorted(pool, key=lambda i: (-maxp[i], i))
        caps = [maxp[i] for i in order]

        def combine(start: int, sub: list[int], seats: int) -> None:
            nonlocal explored, truncated
            for j in range(start, len(order)):
                if truncated or (first_only and found_any) or (min_waste, len(sub) + 1) > worst:
                    return
                if seats + (k - len(sub)) * caps[j] < party:
                    return
                explored += 1
                if explored % CHECK_EVERY == 0 and timer() > deadline:
                    truncated = True
                    return
                total = seats + caps[j]
                sub.append(order[j])
                if total >= party:
                    if len(sub) >= 2:
                        consider(sub, total)
                elif len(sub) < k and (min_waste, len(sub) + 1) <= worst:
                    combine(j + 1, sub, total)
                sub.pop()

        combine(0, [], 0)

    if first_only:
        return _Found([((), ())] if found_any else [], considered, explored, truncated)
    return _Found(top, considered, explored, truncated)


def _connected(members: list[int], adj: list[set[int]]) -> bool:
    """Return whether the members form a connected subgraph."""
    if len(members) <= 1:
        return True
    wanted = set(members)
    seen = {members[0]}
    stack = [members[0]]
    while stack:
        for u in adj[stack.pop()] & wanted:
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return len(seen) == len(wanted)
