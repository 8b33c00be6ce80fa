"""`PostgresStore`, every port over one PostgreSQL schema, and `open_postgres_store` for its
URLs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from deletion_requests import Store, StoreError
from deletion_requests.stores import LoopReads

from ._access import AccessTables
from ._destinations import PostgresDestinations
from ._lease import AdvisoryLease
from ._loop_reads import open_loop_reads
from ._operators import OperatorTables
from ._outbox import OutboxTables
from ._reports import ReportsTables
from ._settings import SettingsTable
from ._timeouts import timeouts_from


class PostgresStore(
    OutboxTables,
    ReportsTables,
    AccessTables,
    OperatorTables,
    SettingsTable,
    AdvisoryLease,
    PostgresDestinations,
    Store,
):
    """Tasks, accounts and apps in one PostgreSQL schema, shared by any number of servers.

    - Every write is one transaction (`synchronous_commit` decides durability: on by default).
    - `add_batch` writes many new tasks with one statement and one commit (the HTTP server's
      writer stores its creates' tasks so).
    - Compare-and-set on the task's version; `transition_due` claims due rows with
      `FOR UPDATE SKIP LOCKED`, so concurrent advancers (other servers, cron) take different
      tasks and no transition is applied twice.
    - Listing is a keyset scan per account (one `LATERAL` query), O(accounts x page).
    - psycopg errors arrive as `StoreError`. A lost connection is retried once for reads; for a
      write it is reported as a `StoreError` (the write may or may not have committed: retry
      with the same Idempotency-Key), never as a success.
    - `loop_reads` offers the client reads to an asyncio loop, over an `AsyncConnectionPool`
      of the same size and bounds as the store's own pool.
    """

    def loop_reads(self) -> contextlib.AbstractAsyncContextManager[LoopReads]:
        return self._loop_reads()

    @contextlib.asynccontextmanager
    async def _loop_reads(self) -> AsyncIterator[LoopReads]:
        # The access listener's first connection is awaited off the loop: later calls of
        # `access_version` never wait.
        await asyncio.to_thread(self.access_version)
        async with open_loop_reads(
            self._conninfo, self.schema, self._pool.max_size, self.timeouts, self._where
        ) as reads:
            yield reads


def open_postgres_store(url: str, create: bool = True) -> PostgresStore:
    """`postgresql://user[:password]@host[:port]/database[?schema=name&pool_size=N&...]`.

    `schema` (default `public`), `pool_size` (default 10), `statement_timeout` and
    `pool_timeout` (seconds, default 5 each) are this store's; other query parameters go to
    libpq (`sslmode`, `connect_timeout` (default 5), `tcp_user_timeout`, ...). With
    `create=False`, the schema must already hold a store.
    """
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    schema = options.pop("schema", "public")
    try:
        pool_size = int(options.pop("pool_size", "10"))
    except ValueError:
        raise StoreError("pool_size must be an integer") from None
    timeouts = timeouts_from(options)
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(options)))
    return PostgresStore(
        conninfo, schema=schema, pool_size=pool_size, create=create, timeouts=timeouts
    )
