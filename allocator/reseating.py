"""Make room for a request that fits nowhere by moving bookings whose guests have not arrived.

Pure, like the planner: the caller passes the floor (every table's windows, those of the listed
bookings included), the bookings overlapping the request with a movable mark, the request and
the planner's settings; ``reseat`` returns the moves and the request's decision on the floor as
it stands after them, or why there is none. No ORM, no I/O, no wall clock: the search is bounded
by ``ReseatLimits.max_nodes`` and, only when the caller injects a ``timer``, by a time budget.

A move gives a booking other tables for the same window and party: never another time or party.
Only bookings marked movable that overlap the request move, each at most once, and each only to
a table set ``plan_tables`` itself proposes for it on the floor as it stands at that point, so the
planner's rules (a table seats the party, joins are connected, nothing overlaps) hold for it too.

Search
    1. Targets: every table set the planner's rules allow for the request once the movable
       bookings are lifted off. A target's *blockers* are the movable bookings overlapping the
       request on its tables; a set where an unmovable window is in the way is no target.
    2. Iterative deepening on the number of moves L = 1 .. ``max_moves``: targets with at most
       L blockers are tried, fewest blockers first, then the request's seat waste, then fewest
       tables.
    3. For one target the blockers are lifted off, the request is put on it, and the blockers
       are seated again one at a time, largest party first, on the planner's plan or one of its
       runners-up (depth first, backtracking). A blocker that fits nowhere may push other movable
       bookings aside in turn (a chain), as long as the moves stay within L. The first complete
       placement is the target's solution.
    4. At the first L with a solution, the least total seat waste (the request's plus the moved
       bookings' at their new tables) wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from allocator.planner import (
    FAILURE_INVALID_REQUEST,
    Decision,
    FloorSnapshot,
    PlannerSettings,
    PlanRequest,
    TableInfo,
    plan_tables,
    score_tables,
)

# Failure reasons, stable strings (telemetry groups by them).
RESEAT_NO_TARGET = "no_target_table_set"  # unmovable windows block every table set that fits
RESEAT_NO_ROOM = "blockers_do_not_fit_elsewhere"
RESEAT_TOO_MANY_MOVES = "needs_too_many_moves"
RESEAT_BUDGET = "search_budget_spent"

Window = tuple[datetime, datetime]


def _no_clock() -> float:
    return 0.0


@dataclass(frozen=True, slots=True)
class PlacedBooking:
    """A booking already on the floor, as the re-seating search sees it."""

    booking_id: int
    party_size: int
    starts_at: datetime
    ends_at: datetime
    table_ids: tuple[int, ...]
    # False for seated, frozen (starting soon) or staff-pinned bookings: they stay where they are.
    movable: bool


@dataclass(frozen=True, slots=True)
class ReseatLimits:
    """How far the search may go (``allocator.reshuffle_*`` flags and fixed bounds)."""

    max_moves: int = 3
    # plan_tables calls (one per blocker placement tried); bounds the work without a clock.
    max_nodes: int = 400
    # Table sets enumerated as targets, before any is tried.
    max_targets: int = 2_000
    # Read only through an injected timer.
    time_budget_ms: float = 20.0

    def as_dict(self) -> dict[str, object]:
        """Return the limits as JSON-ready data."""
        return {
            "max_moves": self.max_moves,
            "max_nodes": self.max_nodes,
            "max_targets": self.max_targets,
            "time_budget_ms": self.time_budget_ms,
        }


@dataclass(frozen=True, slots=True)
class Move:
    """One booking given other tables at its own time."""

    booking_id: int
    party_size: int
    starts_at: datetime
    ends_at: datetime
    from_table_ids: tuple[int, ...]
    to_table_ids: tuple[int, ...]
    from_labels: tuple[str, ...]
    to_labels: tuple[str, ...]
    seat_waste: int  # at the new tables

    def as_dict(self) -> dict[str, object]:
        """Return the move as JSON-ready data."""
        return {
            "booking_id": self.booking_id,
            "party_size": self.party_size,
            "from_table_ids": list(self.from_table_ids),
            "to_table_ids": list(self.to_table_ids),
            "from_labels": list(self.from_labels),
            "to_labels": list(self.to_labels),
            "seat_waste": self.seat_waste,
        }


@dataclass(frozen=True, slots=True)
class Reseating:
    """What the search found: the moves and the request's decision after them, or why not."""

    decision: Decision | None
    moves: tuple[Move, ...]
    failure_reason: str | None
    targets: int  # table sets that could seat the request once its blockers move
    targets_tried: int
    nodes: int
    truncated: bool
    search_ms: float
    limits: ReseatLimits

    @property
    def seat_waste(self) -> int:
        """Return the seats left empty by the request and the moved bookings at their new tables."""
        request = self.decision.plan.seat_waste if self.decision and self.decision.plan else 0
        return request + sum(m.seat_waste for m in self.moves)

    def as_reason(self) -> dict[str, object]:
        """Return a JSON-serialisable account of the search."""
        return {
            "outcome": "reseated" if self.decision is not None else "no_reseating",
            "moves": [m.as_dict() for m in self.moves],
            "failure_reason": self.failure_reason,
            "targets": self.targets,
            "targets_tried": self.targets_tried,
            "nodes": self.nodes,
            "truncated": self.truncated,
            "search_ms": round(self.search_ms, 4),
            "limits": self.limits.as_dict(),
        }


