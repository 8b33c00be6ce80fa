"""The connection layer every part of the PostgreSQL store shares: the schema it opens (and
migrates), the pool, and the transaction each write runs in and the retry each read gets."""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg_pool import ConnectionPool, PoolTimeout

from deletion_requests import StoreError
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict, redacted_url

from ._reads import read_failure
from ._schema import migrate
from ._timeouts import Timeouts, Watchdog, bounded_conninfo

Conn = psycopg.Connection[tuple[Any, ...]]
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
FRESH = 1.0
"""Seconds after its return to the pool during which a connection is handed out again without
the pool's check: it answered then, and a busy server saves a round trip a checkout."""


class PostgresConnection:
    """One PostgreSQL schema: opening checks or makes the store in it and migrates it, then a
    pool of autocommit connections serves every read and write.

    - Every write is one transaction (`_write`); psycopg errors arrive as `StoreError`, a lost
      connection reported as a write that may or may not have committed.
    - Reads (`_read`) are retried once on a lost connection.
    - Every call is bounded by *timeouts* (see `_timeouts`): a server that is down or does not
      answer is a `StoreError` within seconds.
    """

    def __init__(
        self,
        conninfo: str,
        schema: str = "public",
        pool_size: int = 10,
        create: bool = True,
        timeouts: Timeouts | None = None,
    ) -> None:
        if not _SCHEMA.fullmatch(schema):
            raise StoreError(f"schema must be a lower-case SQL identifier, got {schema!r}")
        self.schema = schema
        self.timeouts = timeouts or Timeouts()
        self._where = redacted_url(conninfo)
        conninfo = bounded_conninfo(conninfo, self.timeouts)
        self._conninfo = conninfo
        self._watchdog = Watchdog()
        self._returned: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()
        try:
            self._open(pool_size, create)
        except BaseException:
            self._watchdog.close()
            raise

    def _open(self, pool_size: int, create: bool) -> None:
        """Check or make the store and migrate it, on a connection of its own; open the pool."""
        conninfo, schema = self._conninfo, self.schema
        try:
            with psycopg.connect(conninfo, autocommit=False) as conn:
                if not create and not _exists(conn, schema):
                    raise StoreError(f"no store at {self._where} (schema {schema})")
                migrate(conn, schema, self._where)
            self._pool = ConnectionPool(
                conninfo,
                min_size=1,
                max_size=pool_size,
                # Autocommit: a single-statement read is one round trip; everything that needs
                # a transaction opens one explicitly.
                kwargs={"autocommit": True},
                configure=self._configure,
                check=self._check_connection,
                reset=self._returned_now,
                open=True,
                timeout=self.timeouts.pool,
            )
        except psycopg.Error as exc:
            raise StoreError(f"postgres store {self._where}: cannot open: {exc}") from exc

    def _configure(self, conn: Conn) -> None:
        with self._watchdog.bound(conn, self.timeouts.call, self._where):
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            conn.execute("SET TIME ZONE 'UTC'")
            milliseconds = round(self.timeouts.statement * 1000)
            conn.execute(sql.SQL("SET statement_timeout = {}").format(milliseconds))

    def _returned_now(self, conn: Conn) -> None:
        self._returned[conn] = time.monotonic()

    def _check_connection(self, conn: Conn) -> None:
        """The pool's check of a connection it hands out (an empty query), bounded by the
        connect timeout: a round trip that takes longer than a whole handshake may is a dead
        connection, which the pool replaces. A connection returned less than `FRESH` seconds
        ago goes unchecked; one that died meanwhile fails as any lost connection does (a read
        is retried once, a write is a `StoreError`)."""
        returned = self._returned.get(conn)
        if returned is not None and time.monotonic() - returned < FRESH:
            return
        bound = min(self.timeouts.call, self.timeouts.connect)
        with self._watchdog.bound(conn, bound, self._where):
            ConnectionPool.check_connection(conn)

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        """A connection of the pool, its use bounded by the watchdog."""
        with (
            self._pool.connection() as conn,
            self._watchdog.bound(conn, self.timeouts.call, self._where),
        ):
            yield conn

    def check(self) -> None:
        """Raise `StoreError` unless the server answers and takes writes: a server in
        recovery (a standby) or with read-only transactions takes none."""
        row = self._read(
            "check",
            lambda conn: conn.execute("SELECT current_setting('transaction_read_only')").fetchone(),
            single=True,
        )
        if row is None or row[0] != "off":
            raise StoreError(
                f"postgres store {self._where}: the server takes no writes (read-only)"
            )

    def close(self) -> None:
        self._pool.close()
        self._watchdog.close()

    @contextmanager
    def _write(self, what: str) -> Iterator[Conn]:
        try:
            with self._connection() as conn, conn.transaction():
                yield conn
        except (DuplicateTask, IdempotencyKeyConflict):
            raise
        except PoolTimeout as exc:  # no connection: nothing was sent
            raise StoreError(f"postgres store {self._where}: {what} failed: {exc}") from exc
        except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
            raise StoreError(
                f"postgres store {self._where}: {what} was rolled back, nothing written; "
                f"try again ({exc})"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"postgres store {self._where}: {what}: the connection failed; the write may "
                f"or may not have committed ({exc})"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"postgres store {self._where}: {what} failed: {exc}") from exc

    def _read(self, what: str, work: Callable[[Conn], Any], single: bool = False) -> Any:
        """Run *work* (reads only), in one transaction unless it is a *single* statement;
        retried once on a lost connection."""
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    if single:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
            except psycopg.Error as exc:
                failure = read_failure(exc, what, self._where, last=attempt == 2)
                if failure is not None:
                    raise failure from exc
        raise AssertionError("unreachable")


def _exists(conn: Conn, schema: str) -> bool:
    """Whether *schema* holds a store (its `schema_version` table)."""
    row = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name = 'schema_version'",
        (schema,),
    ).fetchone()
    return row is not None
