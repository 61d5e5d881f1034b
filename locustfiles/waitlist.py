"""Waitlist offer latency: guests wait for a full window while other guests cancel (issue 17).

Bounded, against 127.0.0.1 only:

1. Set-up (not measured): the window's slot times of one restaurant-day are booked full (party 2,
   until the API answers 409), so a guest joining the waitlist cannot be offered anything yet.
2. Traffic for ``--seconds`` (≤ 30): ``--waiters`` guests join the waitlist for that window and
   poll their entry; one canceller cancels a set-up booking every ``--cancel-every`` seconds. Each
   cancellation frees a table, and its commit enqueues an offer run; the guest offered it accepts
   (``--accept`` of the time, seeded) or declines (the table passes on), then joins again.
3. Afterwards, from the database: for every offer, the time from the freeing commit
   (``freed_at``, stamped when the cancellation's commit enqueues the run) to the offer
   (``offered_at``), and to the accepted booking's commit; offers sent, accepted, declined,
   expired and still open; a check that no entry ever held two offers at once (the entries'
   offer events in commit order: no offer while the last one is still open); and
   ``manage.py check_integrity``.

    .venv/bin/python -m locustfiles.waitlist --host http://127.0.0.1:8000 --restaurant stress-008 \
        --date 2026-12-16 --seconds 20 --out-prefix docs/load/waitlist
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from datetime import time as clock_time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.exception import StopUser

from locustfiles.client import write_locust_artefacts
from locustfiles.common import BOOKINGS_PATH, booking_body, slot_grid, summarize, two_offers_at_once

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 30.0  # the scenario's own ceiling on traffic, whatever it is asked
SETUP_LIMIT = 200  # bookings per slot time at most while filling (a 60-table floor fills far sooner)


@dataclass
class WaitState:
    restaurant: str
    local_date: date
    first: clock_time
    last: clock_time
    accept_ratio: float
    poll_s: float
    cancel_every: float
    rng: random.Random
    to_cancel: list[str] = field(default_factory=list)
    cancelled: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    stop: bool = False
    errors: Counter[str] = field(default_factory=Counter)


class WaiterUser(FastHttpUser):
    """A guest who joins the waitlist, waits for an offer, accepts or declines it, and joins again."""

    state: ClassVar[WaitState | None] = None
    wait_time = constant(0)
    network_timeout = 30.0

    @task
    def wait_for_a_table(self) -> None:
        state = self.state
        if state is None or state.stop:
            raise StopUser()
        guest = uuid.uuid4().hex[:10]
        with self.client.post(
            f"/api/v1/restaurants/{state.restaurant}/waitlist",
            json={
                "date": state.local_date.isoformat(),
                "earliest_time": state.first.strftime("%H:%M"),
                "latest_time": state.last.strftime("%H:%M"),
                "party_size": 2,
                "guest_name": f"Waitlist Guest {guest}",
                "guest_email": f"wait-{guest}@example.org",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name="/api/v1/restaurants/[slug]/waitlist",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"join answered {response.status_code}")
                state.errors[f"join_{response.status_code}"] += 1
                gevent.sleep(1.0)
                return
            token = response.json()["token"]
        entry: dict[str, Any] = {"token": token, "joined": time.time(), "outcome": "waiting"}
        state.entries.append(entry)
        while not state.stop:
            gevent.sleep(state.poll_s)
            with self.client.get(
                f"/api/v1/waitlist/{token}", name="/api/v1/waitlist/[token]", catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"status answered {response.status_code}")
                    state.errors[f"status_{response.status_code}"] += 1
                    continue
                status = response.json().get("status")
            if status != "offered":
                continue
            entry["offer_seen"] = time.time()
            accept = state.rng.random() < state.accept_ratio
            action = "accept" if accept else "decline"
            with self.client.post(
                f"/api/v1/waitlist/{token}/{action}",
                name=f"/api/v1/waitlist/[token]/{action}",
                catch_response=True,
            ) as response:
                entry["outcome"] = f"{action}_{response.status_code}"
                if response.status_code not in (200, 201, 410):
                    response.failure(f"{action} answered {response.status_code}")
                    state.errors[f"{action}_{response.status_code}"] += 1
                else:
                    response.success()  # 410: the offer ran out first, a correct answer
            return


class CancellerUser(FastHttpUser):
    """A guest who cancels one of the window's bookings every few seconds: the tables that free up."""

    state: ClassVar[WaitState | None] = None
    fixed_count = 1
    wait_time = constant(0)
    network_timeout = 30.0

    @task
    def cancel_one(self) -> None:
        state = self.state
        if state is None or state.stop or not state.to_cancel:
            raise StopUser()
        gevent.sleep(state.cancel_every)
        reference = state.to_cancel.pop(state.rng.randrange(len(state.to_cancel)))
        started = time.time()
        with self.client.post(
            f"{BOOKINGS_PATH}/{reference}/cancel", name="/api/v1/bookings/[reference]/cancel"
        ) as response:
            state.cancelled.append(
                {
                    "reference": reference,
                    "sent": started,
                    "answered": time.time(),
                    "status": response.status_code,
                }
            )