def reseat(
    floor: FloorSnapshot,
    bookings: Sequence[PlacedBooking],
    request: PlanRequest,
    settings: PlannerSettings,
    limits: ReseatLimits,
    *,
    timer: Callable[[], float] | None = None,
) -> Reseating:
    """Return the fewest moves of movable bookings that let the request be seated, or why none.

    ``floor.busy`` must hold every window, the listed bookings' included; a listed booking whose
    windows are not all found there is treated as unmovable. ``timer`` (seconds, monotonic)
    bounds the search to ``limits.time_budget_ms``; without one only ``limits.max_nodes`` does,
    and the result depends on nothing but the arguments.
    """
    clock = timer or _no_clock
    started = clock()
    deadline = started + limits.time_budget_ms / 1000.0 if timer is not None else float("inf")
    search = _Search(floor, request, settings, limits, clock, deadline)
    if request.party_size < 1 or not request.starts_at < request.ends_at:
        return search.result(started, None, (), FAILURE_INVALID_REQUEST)

    movable = search.lift(bookings)
    targets = search.targets(request, search.busy, movable)
    search.n_targets = len(targets)
    if not targets:
        return search.result(started, None, (), RESEAT_NO_TARGET)

    # Iterative deepening on the number of moves: a solution found with a budget of L moves is
    # only looked for once none with fewer exists (within the search bounds).
    for allowed in range(1, limits.max_moves + 1):
        best: tuple[tuple[int, int], Decision, tuple[Move, ...]] | None = None
        for blockers, waste, target in targets:
            if len(blockers) > allowed:
                break  # targets are sorted by blockers
            if best is not None and (len(blockers), waste) >= best[0]:
                continue  # at least as many moves, and the request alone wastes as much in total
            if search.out_of_budget():
                break
            search.tried += 1
            found = search.solve(target, [movable[b] for b in blockers], allowed, movable)
            if found is None:
                continue
            decision, moves = found
            total = (decision.plan.seat_waste if decision.plan else 0) + sum(m.seat_waste for m in moves)
            if best is None or (len(moves), total) < best[0]:
                best = ((len(moves), total), decision, moves)
        if best is not None:
            return search.result(started, best[1], best[2], None)
        if search.truncated:
            return search.result(started, None, (), RESEAT_BUDGET)
    if search.tried == 0:
        return search.result(started, None, (), RESEAT_TOO_MANY_MOVES)
    return search.result(started, None, (), RESEAT_NO_ROOM)


