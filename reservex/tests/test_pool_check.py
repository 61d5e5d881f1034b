"""A pooled connection the server closed is replaced at checkout, without a round trip per request.

Each test builds its own one-connection psycopg pool on the test database, so the project's pool
is never touched. The control shows what the check prevents: without it, the request that gets the
dead connection fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg_pool import ConnectionPool

from reservex.postgresql.base import check_pooled_connection

pytestmark = pytest.mark.django_db


@contextmanager
def one_connection_pool(check: Callable[[psycopg.Connection[Any]], None] | None) -> Iterator[ConnectionPool]:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    pool = ConnectionPool(
        kwargs={**params, "autocommit": True}, min_size=1, max_size=1, check=check, open=True
    )
    try:
        yield pool
    finally:
        pool.close()


def backend_pid(pool: ConnectionPool) -> int:
    with pool.connection(timeout=5) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def terminate(pid: int) -> None:
    """End one backend from another session, as a restart or failover would, and wait until it is gone."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is None:
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} did not end")


def test_the_project_pool_checks_connections_with_the_socket_poll() -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "reservex.postgresql"
    assert not settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]  # no empty query per request
    assert connection.pool._check is check_pooled_connection


def test_a_healthy_connection_is_handed_out_again_without_a_new_one() -> None:
    with one_connection_pool(check_pooled_connection) as pool:
        assert backend_pid(pool) == backend_pid(pool) == backend_pid(pool)


def test_a_connection_the_server_closed_is_replaced_at_checkout() -> None:
    with one_connection_pool(check_pooled_connection) as pool:
        first = backend_pid(pool)
        terminate(first)
        second = backend_pid(pool)  # the dead one is dropped; the pool opens another
        assert second != first
        assert backend_pid(pool) == second


def test_control_without_the_check_the_next_request_gets_the_dead_connection() -> None:
    with one_connection_pool(None) as pool:
        terminate(backend_pid(pool))
        with pytest.raises(psycopg.OperationalError):
            backend_pid(pool)
