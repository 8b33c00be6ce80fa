"""The background lease: a session advisory lock, one per schema, on a connection of its own."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg

from deletion_requests import StoreError
from deletion_requests.stores import BackgroundLease

from ._connection import PostgresConnection
from ._timeouts import Timeouts, Watchdog

LEASE_KEY = 0x6C65_6173  # "leas": with the schema's hash, the background lease's advisory lock


class AdvisoryLease(PostgresConnection, BackgroundLease):
    """`BackgroundLease` over the connection layer: the lock is held on a connection outside
    the pool, and ends with `release_lease`, `close`, or that connection's session."""

    def __init__(
        self,
        conninfo: str,
        schema: str = "public",
        pool_size: int = 10,
        create: bool = True,
        timeouts: Timeouts | None = None,
    ) -> None:
        super().__init__(conninfo, schema, pool_size, create, timeouts)
        self._lease = _LeaseConnection(
            self._conninfo, schema, self._where, self.timeouts, self._watchdog
        )

    def take_lease(self) -> bool:
        """Whether this store object holds the background lease (a session advisory lock of
        its own connection, one per schema), taking it when no other holder has it; lost when
        that connection ends."""
        return self._lease.take()

    def release_lease(self) -> None:
        self._lease.release()

    def close(self) -> None:
        self._lease.release()
        super().close()


class _LeaseConnection:
    """The background lease: `pg_try_advisory_lock` on a connection kept for it. PostgreSQL
    ends the lock with the session: when the holder's process dies (its socket closes), or,
    with the keepalives set here, about 8 s after its machine stops answering."""

    def __init__(
        self, conninfo: str, schema: str, where: str, timeouts: Timeouts, watchdog: Watchdog
    ) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._where = where
        self._timeouts = timeouts
        self._watchdog = watchdog
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._held = False
                    self._conn = psycopg.connect(
                        self._conninfo,
                        autocommit=True,
                        keepalives=1,
                        keepalives_idle=5,
                        keepalives_interval=1,
                        keepalives_count=3,
                    )
                    with self._watchdog.bound(self._conn, self._timeouts.call, self._where):
                        for name, value in (("idle", 5), ("interval", 1), ("count", 3)):
                            self._conn.execute(f"SET tcp_keepalives_{name} = {value}")
                with self._watchdog.bound(self._conn, self._timeouts.call, self._where):
                    if self._held:
                        self._conn.execute("SELECT 1")
                        return True
                    row = self._conn.execute(
                        "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                        (LEASE_KEY, self._schema),
                    ).fetchone()
                self._held = bool(row and row[0])
                return self._held
            except StoreError:  # no answer in time: the connection was ended
                self._drop()
                raise
            except psycopg.Error as exc:
                self._drop()
                raise StoreError(f"postgres store {self._where}: the lease: {exc}") from exc

    def release(self) -> None:
        with self._lock:
            if self._held and self._conn is not None:
                # Unlocked here, not left to the end of the session, which PostgreSQL sees
                # a moment after the connection closes.
                with (
                    contextlib.suppress(psycopg.Error, StoreError),
                    self._watchdog.bound(self._conn, self._timeouts.call, self._where),
                ):
                    self._conn.execute(
                        "SELECT pg_advisory_unlock(%s, hashtext(%s))", (LEASE_KEY, self._schema)
                    )
            self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None