@dataclass(frozen=True, slots=True)
class Tidy:
    """Moves that leave each moved booking better placed, and what they saved."""

    moves: tuple[Move, ...]
    seats_freed: int  # empty seats no longer held by the moved bookings
    passes: int
    nodes: int
    truncated: bool


# What a tidy-up improves, in order: empty seats, tables joined, idle time around the booking (the
# planner's first three ranking terms). Never the tie-breaks: a move must be worth making.
TIDY_TERMS = 3
TIDY_PASSES = 3
# A tidy-up seats no new party: the search object only lends it the floor, the budget and the moves.
_NO_REQUEST = PlanRequest(party_size=1, starts_at=datetime.min, ends_at=datetime.max)


def tidy(
    floor: FloorSnapshot,
    bookings: Sequence[PlacedBooking],
    settings: PlannerSettings,
    limits: ReseatLimits,
    *,
    timer: Callable[[], float] | None = None,
) -> Tidy:
    """Return moves that re-seat movable bookings where the planner would place them now, if better.

    One booking at a time, the most empty seats first: lifted off, offered the planner's best plan
    on the floor as it stands, and moved when that plan is strictly better on seat waste, then
    tables joined, then idle minutes around it (compared with its own tables on the same floor).
    Up to ``TIDY_PASSES`` passes, while anything moves. Every move is a strict improvement for
    the booking moved, so once nothing improves a second call returns no moves (idempotent).
    """
    clock = timer or _no_clock
    started = clock()
    deadline = started + limits.time_budget_ms / 1000.0 if timer is not None else float("inf")
    search = _Search(floor, _NO_REQUEST, settings, limits, clock, deadline)
    movable = search.lift(bookings)
    current = {i: tuple(sorted(b.table_ids)) for i, b in movable.items()}
    seats = {t.id: t.max_party for t in search.tables}

    def waste(i: int) -> int:
        return sum(seats[t] for t in current[i]) - movable[i].party_size

    busy = dict(search.busy)
    passes = 0
    for _ in range(TIDY_PASSES):
        passes += 1
        moved = False
        for i in sorted(movable, key=lambda i: (-waste(i), i)):
            if search.out_of_budget():
                break
            b = movable[i]
            lifted = _without(busy, [replace(b, table_ids=current[i])])
            here = replace(floor, busy=lifted)
            req = PlanRequest(party_size=b.party_size, starts_at=b.starts_at, ends_at=b.ends_at)
            search.nodes += 1
            best = plan_tables(here, req, settings, timer=clock).plan
            if best is None or best.table_ids == current[i]:
                continue
            mine = score_tables(here, req, settings, current[i])
            if mine is not None and best.score[:TIDY_TERMS] >= mine.score[:TIDY_TERMS]:
                continue
            busy = _with(lifted, best.table_ids, (b.starts_at, b.ends_at))
            current[i] = best.table_ids
            moved = True
        if not moved or search.truncated:
            break
    moves = tuple(
        search._move(movable[i], current[i])
        for i in sorted(movable)
        if current[i] != tuple(sorted(movable[i].table_ids))
    )
    freed = sum(sum(seats[t] for t in m.from_table_ids) - m.party_size - m.seat_waste for m in moves)
    return Tidy(moves=moves, seats_freed=freed, passes=passes, nodes=search.nodes, truncated=search.truncated)


Busy = dict[int, tuple[Window, ...]]
Target = tuple[tuple[int, ...], int, tuple[int, ...]]  # (blockers, request seat waste, table ids)


