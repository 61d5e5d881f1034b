"""Django's PostgreSQL backend, with the pool checking each connection by polling its socket.

Django gives its psycopg pool either no checkout check or psycopg_pool's own, which sends an empty
query: one round trip on every request, about a sixth of a cached refusal's time in a burst.
Settings select this backend when the pool is on (settings.DATABASES).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base


def check_pooled_connection(conn: psycopg.Connection[Any]) -> None:
    """Hand out a pooled connection only if its socket is quiet: a poll, not a round trip.

    An idle connection in autocommit has nothing to read. One the server has closed (a restart, a
    failover, an idle timeout) has its last message or end-of-file waiting, and so has one holding
    anything unexpected. Such a connection is closed before the check fails, so the pool drops it
    and hands out another instead of failing the request.
    """
    if not conn.closed:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if not poller.poll(0):
            return
        conn.close()
    raise psycopg.OperationalError("the server closed this pooled connection; the pool replaces it")


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool
        if pool is not None:
            pool._check = check_pooled_connection  # psycopg_pool's checkout hook (BasePool._check)
        return pool
