"""`PostgresLoopReads`: the client reads on an asyncio event loop, over psycopg's
`AsyncConnectionPool`, with the bounds of the store's own pool (see `_timeouts`).

- The pool's connections are configured as the store's (schema, UTC, `statement_timeout`),
  autocommit, and each one taken is checked with an empty query bounded by the connect
  timeout; waiting for one is bounded by `pool_timeout`.
- A call whose answer has not come `statement_timeout` + `GRACE` seconds after it started has
  its socket shut down (a timer on the loop, as the store's watchdog does on its thread), so a
  peer that accepts bytes but never answers ends the call; the read is a `StoreError`.
- A lost connection is retried once; psycopg errors arrive as `StoreError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from deletion_requests import DeletionTask, StoreError, TaskSummary
from deletion_requests.stores import App, LoopReads, TaskQuery

from ._reads import (
    APP_ACCESS,
    HISTORY_OF,
    IDENTIFIERS_OF,
    TASK_BY_ID,
    TASK_BY_KEY,
    access_from,
    list_statement,
    read_failure,
    summaries_from,
    tasks_from,
)
from ._rows import SUMMARY_COLUMNS
from ._timeouts import Timeouts, shut_down

AConn = psycopg.AsyncConnection[tuple[Any, ...]]
T = TypeVar("T")


class PostgresLoopReads(LoopReads):
    """`LoopReads` over one schema, on the loop that opened them (`open_loop_reads`)."""

    def __init__(self, pool: AsyncConnectionPool[AConn], timeouts: Timeouts, where: str) -> None:
        self._pool = pool
        self._timeouts = timeouts
        self._where = where

    async def app_access(self, app_id: str) -> tuple[App, frozenset[str]] | None:
        async def work(conn: AConn) -> tuple[App, frozenset[str]] | None:
            return access_from(await (await conn.execute(APP_ACCESS, (app_id,))).fetchall())

        return await self._read("app_access", work)

    async def get(self, task_id: str) -> DeletionTask | None:
        found = await self._read("get", lambda conn: self._tasks(conn, TASK_BY_ID, (task_id,)))
        return found[0] if found else None

    async def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        found = await self._read(
            "find_by_idempotency_key", lambda conn: self._tasks(conn, TASK_BY_KEY, (scope, key))
        )
        return found[0] if found else None

    async def list_summaries(self, query: TaskQuery) -> list[TaskSummary]:
        if not query.accounts:
            return []
        statement, args = list_statement(query, SUMMARY_COLUMNS)

        async def work(conn: AConn) -> list[TaskSummary]:
            rows = await (await conn.execute(statement, args)).fetchall()
            return summaries_from(rows, self._where)

        return await self._read("list", work)

    async def _tasks(
        self, conn: AConn, statement: str, args: tuple[str, ...]
    ) -> list[DeletionTask]:
        """The whole tasks of *statement*'s rows, read in one transaction."""
        async with conn.transaction():
            rows = await (await conn.execute(statement, args)).fetchall()
            if not rows:
                return []
            ids = ([row[0] for row in rows],)
            identifiers = await (await conn.execute(IDENTIFIERS_OF, ids)).fetchall()
            history = await (await conn.execute(HISTORY_OF, ids)).fetchall()
        return tasks_from(rows, identifiers, history, self._where)

    async def _read(self, what: str, work: Callable[[AConn], Awaitable[T]]) -> T:
        """*work* on a connection of the pool, bounded; retried once on a lost connection."""
        where = self._where
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    with bound(conn, self._timeouts.call, where):
                        return await work(conn)
            except psycopg.Error as exc:
                failure = read_failure(exc, what, where, last=attempt == 2)
                if failure is not None:
                    raise failure from exc
        raise AssertionError("unreachable")


@contextlib.contextmanager
def bound(conn: AConn, seconds: float, where: str) -> Iterator[None]:
    """Run the block with *conn*'s socket shut down if the block is still running *seconds*
    from now; the lost connection that ends the block then is a `StoreError` saying so (not
    to be retried: the server did not answer)."""
    fired: list[bool] = []

    def fire() -> None:
        fired.append(True)
        shut_down(conn)

    timer = asyncio.get_running_loop().call_later(seconds, fire)
    try:
        yield
    except psycopg.OperationalError as exc:
        if fired:
            raise StoreError(
                f"{where}: no answer within {seconds:.0f} s, so the connection was ended"
            ) from exc
        raise
    finally:
        timer.cancel()


@contextlib.asynccontextmanager
async def open_loop_reads(
    conninfo: str, schema: str, pool_size: int, timeouts: Timeouts, where: str
) -> AsyncIterator[PostgresLoopReads]:
    """`PostgresLoopReads` on the running loop, their pool (at most *pool_size* connections
    of *conninfo*, bounded already) open until the context exits. The pool connects in the
    background: a server that is down makes each read a `StoreError`, not the opening."""

    async def configure(conn: AConn) -> None:
        with bound(conn, timeouts.call, where):
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            await conn.execute("SET TIME ZONE 'UTC'")
            milliseconds = round(timeouts.statement * 1000)
            await conn.execute(sql.SQL("SET statement_timeout = {}").format(milliseconds))

    async def check(conn: AConn) -> None:
        # A round trip that takes longer than a whole handshake may is a dead connection.
        with bound(conn, min(timeouts.call, timeouts.connect), where):
            await AsyncConnectionPool.check_connection(conn)

    pool: AsyncConnectionPool[AConn] = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=pool_size,
        kwargs={"autocommit": True},
        configure=configure,
        check=check,
        open=False,
        timeout=timeouts.pool,
    )
    await pool.open()
    try:
        yield PostgresLoopReads(pool, timeouts, where)
    finally:
        await pool.close()