def fill_window(host: str, state: WaitState) -> dict[str, Any]:
    """Book every slot time of the window full (party 2); return the references and what it took."""
    import urllib.error
    import urllib.request

    booked: Counter[str] = Counter()
    started = time.perf_counter()
    for slot in slot_grid(state.first, state.last):
        for _ in range(SETUP_LIMIT):
            body = booking_body(
                restaurant=state.restaurant, local_date=state.local_date, local_time=slot, party_size=2
            )
            request = urllib.request.Request(  # noqa: S310 - http to 127.0.0.1 (checked in main)
                f"{host}{BOOKINGS_PATH}",
                data=json.dumps(body).encode(),
                method="POST",
                headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 409:
                    break  # full at this time
                raise
            state.to_cancel.append(answer["reference"])
            booked[slot.strftime("%H:%M")] += 1
    return {"bookings": dict(booked), "setup_s": round(time.perf_counter() - started, 2)}


def _connect(database_url: str) -> Any:
    import psycopg

    from reservex.devstack import connect_params

    return psycopg.connect(**connect_params(database_url), autocommit=True)


def collect(database_url: str, restaurant: str, local_date: date) -> dict[str, Any]:
    """Read what the offers did from the database: latencies, outcomes, and two-offers-at-once."""
    with _connect(database_url) as conn:
        rows = conn.execute(
            "SELECT e.id, e.status, e.offers_made, e.freed_at, e.offered_at, b.created_at"
            " FROM bookings_waitlistentry e JOIN bookings_restaurant r ON r.id = e.restaurant_id"
            " LEFT JOIN bookings_booking b ON b.id = e.booking_id"
            " WHERE r.slug = %s AND e.date = %s",
            [restaurant, local_date],
        ).fetchall()
        # The entries' offer events in commit order: an offer opens, its acceptance, decline or
        # expiry closes it. (By entry id: the events' hold ids may be redacted by the sanitiser.)
        events = conn.execute(
            "SELECT (context->>'entry_id')::int, type FROM observability_observabilityevent"
            " WHERE type LIKE 'waitlist.%%' AND (context->>'entry_id')::int = ANY(%s)"
            " ORDER BY created_at, id",
            [[row[0] for row in rows]],
        ).fetchall()
    to_offer = [(o - f).total_seconds() * 1000 for _, _, _, f, o, _ in rows if f and o]
    to_accept = [(b - f).total_seconds() * 1000 for _, s, _, f, _, b in rows if f and b and s == "accepted"]
    overlapping, offer_events = two_offers_at_once(events)
    statuses = Counter(row[1] for row in rows)
    return {
        "entries": len(rows),
        "offers_sent": sum(row[2] for row in rows),
        "offer_events": offer_events,
        "accepted": statuses.get("accepted", 0),
        "declined": statuses.get("declined", 0),
        "expired": statuses.get("expired", 0),
        "open_at_end": statuses.get("offered", 0),
        "waiting_at_end": statuses.get("waiting", 0),
        "commit_to_offer_ms": summarize(to_offer),
        "commit_to_accepted_ms": summarize(to_accept),
        "entries_with_two_offers_at_once": sorted(set(overlapping)),
    }


def integrity(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "manage.py", "check_integrity", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
    verdict: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False}
    verdict["exit_code"] = done.returncode
    return verdict


def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = min(float(args.seconds), MAX_SECONDS)
    state = WaitState(
        restaurant=args.restaurant,
        local_date=args.date,
        first=args.first,
        last=args.last,
        accept_ratio=args.accept,
        poll_s=args.poll,
        cancel_every=args.cancel_every,
        rng=random.Random(args.seed),
    )
    setup = fill_window(args.host, state)
    WaiterUser.state = CancellerUser.state = state
    environment = Environment(user_classes=[WaiterUser, CancellerUser], host=args.host, locustfile=__file__)
    runner = environment.create_local_runner()
    started = time.time()
    runner.start(args.waiters + 1, spawn_rate=args.waiters + 1)
    gevent.sleep(seconds)
    state.stop = True
    runner.quit()
    traffic_s = time.time() - started
    gevent.sleep(args.settle)  # the offer runs of the last cancellations, on the worker
    write_locust_artefacts(environment, args.out_prefix, html=False)
    figures = collect(args.database_url, args.restaurant, args.date) if args.database_url else {}
    seen_lag = [
        (e["offer_seen"] - e["joined"]) * 1000 for e in state.entries if "offer_seen" in e
    ]  # a guest's wait from joining to seeing an offer (the poll interval included)
    return {
        "scenario": "waitlist",
        "restaurant": args.restaurant,
        "date": args.date.isoformat(),
        "window": f"{args.first:%H:%M}-{args.last:%H:%M}",
        "waiters": args.waiters,
        "seconds": round(traffic_s, 1),
        "accept_ratio": args.accept,
        "poll_s": args.poll,
        "setup": setup,
        "cancellations": len(state.cancelled),
        "cancel_statuses": dict(Counter(str(c["status"]) for c in state.cancelled)),
        "joins": len(state.entries),
        "guest_outcomes": dict(Counter(e["outcome"] for e in state.entries)),
        "join_to_offer_seen_ms": summarize(seen_lag),
        "errors": dict(state.errors),
        **figures,
        "integrity": integrity(dict(os.environ)) if args.database_url else {"skipped": "no DATABASE_URL"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.waitlist", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--restaurant", default="stress-008")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--first", default="19:00", type=clock_time.fromisoformat)
    parser.add_argument("--last", default="19:15", type=clock_time.fromisoformat)
    parser.add_argument("--waiters", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help=f"traffic, at most {MAX_SECONDS:.0f}")
    parser.add_argument("--cancel-every", type=float, default=1.0)
    parser.add_argument("--accept", type=float, default=0.7, help="share of offers accepted")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between a guest's status reads")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--out-prefix", required=True, type=Path)
    args = parser.parse_args(argv)
    if urlsplit(args.host).hostname not in ("127.0.0.1", "localhost"):
        parser.error("--host must be this machine (127.0.0.1)")
    meta = run(args)
    Path(f"{args.out_prefix}_meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(json.dumps(meta, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
