"""Hot-slot burst: N guests ask for the SAME slot at the same moment, each with its own key.

Every user is spawned first and waits at a starting line; then all fire at once. Each answer must
be 201/202/409 — never a 5xx — and afterwards no table may be double-booked and the slot may not be
over its capacity (checked here from the answers, and by ``manage.py check_integrity``).

A crowd comes from many addresses: each guest connects from its own loopback address
(``--source-network 127.2`` → 127.2.0.1, 127.2.0.2, …; any 127.x.y.z is loopback on Linux), so the
per-IP throttle sees 1 000 guests, not one proxy. ``make loadtest`` serves this burst with the
throttles at their production setting and reports every 429 (``throttled``)::

    .venv/bin/python -m locustfiles.hotslot --host http://127.0.0.1:8000 --restaurant stress-004 \
        --date 2026-12-01 --time 19:00 --users 1000 --out-prefix docs/load/hotslot
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from collections import Counter, deque
from datetime import date
from datetime import time as clock_time
from pathlib import Path
from typing import ClassVar

from gevent.event import Event
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

from locustfiles.client import bind_source_address, poll_booking, submit_booking
from locustfiles.common import BookingRecord, booking_body, classify, loopback_address, pick_party
from locustfiles.slotfill import FillState, Job, run

GO = Event()


class HotSlotUser(FastHttpUser):
    """Waits for the starting gun, books the hot slot once, and follows a 202 until it settles."""

    state: ClassVar[FillState | None] = None
    # "127.N": each guest connects from its own address in it; "" connects from the default one.
    source_network: ClassVar[str] = "127.2"
    spawned: ClassVar[int] = 0
    wait_time = constant(0)
    # The whole burst queues at the server; a slow answer is a finding, a client timeout is not.
    network_timeout = 180.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        self.source = ""
        if self.source_network and self.host:
            self.source = loopback_address(HotSlotUser.spawned, self.source_network)
            HotSlotUser.spawned += 1
            bind_source_address(self.client, self.host, self.source)

    @task
    def fire_once(self) -> None:
        state = self.state
        if state is None or not state.jobs:
            raise StopUser()
        job = state.jobs.popleft()
        GO.wait()
        record = BookingRecord(
            scenario="hotslot",
            level=state.level,
            seq=job.seq,
            restaurant=state.restaurant,
            local_date=state.local_date.isoformat(),
            local_time=job.local_time.strftime("%H:%M"),
            party_size=job.party_size,
            key=str(uuid.uuid4()),
            started_s=time.perf_counter() - state.started,
            source=self.source,
        )
        state.records.append(record)
        body = booking_body(
            restaurant=state.restaurant,
            local_date=state.local_date,
            local_time=job.local_time,
            party_size=job.party_size,
        )
        answered = submit_booking(self.client, body, record.key, record)
        answered_at = time.perf_counter()
        record.answered_s = answered_at - state.started
        try:
            if answered is not None and record.http_status == 202 and record.reference:
                final = poll_booking(
                    self.client, record.reference, timeout_s=state.post_job_timeout, record=record
                )
                if final is not None:
                    record.final_status = str(final.get("status", record.final_status))
                    record.tables = list(final.get("tables") or record.tables)
                    if record.final_status != "pending":
                        record.post_job_ms = (time.perf_counter() - answered_at) * 1000
        finally:
            record.reason = classify(record)
            state.finished += 1
        raise StopUser()  # one booking per guest


def burst_checks(records: list[BookingRecord]) -> dict[str, object]:
    """Return what the answers alone show: statuses, 5xx, tables given twice, covers admitted."""
    tables = Counter(t for r in records if r.final_status == "confirmed" for t in r.tables)
    admitted = [r for r in records if r.http_status in (201, 202)]
    answered_at = [r.answered_s for r in records if r.http_status and r.answered_s is not None]
    return {
        "last_answer_s": round(max(answered_at), 3) if answered_at else None,
        "statuses": dict(sorted(Counter(r.http_status for r in records).items())),
        "first_statuses": dict(sorted(Counter(r.first_status for r in records).items())),
        "five_xx": sum(r.five_xx for r in records),
        "throttled": sum(r.throttled for r in records),
        "throttled_bookings": sum(1 for r in records if r.throttled),
        "distinct_sources": len({r.source for r in records if r.source}),
        "unanswered": sum(1 for r in records if r.http_status not in (201, 202, 409)),
        "admitted": len(admitted),
        "admitted_covers": sum(r.party_size for r in admitted),
        "tables_given_twice": sorted(t for t, n in tables.items() if n > 1),
    }


def burst_state(
    restaurant: str, local_date: date, local_time: clock_time, users: int, seed: int, post_job_timeout: float
) -> FillState:
    """Return the burst's jobs: one booking of the slot per guest, party sizes drawn from ``seed``."""
    rng = random.Random(seed)
    jobs = [Job(seq=i, local_time=local_time, party_size=pick_party(rng)) for i in range(users)]
    return FillState(
        scenario="hotslot",
        restaurant=restaurant,
        local_date=local_date,
        level=users,
        post_job_timeout=post_job_timeout,
        jobs=deque(jobs),
        total=len(jobs),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.hotslot", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--restaurant", default="stress-004")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--time", default="19:00", type=clock_time.fromisoformat)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--post-job-timeout", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument(
        "--source-network",
        default="127.2",
        help="connect each guest from its own address 127.N.x.y ('' = all from the default address)",
    )
    parser.add_argument("--out-prefix", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.source_network and not re.fullmatch(r"127\.\d{1,3}", args.source_network):
        parser.error("--source-network must be a loopback network 127.N")
    HotSlotUser.source_network = args.source_network
    state = burst_state(args.restaurant, args.date, args.time, args.users, args.seed, args.post_job_timeout)
    GO.clear()
    meta = run(
        host=args.host,
        state=state,
        user_class=HotSlotUser,
        users=args.users,
        max_seconds=args.max_seconds,
        out_prefix=args.out_prefix,
        ready=GO,
    )
    meta["checks"] = burst_checks(state.records)
    Path(f"{args.out_prefix}_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
