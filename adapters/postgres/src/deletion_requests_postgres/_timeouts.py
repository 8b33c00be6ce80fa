"""The bounds on every call the PostgreSQL store makes, so that a server that is down, slow or
behind a proxy that stopped forwarding becomes a `StoreError` within seconds, never a hang.

- `connect_timeout` (libpq's, seconds): opening a connection, handshake included.
- `statement_timeout` (seconds): the server cancels a statement that runs longer.
- `pool_timeout` (seconds): the wait for a connection of the pool (all busy, or none can be
  opened while the server is down).
- A watchdog on this side: a call whose answer has not come `statement_timeout` + `GRACE`
  seconds after it started has its socket shut down, so a peer that accepts bytes but never
  answers (a stalled proxy, a frozen server) ends the call with a lost connection. TCP
  keepalives and `tcp_user_timeout` cannot tell such a peer from a slow one: its kernel still
  acknowledges every packet.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deletion_requests import StoreError

GRACE = 2.0
"""Seconds the watchdog allows past `statement_timeout`, for the server's own cancel to
arrive first."""

_LIBPQ_DEFAULTS = {
    # A peer that stops acknowledging (its machine gone): the connection fails, not hangs.
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


@attrs.frozen
class Timeouts:
    """The store's bounds, in seconds (see the module)."""

    connect: float = 5.0
    statement: float = 5.0
    pool: float = 5.0

    def __attrs_post_init__(self) -> None:
        for name in ("connect", "statement", "pool"):
            value = getattr(self, name)
            if not value > 0:
                raise StoreError(f"{name}_timeout must be a positive number of seconds")

    @property
    def call(self) -> float:
        """How long one call may wait for its answer before the watchdog ends it."""
        return self.statement + GRACE


def timeouts_from(options: dict[str, str]) -> Timeouts:
    """The bounds a store URL's query parameters set, taking `statement_timeout` and
    `pool_timeout` out of *options* (`connect_timeout` stays: it is libpq's)."""
    values: dict[str, float] = {}
    for name, key in (("statement", "statement_timeout"), ("pool", "pool_timeout")):
        if key in options:
            values[name] = _seconds(key, options.pop(key))
    if "connect_timeout" in options:
        values["connect"] = _seconds("connect_timeout", options["connect_timeout"])
    return Timeouts(**values)


def _seconds(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StoreError(f"{key} must be a number of seconds, got {text!r}") from None
    if not 0 < value < 86_400:
        raise StoreError(f"{key} must be between 0 and 86400 seconds, got {text!r}")
    return value


def bounded_conninfo(conninfo: str, timeouts: Timeouts) -> str:
    """*conninfo* with the connect timeout (whole seconds, as libpq takes it) and the TCP
    defaults above, wherever it does not set them itself."""
    given = conninfo_to_dict(conninfo)
    extra = {key: value for key, value in _LIBPQ_DEFAULTS.items() if key not in given}
    if "connect_timeout" not in given:
        extra["connect_timeout"] = str(max(2, round(timeouts.connect)))
    return make_conninfo(conninfo, **extra)


class Watchdog:
    """Shuts down the socket of a connection whose call outlives its bound; one thread a
    store, waking twice a second while a call is armed, asleep while none is."""

    def __init__(self) -> None:
        self._armed: dict[int, tuple[float, psycopg.Connection[Any]]] = {}
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._idle = False  # waiting with nothing armed: an arm must wake it
        self._thread = threading.Thread(target=self._run, name="postgres-watchdog", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def bound(self, conn: psycopg.Connection[Any], seconds: float, where: str) -> Iterator[None]:
        """Run the block with *conn* ended (its socket shut down) if the block is still
        running *seconds* from now; the lost connection that ends the block then is a
        `StoreError` saying so (not to be retried: the server did not answer)."""
        key = next(self._ids)
        with self._lock:
            self._armed[key] = (time.monotonic() + seconds, conn)
            if self._idle:  # otherwise it wakes within half a second anyway
                self._wake.notify()
        try:
            yield
        except psycopg.OperationalError as exc:
            with self._lock:
                fired = key in self._fired
            if fired:
                raise StoreError(
                    f"{where}: no answer within {seconds:.0f} s, so the connection was ended "
                    "(a write may or may not have committed)"
                ) from exc
            raise
        finally:
            with self._lock:
                self._armed.pop(key, None)
                self._fired.discard(key)

    def _run(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._armed:
                    self._idle = True
                    self._wake.wait()
                    self._idle = False
                    continue
                self._wake.wait(0.5)
                now = time.monotonic()
                for key, (deadline, conn) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[key]
                        self._fired.add(key)
                        shut_down(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()  # idle or not, it stops at its next wake


def shut_down(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    """End *conn*'s socket both ways: the call waiting on it sees the connection lost."""
    with contextlib.suppress(OSError, psycopg.Error):
        fd = conn.pgconn.socket
        # A socket object over a duplicate of the descriptor: shutting it down ends the
        # connection, and closing it leaves libpq's own descriptor for libpq to close.
        with socket.socket(fileno=socket.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
