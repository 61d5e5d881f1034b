"""ReserveX against the reference endpoint: the same load on both, in one run, rounds interleaved.

DESIGN §10 measures ReserveX's booking throughput as a share of the thinnest Django + DRF endpoint
that writes the same rows (``locustfiles/reference.py``), served by the same gunicorn on the same
database. This module runs the same Locust load against both — ``--users`` FastHttpUsers, no think
time, every request a new booking that nothing refuses — in rounds that alternate between the two
(reference, ReserveX, ReserveX, reference, …, so a drift of the machine hits both alike), after an
unreported warm-up round of each::

    .venv/bin/python -m locustfiles.compare --host http://127.0.0.1:8000 --users 16 --seconds 10 \
        --rounds 3 --out-prefix docs/load/compare --web-pids 101,102,103 --pg-database reservex_load

Distinct slots and tables: each user books its own restaurant-day (no two users ever wait for the
same restaurant-day lock), ReserveX four parties of two per slot of the stress restaurants' lunch
and dinner (well inside every capacity rule), the reference one party of two per table and
90-minute window on days far beyond ReserveX's (the exclusion constraint never fires).

Per round: bookings/s (201 answers completed inside the measured window ÷ its length), p50/p95/p99
of their response times, every status seen, and — when the server's processes are on this machine —
CPU per booking: the web processes (``--web-pids``, gunicorn master and workers) and the Postgres
backends of ``--pg-database`` (found by their process titles), read from /proc before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from datetime import time as clock_time
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

from locustfiles.common import (
    BOOKINGS_PATH,
    REFERENCE_GUEST,
    REFERENCE_PATH,
    booking_body,
    day_ahead,
    slot_grid,
    summarize,
)

TARGETS = ("reference", "reservex")
# The stress restaurants' services (bookings.demo.seed_stress): lunch 11:30–14:30, dinner 17:00–21:30.
SLOTS = [
    *slot_grid(clock_time(11, 30), clock_time(14, 30)),
    *slot_grid(clock_time(17, 0), clock_time(21, 30)),
]
PER_SLOT = 4  # parties of two a slot: 8 covers of the 40–48 a slot may start, 24 of 60 tables in use
# A party of two keeps its table 90 minutes: these windows never overlap on one table.
REFERENCE_WINDOWS = [clock_time(h, m) for h, m in ((11, 30), (13, 0), (14, 30), (17, 0), (18, 30), (20, 0))]
# The 60 tables of a stress restaurant (bookings.demo.stress_layout), every one seats two or more.
STRESS_TABLES = [f"S{s}-{i:02d}" for s in range(1, 6) for i in range(1, 13)]
PARTY = 2
CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Job:
    restaurant: str
    local_date: date
    local_time: clock_time
    table: str = ""


class Days:
    """Hands out (restaurant, day) pairs, each to one user only, and that user's bookings in it."""

    def __init__(self, restaurants: list[str], first_day: int, last_day: int) -> None:
        self._pairs = ((r, day_ahead(d)) for d in range(first_day, last_day + 1) for r in restaurants)

    def lane(self, target: str) -> Iterator[Job]:
        """Return one user's bookings: every slot (or table and window) of a day, then the next day."""
        for restaurant, local_date in self._pairs:
            if target == "reference":
                for window in REFERENCE_WINDOWS:
                    for table in STRESS_TABLES:
                        yield Job(restaurant, local_date, window, table)
            else:
                for slot in SLOTS:
                    for _ in range(PER_SLOT):
                        yield Job(restaurant, local_date, slot)


@dataclass
class Shared:
    """What the users of all rounds share: where each target books next and what was answered."""

    days: dict[str, Days]
    target: str = "reservex"
    # Each user of a round takes the next lane; the lanes (and their days) go on in the next round.
    lanes: dict[str, list[Iterator[Job]]] = field(default_factory=lambda: {t: [] for t in TARGETS})
    next_lane: int = 0
    # (status, response ms, completed at perf_counter) of every answer of the current round
    answers: list[tuple[int, float, float]] = field(default_factory=list)


class BookingUser(FastHttpUser):
    """Books, books again at once, and again: each booking a new slot (or table) of its own day."""

    shared: ClassVar[Shared | None] = None
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        shared = self.shared
        assert shared is not None
        self.target = shared.target
        lanes = shared.lanes[self.target]
        if shared.next_lane == len(lanes):
            lanes.append(shared.days[self.target].lane(self.target))
        self.jobs = lanes[shared.next_lane]
        shared.next_lane += 1

    @task
    def book(self) -> None:
        shared = self.shared
        assert shared is not None
        job = next(self.jobs, None)
        if job is None:
            gevent.sleep(1)  # this target's days are used up (a very long run): idle
            return
        body = booking_body(
            restaurant=job.restaurant, local_date=job.local_date, local_time=job.local_time, party_size=PARTY
        )
        if self.target == "reference":
            body.update(tables=[job.table], guest_name=REFERENCE_GUEST)
        path = REFERENCE_PATH if self.target == "reference" else BOOKINGS_PATH
        with self.client.post(
            path,
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name=f"{self.target} POST booking",
            catch_response=True,
        ) as response:
            status = int(response.status_code or 0)
            if status == 201:
                response.success()
            else:
                response.failure(f"{status}")
            shared.answers.append(
                (status, float(response.request_meta["response_time"]), time.perf_counter())
            )


# --- CPU of the server's processes ---------------------------------------------------------------


