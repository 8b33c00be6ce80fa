"""The access version of one PostgreSQL store object, kept without a query a request.

Every access write (accounts, apps, grants, callbacks) sends a `NOTIFY` on the schema's channel
in its own transaction, so PostgreSQL tells every listening session once it commits. Each store
object listens on a connection of its own, in a thread, and counts what it hears; its own writes
count at once, after their commit. While that connection is down there is no version (None), so
the service reads access from the database on every request until it listens again, and counts
once more then (what was sent meanwhile went unheard).

A write made by another process is seen here when its notification arrives: PostgreSQL sends it
at commit, so on a local network within milliseconds of the writer's answer.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any

import psycopg
from psycopg import sql

from deletion_requests import StoreError

from ._timeouts import Timeouts, Watchdog

RETRY_SECONDS = 1.0
"""How long the listener waits before it connects again after its connection failed."""
POLL_SECONDS = 0.5
"""How often the listener looks up from its connection to see whether it should stop."""
FIRST_WAIT_SECONDS = 2.0
"""How long the first `version` waits for the listener to connect (later calls never wait)."""


def channel_for(schema: str) -> str:
    """The schema's notification channel: short enough for any schema name (PostgreSQL cuts
    identifiers at 63 bytes), and the same in every process."""
    return "deletion_requests_access_" + hashlib.sha256(schema.encode()).hexdigest()[:16]


class AccessNotices:
    """What `access_version` answers for one store object: a count that moves with every
    access write any process commits to the schema."""

    def __init__(self, conninfo: str, schema: str, watchdog: Watchdog, timeouts: Timeouts) -> None:
        self.channel = channel_for(schema)
        self._conninfo = conninfo
        self._watchdog = watchdog
        self._timeouts = timeouts
        self._lock = threading.Lock()
        self._count = 0
        self._listening = False
        self._stopped = threading.Event()
        self._tried = threading.Event()
        self._thread: threading.Thread | None = None
        # The payload of this object's notifications: its own writes count at their commit,
        # so the listener skips their echo.
        self._token = secrets.token_hex(8)

    def version(self) -> int | None:
        """The count while the listener hears every notification; None while its
        connection is down. The first call starts the listener and waits for its first
        connection, for at most `FIRST_WAIT_SECONDS`."""
        with self._lock:
            started = self._thread is None and not self._stopped.is_set()
            if started:
                self._thread = threading.Thread(
                    target=self._listen, name="postgres-access-notices", daemon=True
                )
                self._thread.start()
        if started:
            self._tried.wait(FIRST_WAIT_SECONDS)
        with self._lock:
            return self._count if self._listening else None

    def moved(self) -> None:
        """An access write of this store object committed."""
        with self._lock:
            self._count += 1

    def notify(self, conn: psycopg.Connection[Any]) -> None:
        """Send the notification inside *conn*'s transaction (PostgreSQL delivers it on
        commit, and never for a transaction that rolls back)."""
        conn.execute(
            sql.SQL("NOTIFY {}, {}").format(sql.Identifier(self.channel), sql.Literal(self._token))
        )

    def close(self) -> None:
        self._stopped.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=POLL_SECONDS * 4)

    def _heard(self, listening: bool) -> None:
        with self._lock:
            self._count += 1
            self._listening = listening

    def _listen(self) -> None:
        while not self._stopped.is_set():
            try:
                with psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=1,
                    keepalives_count=3,
                ) as conn:
                    listen = sql.SQL("LISTEN {}").format(sql.Identifier(self.channel))
                    with self._watchdog.bound(conn, self._timeouts.call, "access notices"):
                        conn.execute(listen)
                    # Anything committed before LISTEN took effect went unheard: count once.
                    self._heard(listening=True)
                    self._tried.set()
                    while not self._stopped.is_set():
                        for notice in conn.notifies(timeout=POLL_SECONDS):
                            if notice.payload != self._token:
                                self._heard(listening=True)
            except (psycopg.Error, StoreError):  # StoreError: LISTEN had no answer in time
                self._heard(listening=False)
                self._tried.set()
                self._stopped.wait(RETRY_SECONDS)
        self._heard(listening=False)