class _Search:
    """State of one re-seating search (kept on an object so the helpers stay small)."""

    def __init__(
        self,
        floor: FloorSnapshot,
        request: PlanRequest,
        settings: PlannerSettings,
        limits: ReseatLimits,
        clock: Callable[[], float],
        deadline: float,
    ) -> None:
        self.floor = floor
        self.request = request
        self.settings = settings
        self.limits = limits
        self.clock = clock
        self.deadline = deadline
        self.busy: Busy = {k: tuple(v) for k, v in floor.busy.items()}
        self.tables = _usable(floor)
        self.by_id = {t.id: t for t in self.tables}
        self.nodes = 0
        self.tried = 0
        self.n_targets = 0
        self.truncated = False

    # --- results -----------------------------------------------------------------------------

    def result(
        self, started: float, decision: Decision | None, moves: tuple[Move, ...], failure: str | None
    ) -> Reseating:
        return Reseating(
            decision=decision,
            moves=moves,
            failure_reason=failure,
            targets=self.n_targets,
            targets_tried=self.tried,
            nodes=self.nodes,
            truncated=self.truncated,
            search_ms=max(0.0, (self.clock() - started) * 1000.0),
            limits=self.limits,
        )

    def out_of_budget(self) -> bool:
        if self.nodes >= self.limits.max_nodes or self.clock() > self.deadline:
            self.truncated = True
        return self.truncated

    # --- step 1: which bookings may move, and the targets -------------------------------------

    def lift(self, bookings: Sequence[PlacedBooking]) -> dict[int, PlacedBooking]:
        """Return the movable bookings whose windows are all on the floor where the caller says."""
        movable: dict[int, PlacedBooking] = {}
        for b in bookings:
            if not (b.movable and b.table_ids and b.starts_at < b.ends_at) or b.booking_id in movable:
                continue
            window = (b.starts_at, b.ends_at)
            # A booking the floor does not show where the caller says it sits is left alone: moving
            # it would free nothing, or free a window that belongs to someone else.
            if all(t in self.by_id and window in self.busy.get(t, ()) for t in b.table_ids):
                movable[b.booking_id] = b
        return movable

    def targets(self, req: PlanRequest, busy: Busy, pool: Mapping[int, PlacedBooking]) -> list[Target]:
        """Return the table sets that seat ``req`` once some of ``pool`` move, fewest movers first."""
        self.nodes += 1
        lifted: dict[int, list[PlacedBooking]] = {}
        for b in pool.values():
            if b.starts_at < req.ends_at and req.starts_at < b.ends_at:
                for table_id in b.table_ids:
                    lifted.setdefault(table_id, []).append(b)
        blockers: dict[int, frozenset[int]] = {}
        for t in self.tables:
            own = lifted.get(t.id, [])
            own_windows = {(b.starts_at, b.ends_at) for b in own}
            fixed_in_way = any(
                s < e and s < req.ends_at and req.starts_at < e and (s, e) not in own_windows
                for s, e in busy.get(t.id, ())
            )
            if not fixed_in_way:
                blockers[t.id] = frozenset(b.booking_id for b in own)
        found: list[Target] = []

        def add(ids: tuple[int, ...], seats: int) -> None:
            union: frozenset[int] = frozenset().union(*(blockers[i] for i in ids))
            found.append((tuple(sorted(union)), seats - req.party_size, ids))

        party = req.party_size
        open_tables = [t for t in self.tables if t.id in blockers]
        for t in open_tables:
            if t.min_party <= party <= t.max_party:
                add((t.id,), t.max_party)
        s = self.settings
        if s.merges_enabled and s.max_merge_tables >= 2:
            pool_tables = [t for t in open_tables if t.combinable and t.max_party < party]
            for ids, seats in _combinations(
                pool_tables, self.floor.adjacency, party, s, self.limits.max_targets
            ):
                add(ids, seats)
        found.sort(key=lambda f: (len(f[0]), f[1], len(f[2]), f[2]))
        return found

    # --- step 3: seat the blockers elsewhere ----------------------------------------------------

    def solve(
        self,
        target: tuple[int, ...],
        blockers: list[PlacedBooking],
        allowed: int,
        movable: Mapping[int, PlacedBooking],
    ) -> tuple[Decision, tuple[Move, ...]] | None:
        """Return the request's decision and at most ``allowed`` moves that put it on ``target``."""
        busy = _without(self.busy, blockers)
        req_window = (self.request.starts_at, self.request.ends_at)
        for t in target:
            busy[t] = (*busy.get(t, ()), req_window)
        touched = frozenset(b.booking_id for b in blockers)
        pool = {i: b for i, b in movable.items() if i not in touched}
        order = sorted(blockers, key=_hardest_first)
        placed = self._place(order, 0, busy, [], allowed - len(blockers), pool)
        if placed is None:
            return None
        moves, final = placed
        # The request's own decision on the floor after the moves: a full planner answer (plan,
        # runners-up, settings) for "Why these tables?".
        after = dict(final)
        for t in target:
            windows = list(after[t])
            windows.remove(req_window)
            after[t] = tuple(windows)
        self.nodes += 1
        decision = plan_tables(replace(self.floor, busy=after), self.request, self.settings, timer=self.clock)
        if decision.plan is None:
            return None
        return decision, tuple(moves)

    def _place(
        self,
        order: list[PlacedBooking],
        i: int,
        busy: Busy,
        done: list[Move],
        spare: int,
        pool: dict[int, PlacedBooking],
    ) -> tuple[list[Move], Busy] | None:
        """Seat order[i:] again (each a move); ``spare`` more bookings of ``pool`` may be moved to help."""
        if i == len(order):
            return done, busy
        if self.out_of_budget():
            return None
        b = order[i]
        window = (b.starts_at, b.ends_at)
        req = PlanRequest(party_size=b.party_size, starts_at=b.starts_at, ends_at=b.ends_at)
        options: list[tuple[int, ...]] = []
        if self._room_for(req, busy):
            self.nodes += 1
            decision = plan_tables(replace(self.floor, busy=busy), req, self.settings, timer=self.clock)
            if decision.plan is not None:
                options = [p.table_ids for p in (decision.plan, *decision.runners_up)]
        for ids in options:
            found = self._place(
                order, i + 1, _with(busy, ids, window), [*done, self._move(b, ids)], spare, pool
            )
            if found is not None or self.truncated:
                return found
        if spare <= 0:
            return None
        # Nowhere free: move some of the pool out of its way too (a chain), within the move budget.
        for blockers, _, ids in self.targets(req, busy, pool):
            if not blockers or len(blockers) > spare:
                continue
            if self.out_of_budget():
                return None
            movers = [pool[x] for x in blockers]
            rest = {k: v for k, v in pool.items() if k not in blockers}
            nxt = _with(_without(busy, movers), ids, window)
            more = sorted(movers, key=_hardest_first)
            found = self._place(
                [*order, *more], i + 1, nxt, [*done, self._move(b, ids)], spare - len(movers), rest
            )
            if found is not None or self.truncated:
                return found
        return None

    def _room_for(self, req: PlanRequest, busy: Busy) -> bool:
        """Return whether the tables free for the window could seat the party at all.

        A necessary condition, far cheaper than the planner: on a nearly full floor most bookings
        in the way have nowhere to go, and this says so without enumerating anything.
        """
        party = req.party_size
        merges = self.settings.merges_enabled and self.settings.max_merge_tables >= 2
        joinable = 0
        for t in self.tables:
            if any(s < e and s < req.ends_at and req.starts_at < e for s, e in busy.get(t.id, ())):
                continue
            if t.min_party <= party <= t.max_party:
                return True
            if merges and t.combinable and t.max_party < party:
                joinable += t.max_party
        return joinable >= party

    def _move(self, b: PlacedBooking, ids: tuple[int, ...]) -> Move:
        old, new = tuple(sorted(b.table_ids)), tuple(sorted(ids))
        return Move(
            booking_id=b.booking_id,
            party_size=b.party_size,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            from_table_ids=old,
            to_table_ids=new,
            from_labels=tuple(self.by_id[t].label for t in old),
            to_labels=tuple(self.by_id[t].label for t in new),
            seat_waste=sum(self.by_id[t].max_party for t in new) - b.party_size,
        )