def cpu_ticks(pid: int) -> int | None:
    """Return user + system CPU clock ticks of a process (all its threads), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def postgres_backends(database: str) -> list[int]:
    """Return the pids of the Postgres backends connected to ``database`` (from their process titles)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in f"{title} ":
            pids.append(int(cmdline.parent.name))
    return pids


def cpu_snapshot(web_pids: list[int], database: str) -> dict[str, dict[int, int]]:
    snapshot: dict[str, dict[int, int]] = {"web": {}, "pg": {}}
    for group, pids in (("web", web_pids), ("pg", postgres_backends(database) if database else [])):
        for pid in pids:
            ticks = cpu_ticks(pid)
            if ticks is not None:
                snapshot[group][pid] = ticks
    return snapshot


def cpu_spent_ms(before: dict[str, dict[int, int]], after: dict[str, dict[int, int]]) -> dict[str, float]:
    """Return CPU ms per group between two snapshots (a process born in between counts whole)."""
    return {
        group: sum(ticks - before[group].get(pid, 0) for pid, ticks in after[group].items()) * CLOCK_TICK_MS
        for group in after
    }


# --- rounds ---------------------------------------------------------------------------------------


def run_round(
    host: str, shared: Shared, target: str, users: int, seconds: float, web_pids: list[int], database: str
) -> dict[str, Any]:
    """Run ``users`` users against one target for ``seconds`` once all are spawned; return the figures."""
    shared.target, shared.next_lane = target, 0
    BookingUser.shared = shared
    environment = Environment(user_classes=[BookingUser], host=host, locustfile=__file__)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(users, 100))
    while runner.user_count < users:
        gevent.sleep(0.01)
    shared.answers = []
    cpu_before = cpu_snapshot(web_pids, database)
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    gevent.sleep(seconds)
    ended = time.perf_counter()
    cpu_after = cpu_snapshot(web_pids, database)
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    answers = [a for a in shared.answers if a[2] <= ended]
    runner.quit()
    booked = [ms for status, ms, _ in answers if status == 201]
    wall = ended - started
    latency = summarize(booked)
    spent = cpu_spent_ms(cpu_before, cpu_after)
    client_ms = 1000 * (
        client_after.ru_utime - client_before.ru_utime + client_after.ru_stime - client_before.ru_stime
    )
    result: dict[str, Any] = {
        "target": target,
        "users": users,
        "seconds": round(wall, 3),
        "answers": len(answers),
        "bookings": len(booked),
        "statuses": {str(k): v for k, v in sorted(Counter(s for s, _, _ in answers).items())},
        "bookings_per_s": len(booked) / wall if wall else None,
        "p50_ms": latency["p50"],
        "p95_ms": latency["p95"],
        "p99_ms": latency["p99"],
        "avg_ms": latency["avg"],
        "client_cpu_ms_per_answer": client_ms / len(answers) if answers else None,
        "cpu": {
            "web_ms": spent["web"] if web_pids else None,
            "pg_ms": spent["pg"] if database else None,
            "web_processes": len(cpu_after["web"]),
            "pg_backends": len(cpu_after["pg"]),
        },
    }
    if booked:
        for group in ("web", "pg"):
            total = result["cpu"][f"{group}_ms"]
            result["cpu"][f"{group}_ms_per_booking"] = total / len(booked) if total is not None else None
    return result


def schedule(rounds: int) -> list[str]:
    """Return the order of the measured rounds: pairs alternate which target goes first (ABBA)."""
    order: list[str] = []
    for i in range(rounds):
        order += list(TARGETS if i % 2 == 0 else reversed(TARGETS))
    return order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.compare", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds of each target")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of one unreported round each")
    parser.add_argument("--restaurants", default="stress-001,stress-002,stress-003")
    parser.add_argument("--first-day", type=int, default=2, help="ReserveX books from this many days ahead")
    parser.add_argument("--last-day", type=int, default=89, help="… to this many (the booking horizon)")
    parser.add_argument(
        "--reference-first-day", type=int, default=200, help="the reference books from this many days ahead"
    )
    parser.add_argument("--web-pids", default="", help="comma-separated pids of the web server's processes")
    parser.add_argument("--pg-database", default="", help="count the CPU of this database's backends")
    parser.add_argument("--out-prefix", required=True, type=Path)
    args = parser.parse_args(argv)
    restaurants = [r for r in args.restaurants.split(",") if r]
    web_pids = [int(p) for p in args.web_pids.split(",") if p.strip()]
    shared = Shared(
        days={
            "reservex": Days(restaurants, args.first_day, args.last_day),
            "reference": Days(restaurants, args.reference_first_day, args.reference_first_day + 5000),
        }
    )
    common = {"users": args.users, "web_pids": web_pids, "database": args.pg_database}
    warmup = (
        [run_round(args.host, shared, t, seconds=args.warmup, **common) for t in TARGETS]
        if args.warmup
        else []
    )
    rounds = []
    for index, target in enumerate(schedule(args.rounds)):
        gevent.sleep(0.5)  # let the server finish what the last round left in flight
        rounds.append(
            {"round": index // 2 + 1, **run_round(args.host, shared, target, seconds=args.seconds, **common)}
        )
    meta = {
        "users": args.users,
        "seconds": args.seconds,
        "rounds_each": args.rounds,
        "restaurants": restaurants,
        "warmup": warmup,
        "rounds": rounds,
        "cpu_measured": {"web": bool(web_pids), "pg": bool(args.pg_database)},
    }
    args.out_prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out_prefix}_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps({k: v for k, v in meta.items() if k != "warmup"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
