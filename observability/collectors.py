"""Metrics read at scrape time: the pending backlog (PostgreSQL) and the Celery queue depth (Redis).

They describe shared state, not one process, so they are computed by whichever web process answers
the scrape instead of being kept as gauges in every process.

Import direction (DESIGN §2): observability must not import bookings. The backlog is read with one
raw SQL statement on ``bookings_booking`` (``status``, ``created_at``), a table name and two columns
that are part of the schema, not of Python code. If the table is missing (a fresh database) or the
database does not answer within ``SCRAPE_STATEMENT_TIMEOUT_MS``, the two backlog metrics are left
out of that scrape; if Redis is down, the queue depth is -1. A scrape never fails because of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger("reservex.metrics")

SCRAPE_STATEMENT_TIMEOUT_MS = 2000
# Celery's Redis transport keeps priorities 3, 6 and 9 of a queue in sibling lists.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

PENDING_SQL = """
    SELECT count(*), EXTRACT(EPOCH FROM (now() - min(created_at)))
    FROM bookings_booking
    WHERE status = 'pending' AND NOT awaiting_staff
"""


def read_pending_backlog() -> tuple[int, float] | None:
    """Return (pending bookings, age in seconds of the oldest one), or None if unreadable."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}")
            cursor.execute(PENDING_SQL)
            row = cursor.fetchone()
    except Exception:  # a scrape must answer even when the database cannot
        logger.warning("pending backlog unreadable for /metrics", exc_info=True)
        return None
    count, oldest_age = row if row else (0, None)
    return int(count), float(oldest_age or 0.0)


def read_queue_depth(queue: str) -> int:
    """Return the number of messages waiting in a Celery queue on Redis, or -1 if Redis is down."""
    import redis

    timeout = float(getattr(settings, "REDIS_SOCKET_TIMEOUT_SECONDS", 0.5))
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            pipe = client.pipeline(transaction=False)
            pipe.llen(queue)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
            return int(sum(pipe.execute()))
        finally:
            client.close()
    except Exception:  # Redis down must not fail the scrape
        logger.warning("queue depth of %r unreadable for /metrics", queue, exc_info=True)
        return -1


class BacklogCollector(Collector):
    """Export reservex_pending_bookings, reservex_pending_oldest_age_seconds, reservex_queue_depth."""

    def __init__(self, queues: Iterable[str] | None = None) -> None:
        # Every queue by kind of work (allocation, notifications, maintenance, the default).
        self.queues = (
            tuple(queues) if queues is not None else tuple(q.name for q in settings.CELERY_TASK_QUEUES)
        )

    def collect(self) -> Iterator[Metric]:
        backlog = read_pending_backlog()
        if backlog is not None:
            count, oldest_age = backlog
            yield GaugeMetricFamily(
                "reservex_pending_bookings", "Bookings accepted and still waiting for tables.", value=count
            )
            yield GaugeMetricFamily(
                "reservex_pending_oldest_age_seconds",
                "Age of the oldest pending booking (0 when there is none).",
                value=oldest_age,
            )
        depth = GaugeMetricFamily(
            "reservex_queue_depth",
            "Messages waiting in the Celery queue on Redis (-1 when Redis does not answer).",
            labels=["queue"],
        )
        for queue in self.queues:
            depth.add_metric([queue], read_queue_depth(queue))
        yield depth
