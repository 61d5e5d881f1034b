"""The booking calls every scenario makes, on a Locust FastHttpUser's client (imports locust)."""

from __future__ import annotations

import csv
import socket
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
from geventhttpclient.url import URL
from locust.contrib.fasthttp import FastHttpSession, ResponseContextManager
from locust.env import Environment
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from locustfiles.common import BOOKINGS_PATH, BookingRecord, apply_booking_body, retry_after_seconds

BOOKING_NAME = "/api/v1/bookings"
POLL_NAME = "/api/v1/bookings/[reference]"
# Answers that say "the same request may succeed shortly": retried with the same key.
RETRY_STATUSES = frozenset({429, 503})


def _body(response: ResponseContextManager) -> dict[str, Any]:
    try:
        data = response.json()
    except Exception:  # noqa: BLE001 - an empty or non-JSON body is itself the finding
        return {}
    return data if isinstance(data, dict) else {}


def _is_timeout(error: BaseException | None) -> bool:
    if error is None:
        return False
    return isinstance(error, TimeoutError | socket.timeout | gevent.Timeout) or "timed out" in str(error)


def submit_booking(
    client: FastHttpSession,
    body: dict[str, Any],
    key: str,
    record: BookingRecord,
    *,
    max_retries: int = 3,
) -> dict[str, Any] | None:
    """POST a booking with its Idempotency-Key; retry 429/503/IDEMPOTENCY_IN_PROGRESS after Retry-After.

    Fills the record (status, submit ms, allocation fields, error code) and returns the 201/202
    body, or None. 409/410 answers are correct refusals, so Locust counts them as successes; 5xx
    answers and timeouts are failures.
    """
    for attempt in range(max_retries + 1):
        with client.post(
            BOOKINGS_PATH,
            json=body,
            headers={"Idempotency-Key": key},
            name=BOOKING_NAME,
            catch_response=True,
        ) as response:
            status = int(response.status_code or 0)
            record.submit_ms = float(response.request_meta["response_time"])
            record.http_status = status
            record.submit_retries = attempt
            if attempt == 0:
                record.first_status = status
            if status == 0:
                error = getattr(response, "error", None)
                record.error_code = "api_timeout" if _is_timeout(error) else "connection_error"
                response.failure(f"{record.error_code}: {error}")
                return None
            if status >= 500:
                record.five_xx += 1
            elif status == 429:
                record.throttled += 1
            payload = _body(response)
            if status in (201, 202):
                record.error_code = ""
                apply_booking_body(record, payload)
                response.success()
                return payload
            record.error_code = str(payload.get("error", f"HTTP_{status}"))
            retryable = status in RETRY_STATUSES or record.error_code == "IDEMPOTENCY_IN_PROGRESS"
            if status >= 500:
                response.failure(f"{status} {record.error_code}")
            elif status in (409, 410, 429):
                response.success()  # a correct answer under load, not a server failure
            else:
                response.failure(f"{status} {record.error_code}")
            if not retryable or attempt == max_retries:
                return None
            wait = retry_after_seconds(response.headers.get("Retry-After") if response.headers else None)
        gevent.sleep(wait)
    return None


def poll_booking(
    client: FastHttpSession, reference: str, *, timeout_s: float, record: BookingRecord | None = None
) -> dict[str, Any] | None:
    """GET the booking until it is no longer pending, sleeping Retry-After between reads.

    Returns the last body read (still pending when the timeout ran out), or None on an error.
    """
    started = time.perf_counter()
    last: dict[str, Any] | None = None
    while True:
        with client.get(f"{BOOKINGS_PATH}/{reference}", name=POLL_NAME, catch_response=True) as response:
            status = int(response.status_code or 0)
            if status == 200:
                response.success()
                last = _body(response)
                if last.get("status") != "pending":
                    return last
            elif status in RETRY_STATUSES:
                if status >= 500:
                    if record is not None:
                        record.five_xx += 1
                    response.failure(f"{status} while polling")
                else:
                    if record is not None:
                        record.throttled += 1
                    response.success()
            else:
                response.failure(f"{status} while polling")
                return last
            wait = retry_after_seconds(
                response.headers.get("Retry-After") if response.headers else None, default=2.0
            )
        if time.perf_counter() - started + wait > timeout_s:
            return last
        gevent.sleep(wait)


def bind_source_address(session: FastHttpSession, host: str, address: str) -> None:
    """Make every connection ``session`` opens to ``host`` leave from the local ``address``.

    geventhttpclient has no source-address option, so the connection pool of the session's client
    for that host gets a socket factory that binds before connecting (IPv4 sockets only: an IPv6
    attempt, e.g. ``localhost`` resolving to ::1 first, connects unbound). Call it before the first
    request.
    """
    client = session.client.clientpool.get_client(URL(host))
    connections = client._connection_pool
    create_socket = connections._create_tcp_socket

    def create_bound_socket(family: int, socktype: int, protocol: int) -> gevent.socket.socket:
        sock = create_socket(family, socktype, protocol)
        if family == socket.AF_INET:
            sock.bind((address, 0))
        return sock

    connections._create_tcp_socket = create_bound_socket  # type: ignore[method-assign]


def write_locust_artefacts(environment: Environment, prefix: Path, *, html: bool = True) -> None:
    """Write Locust's own CSV (stats, failures) and HTML report of a library-mode run."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    with open(f"{prefix}_stats.csv", "w", newline="") as out:
        writer.requests_csv(csv.writer(out))
    with open(f"{prefix}_failures.csv", "w", newline="") as out:
        writer.failures_csv(csv.writer(out))
    if html:
        Path(f"{prefix}.html").write_text(get_html_report(environment, show_download_link=False))