def _hardest_first(b: PlacedBooking) -> tuple[int, object, int]:
    return (-b.party_size, b.starts_at - b.ends_at, b.booking_id)


def _without(busy: Busy, bookings: Sequence[PlacedBooking]) -> Busy:
    """Return a copy of ``busy`` with each booking's window taken off its tables."""
    out = dict(busy)
    for b in bookings:
        for t in b.table_ids:
            windows = list(out[t])
            windows.remove((b.starts_at, b.ends_at))
            out[t] = tuple(windows)
    return out


def _with(busy: Busy, table_ids: Sequence[int], window: Window) -> Busy:
    """Return a copy of ``busy`` with the window added on each table."""
    out = dict(busy)
    for t in table_ids:
        out[t] = (*out.get(t, ()), window)
    return out


def _usable(floor: FloorSnapshot) -> list[TableInfo]:
    """Return the floor's active, well-formed tables of its restaurant, by id (as the planner does)."""
    seen: set[int] = set()
    usable: list[TableInfo] = []
    for t in floor.tables:
        if t.id in seen:
            continue
        seen.add(t.id)
        if (
            t.active
            and t.restaurant_id == floor.restaurant_id
            and t.max_party >= 1
            and t.min_party <= t.max_party
        ):
            usable.append(t)
    usable.sort(key=lambda t: t.id)
    return usable


