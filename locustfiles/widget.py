"""The booking widget as a Locust user: availability → hold → book (converting the hold) → poll.

Run it on its own against a local stack (throttles raised, see docs/load/REPORT.md)::

    .venv/bin/python -m locust -f locustfiles/widget.py --headless -u 16 -r 16 --run-time 60s \
        --host http://127.0.0.1:8000 --restaurants stress-005,stress-006,stress-007

Every booking attempt is also kept as a BookingRecord and written as JSON lines to ``--records``
when the run stops, for the report and the smoke test.
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import time
from pathlib import Path
from time import perf_counter
from typing import Any

if __package__ in (None, ""):  # loaded by path (locust -f): make the locustfiles package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locust import FastHttpUser, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment

from locustfiles.client import poll_booking, submit_booking, write_locust_artefacts
from locustfiles.common import BookingRecord, booking_body, classify, day_ahead, pick_party, write_records

RECORDS: list[BookingRecord] = []


@events.init_command_line_parser.add_listener
def _arguments(parser: LocustArgumentParser) -> None:
    group = parser.add_argument_group("ReserveX widget")
    group.add_argument(
        "--restaurants",
        default="stress-005,stress-006,stress-007",
        help="comma-separated restaurant slugs to book (spread the load so slots do not run out)",
    )
    group.add_argument("--days", default="14-40", help="book this many days ahead, as MIN-MAX")
    group.add_argument("--think", default="0.2-1.0", help="seconds a guest pauses between bookings, MIN-MAX")
    group.add_argument("--poll-timeout", type=float, default=60.0, help="seconds to poll a pending booking")
    group.add_argument("--records", default="", help="write every booking attempt here as JSON lines")
    group.add_argument(
        "--final-csv",
        default="",
        help="write the final stats (every request, the stop timeout included) to PREFIX_stats.csv",
    )


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


@events.test_stop.add_listener
def _write_records(environment: Environment, **_: Any) -> None:
    path = getattr(environment.parsed_options, "records", "") if environment.parsed_options else ""
    if path:
        write_records(Path(path), RECORDS)


@events.quitting.add_listener
def _write_final_stats(environment: Environment, **_: Any) -> None:
    # Locust's own --csv is rewritten once a second and can miss the last requests; by the time
    # Locust quits, the runner has stopped and these figures are complete.
    prefix = getattr(environment.parsed_options, "final_csv", "") if environment.parsed_options else ""
    if prefix:
        write_locust_artefacts(environment, Path(prefix), html=False)


class WidgetUser(FastHttpUser):
    """A guest on the restaurant's site: looks at a day, holds a time, books it, reads the answer."""

    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.rng = random.Random()
        self.restaurants = [s for s in str(getattr(options, "restaurants", "")).split(",") if s]
        self.days = tuple(int(d) for d in _range(str(getattr(options, "days", "14-40"))))
        self.think = _range(str(getattr(options, "think", "0.2-1.0")))
        self.poll_timeout = float(getattr(options, "poll_timeout", 60.0))

    def wait_time(self) -> float:
        return self.rng.uniform(*self.think)

    @task
    def book_a_table(self) -> None:
        slug = self.rng.choice(self.restaurants)
        local_date = day_ahead(self.rng.randint(self.days[0], self.days[1]))
        party = pick_party(self.rng)
        with self.client.get(
            f"/api/v1/restaurants/{slug}/availability?date={local_date.isoformat()}&party_size={party}",
            name="/api/v1/restaurants/[slug]/availability",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"availability answered {response.status_code}")
                return
            open_times = [s["time"] for s in response.json().get("slots", []) if s.get("available")]
        if not open_times:
            return  # the day is full for this party: a guest would pick another day
        chosen = time.fromisoformat(self.rng.choice(open_times))
        record = BookingRecord(
            scenario="widget",
            level=self.environment.runner.user_count if self.environment.runner else 0,
            seq=len(RECORDS),
            restaurant=slug,
            local_date=local_date.isoformat(),
            local_time=chosen.strftime("%H:%M"),
            party_size=party,
            key=str(uuid.uuid4()),
        )
        RECORDS.append(record)
        with self.client.post(
            f"/api/v1/restaurants/{slug}/holds",
            json={"date": local_date.isoformat(), "time": chosen.strftime("%H:%M"), "party_size": party},
            name="/api/v1/restaurants/[slug]/holds",
            catch_response=True,
        ) as response:
            if response.status_code == 409:
                response.success()  # someone took the last table first: a correct answer
                record.http_status, record.error_code = 409, "CAPACITY_EXCEEDED"
                record.reason = classify(record)
                return
            if response.status_code != 201:
                response.failure(f"hold answered {response.status_code}")
                record.error_code = f"HOLD_{response.status_code}"
                return
            hold_id = response.json()["id"]
        body = booking_body(
            restaurant=slug, local_date=local_date, local_time=chosen, party_size=party, hold_id=hold_id
        )
        answer = submit_booking(self.client, body, record.key, record)
        if answer is not None:
            # The confirmation page reads the booking; a pending one is read until it settles.
            answered_at = perf_counter()
            final = poll_booking(self.client, record.reference, timeout_s=self.poll_timeout, record=record)
            if final is not None:
                record.final_status = str(final.get("status", record.final_status))
                record.tables = list(final.get("tables") or record.tables)
                if record.http_status == 202 and record.final_status != "pending":
                    record.post_job_ms = (perf_counter() - answered_at) * 1000
        record.reason = classify(record)
