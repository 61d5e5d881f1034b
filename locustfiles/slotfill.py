"""Slot-fill: fill a restaurant's dinner slots at a fixed concurrency, one record per booking.

Runs Locust as a library (precise start and stop: the run ends when every booking has an answer
and every 202 has settled, not after a guessed run time)::

    .venv/bin/python -m locustfiles.slotfill --host http://127.0.0.1:8000 --concurrency 8 \
        --restaurant white-horse-waterbeach --date 2026-12-01 --per-slot 8 --out-prefix docs/load/slotfill_c8

The request stream (slot and party size of each booking, and their order) comes from ``--seed``,
so every concurrency level books exactly the same stream, each on its own fresh day. Bookings go
straight to POST /api/v1/bookings (no hold), so every one runs admission and the planner inline.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from datetime import time as clock_time
from pathlib import Path
from typing import ClassVar

import gevent
from gevent.event import Event
from gevent.pool import Group
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.stats import stats_history

from locustfiles.client import poll_booking, submit_booking, write_locust_artefacts
from locustfiles.common import BookingRecord, booking_body, classify, pick_party, slot_grid, write_records


@dataclass(frozen=True)
class Job:
    seq: int
    local_time: clock_time
    party_size: int


def build_jobs(first: clock_time, last: clock_time, per_slot: int, seed: int) -> list[Job]:
    """Return ``per_slot`` bookings for every slot from ``first`` to ``last``, in a seeded random order."""
    rng = random.Random(seed)
    wanted = [(slot, pick_party(rng)) for slot in slot_grid(first, last) for _ in range(per_slot)]
    rng.shuffle(wanted)  # guests do not arrive slot by slot
    return [Job(seq=i, local_time=t, party_size=p) for i, (t, p) in enumerate(wanted)]


@dataclass
class FillState:
    """Shared by the users of one run: the queue of bookings to make and what each one saw."""

    scenario: str
    restaurant: str
    local_date: date
    level: int
    post_job_timeout: float
    jobs: deque[Job]
    total: int
    records: list[BookingRecord] = field(default_factory=list)
    finished: int = 0
    started: float = field(default_factory=time.perf_counter)
    polls: Group = field(default_factory=Group)


class SlotFillUser(FastHttpUser):
    """Takes the next booking off the shared queue, submits it, and follows a 202 in the background."""

    state: ClassVar[FillState | None] = None
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    @task
    def submit_next(self) -> None:
        state = self.state
        if state is None or not state.jobs:
            gevent.sleep(0.2)  # nothing left: idle until the runner stops us
            return
        job = state.jobs.popleft()
        record = BookingRecord(
            scenario=state.scenario,
            level=state.level,
            seq=job.seq,
            restaurant=state.restaurant,
            local_date=state.local_date.isoformat(),
            local_time=job.local_time.strftime("%H:%M"),
            party_size=job.party_size,
            key=str(uuid.uuid4()),
            started_s=time.perf_counter() - state.started,
        )
        state.records.append(record)
        body = booking_body(
            restaurant=state.restaurant,
            local_date=state.local_date,
            local_time=job.local_time,
            party_size=job.party_size,
        )
        answer = submit_booking(self.client, body, record.key, record)
        if answer is not None and record.http_status == 202 and record.reference:
            # Keep the submit concurrency at the level: the guest's page polls on its own.
            state.polls.spawn(self._follow, state, record, time.perf_counter())
            return
        record.reason = classify(record)
        state.finished += 1

    def _follow(self, state: FillState, record: BookingRecord, answered_at: float) -> None:
        try:
            final = poll_booking(
                self.client, record.reference, timeout_s=state.post_job_timeout, record=record
            )
            if final is not None:
                record.final_status = str(final.get("status", record.final_status))
                record.tables = list(final.get("tables") or record.tables)
                allocation = final.get("allocation") or {}
                record.attempts = allocation.get("attempts", record.attempts)
                record.seat_waste = allocation.get("seat_waste", record.seat_waste)
                if record.final_status != "pending":
                    record.post_job_ms = (time.perf_counter() - answered_at) * 1000
        finally:
            record.reason = classify(record)
            state.finished += 1


def run(
    *,
    host: str,
    state: FillState,
    user_class: type[FastHttpUser],
    users: int,
    max_seconds: float,
    out_prefix: Path,
    ready: Event | None = None,
    html: bool = True,
) -> dict[str, object]:
    """Run ``users`` users until every job finished (or ``max_seconds``); write records and Locust files."""
    user_class.state = state  # type: ignore[attr-defined]
    environment = Environment(user_classes=[user_class], host=host, locustfile=__file__)
    runner = environment.create_local_runner()
    history = gevent.spawn(stats_history, runner)
    state.started = time.perf_counter()
    runner.start(users, spawn_rate=users)
    if ready is not None:
        # The burst: let every user reach the starting line before anyone fires.
        while runner.user_count < users and time.perf_counter() - state.started < max_seconds:
            gevent.sleep(0.05)
        gevent.sleep(0.5)
        state.started = time.perf_counter()
        ready.set()
    deadline = state.started + max_seconds
    while state.finished < state.total and time.perf_counter() < deadline:
        gevent.sleep(0.05)
    wall_s = time.perf_counter() - state.started
    timed_out = state.finished < state.total
    runner.quit()
    state.polls.kill(block=True, timeout=5)
    history.kill(block=False)
    for record in state.records:  # anything cut off by the deadline still gets a reason
        record.reason = classify(record)
    write_records(Path(f"{out_prefix}_bookings.jsonl"), sorted(state.records, key=lambda r: r.seq))
    write_locust_artefacts(environment, out_prefix, html=html)
    meta: dict[str, object] = {
        "scenario": state.scenario,
        "level": state.level,
        "users": users,
        "restaurant": state.restaurant,
        "date": state.local_date.isoformat(),
        "jobs": state.total,
        "submitted": len(state.records),
        "finished": state.finished,
        "wall_s": round(wall_s, 3),
        "timed_out": timed_out,
    }
    Path(f"{out_prefix}_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.slotfill", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--restaurant", default="white-horse-waterbeach")
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="local date, YYYY-MM-DD")
    parser.add_argument("--first", default="17:30", type=clock_time.fromisoformat, help="first slot")
    parser.add_argument("--last", default="21:00", type=clock_time.fromisoformat, help="last slot")
    parser.add_argument("--per-slot", type=int, default=8, help="bookings asked for each slot")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--post-job-timeout", type=float, default=60.0, help="seconds to follow a 202")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="hard bound on the run")
    parser.add_argument("--out-prefix", required=True, type=Path)
    parser.add_argument("--no-html", action="store_true", help="skip Locust's HTML report")
    args = parser.parse_args(argv)
    jobs = build_jobs(args.first, args.last, args.per_slot, args.seed)
    state = FillState(
        scenario="slotfill",
        restaurant=args.restaurant,
        local_date=args.date,
        level=args.concurrency,
        post_job_timeout=args.post_job_timeout,
        jobs=deque(jobs),
        total=len(jobs),
    )
    meta = run(
        host=args.host,
        state=state,
        user_class=SlotFillUser,
        users=args.concurrency,
        max_seconds=args.max_seconds,
        out_prefix=args.out_prefix,
        html=not args.no_html,
    )
    print(json.dumps(meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