def _combinations(
    pool: list[TableInfo],
    adjacency: frozenset[tuple[int, int]],
    party: int,
    settings: PlannerSettings,
    limit: int,
) -> list[tuple[tuple[int, ...], int]]:
    """Return (sorted ids, seats) of the joins the planner's rules allow among the pool tables.

    The rules are the planner's: 2..max_merge_tables combinable tables, each too small alone,
    together seating the party, none redundant, connected when adjacency is required.
    """
    k = settings.max_merge_tables
    ids = [t.id for t in pool]
    seats_of = {t.id: t.max_party for t in pool}
    in_pool = set(ids)
    nb: dict[int, set[int]] = {i: set() for i in ids}
    for a, b in adjacency:
        if a in in_pool and b in in_pool and a != b:
            nb[a].add(b)
            nb[b].add(a)
    adjacent_only = settings.require_adjacency
    found: list[tuple[tuple[int, ...], int]] = []

    def connected(members: Sequence[int]) -> bool:
        wanted = set(members)
        seen = {members[0]}
        stack = [members[0]]
        while stack:
            for u in nb[stack.pop()] & wanted:
                if u not in seen:
                    seen.add(u)
                    stack.append(u)
        return len(seen) == len(wanted)

    def minimal(members: Sequence[int], seats: int) -> bool:
        for m in members:
            if seats - seats_of[m] >= party:
                rest = [x for x in members if x != m]
                if not adjacent_only or connected(rest):
                    return False
        return True

    def offer(members: list[int], seats: int) -> None:
        if len(members) >= 2 and minimal(members, seats):
            found.append((tuple(sorted(members)), seats))

    if adjacent_only:
        # Connected sets grown from each seed through larger-id neighbours (each set once).
        def grow(sub: list[int], closed: set[int], ext: list[int], seats: int, seed: int) -> None:
            while ext and len(found) < limit:
                w = ext.pop()
                total = seats + seats_of[w]
                sub.append(w)
                if total >= party:
                    offer(sub, total)
                elif len(sub) < k:
                    extra = [u for u in nb[w] if u > seed and u not in closed]
                    grow(sub, closed | nb[w] | {w}, ext + extra, total, seed)
                sub.pop()

        for seed in ids:
            if nb[seed]:
                grow([seed], nb[seed] | {seed}, [u for u in nb[seed] if u > seed], seats_of[seed], seed)
    else:
        order = sorted(ids, key=lambda i: (-seats_of[i], i))

        def combine(start: int, sub: list[int], seats: int) -> None:
            for j in range(start, len(order)):
                if len(found) >= limit or seats + (k - len(sub)) * seats_of[order[j]] < party:
                    return
                total = seats + seats_of[order[j]]
                sub.append(order[j])
                if total >= party:
                    offer(sub, total)
                elif len(sub) < k:
                    combine(j + 1, sub, total)
                sub.pop()

        combine(0, [], 0)
    return found
