"""The bounds a PostgreSQL store URL sets, and those it gets when it sets none."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from deletion_requests_postgres._loop_reads import bound
from deletion_requests_postgres._timeouts import Timeouts, Watchdog, bounded_conninfo, timeouts_from
from psycopg.conninfo import conninfo_to_dict

from deletion_requests import StoreError, open_store

from .conftest import SERVER


def test_a_url_without_bounds_gets_the_documented_defaults() -> None:
    assert timeouts_from({}) == Timeouts(connect=5, statement=5, pool=5)
    given = conninfo_to_dict(bounded_conninfo("postgresql://u@h/db", Timeouts()))
    assert given["connect_timeout"] == "5"
    assert given["tcp_user_timeout"] == "10000"
    assert given["keepalives"] == "1"


def test_a_url_sets_each_bound_and_libpq_keeps_its_own() -> None:
    options = {"statement_timeout": "1.5", "pool_timeout": "2", "connect_timeout": "3"}
    assert timeouts_from(options) == Timeouts(connect=3, statement=1.5, pool=2)
    assert options == {"connect_timeout": "3"}  # the store's own are taken out
    conninfo = "postgresql://u@h/db?connect_timeout=3&tcp_user_timeout=500"
    given = conninfo_to_dict(bounded_conninfo(conninfo, Timeouts(connect=3)))
    assert (given["connect_timeout"], given["tcp_user_timeout"]) == ("3", "500")


@pytest.mark.parametrize("value", ["soon", "0", "-1", "1e9"])
def test_a_bound_that_is_not_a_positive_number_of_seconds_is_refused(value: str) -> None:
    with pytest.raises(StoreError, match="statement_timeout"):
        open_store(f"postgresql://postgres@127.0.0.1:1/none?statement_timeout={value}")


def test_the_watchdog_ends_a_call_that_outlives_its_bound() -> None:
    watchdog = Watchdog()
    try:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            ended = pytest.raises(StoreError, match="no answer within 1 s")
            with ended, watchdog.bound(conn, 1, "here"):
                conn.execute("SELECT pg_sleep(30)")
            assert conn.broken
        with psycopg.connect(SERVER, autocommit=True) as conn, watchdog.bound(conn, 5, "here"):
            assert conn.execute("SELECT 1").fetchone() == (1,)  # an answer in time: untouched
    finally:
        watchdog.close()


def test_the_loops_bound_ends_a_call_that_outlives_it() -> None:
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(SERVER, autocommit=True) as conn:
            ended = pytest.raises(StoreError, match="no answer within 1 s")
            with ended, bound(conn, 1, "here"):
                await conn.execute("SELECT pg_sleep(30)")
            assert conn.broken
        async with await psycopg.AsyncConnection.connect(SERVER, autocommit=True) as conn:
            with bound(conn, 5, "here"):  # an answer in time: untouched
                assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
            await asyncio.sleep(0)
            assert not conn.broken

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 10
