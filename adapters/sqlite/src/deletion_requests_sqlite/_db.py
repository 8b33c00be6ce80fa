"""The layer every part of the SQLite store shares: one connection a thread with the store's
pragmas, the write lock, and read and write transactions whose `sqlite3` errors are `StoreError`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from urllib.request import pathname2url

from deletion_requests import StoreError
from deletion_requests.stores import DiskProbe

from ._schema import migrate

Synchronous = Literal["FULL", "NORMAL"]
# Result codes after which a connection is reopened: READONLY, IOERR, CANTOPEN.
_REOPEN_ON = frozenset({8, 10, 14})


class SqliteDatabase:
    """An SQLite file opened for the store: created private when missing, migrated to the
    current schema, with the `-writer` file whose flock queues writers across processes."""

    def __init__(
        self,
        path: str | Path,
        synchronous: Synchronous = "FULL",
        busy_timeout_ms: int = 30_000,
        cache_kib: int = 65_536,
        mmap_bytes: int = 1 << 30,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.cache_kib = cache_kib
        self.mmap_bytes = mmap_bytes
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Writers queue on these locks rather than on SQLite's busy handler, which sleeps:
        # threads of this process on the lock, processes on an flock of a file beside the
        # database (see `_exclusive`).
        self._write_lock = threading.RLock()
        self._write_depth = 0
        self._closed = False
        if not os.path.exists(self.path):
            # Created private: the file holds the token signing key and secret digests, and
            # SQLite gives its -wal and -shm files the database file's mode. (Only a new file
            # is opened here: closing a descriptor of a file that SQLite has open in this
            # process would drop SQLite's locks on it.)
            with contextlib.suppress(FileExistsError):
                try:
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                except FileExistsError:
                    raise
                except OSError as exc:
                    raise StoreError(f"sqlite store {self.path}: cannot open: {exc}") from exc
        try:
            self._lock_fd = os.open(f"{self.path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"sqlite store {self.path}: cannot open: {exc}") from exc
        directory, name = os.path.split(os.path.abspath(self.path))
        self._probe = DiskProbe(directory, f".{name}-probe-")
        with self._translated("open"):
            migrate(self._connection(), self.path)

    # -- connections and transactions ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"store {self.path} is closed")
            # mode=rw: never create a file here (a database deleted under a running server is
            # an error, not a new empty store).
            uri = f"file:{pathname2url(os.path.abspath(self.path))}?mode=rw"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA cache_size = -{int(self.cache_kib)}")
            conn.execute(f"PRAGMA mmap_size = {int(self.mmap_bytes)}")
            # Deleted content is overwritten, so purged hashes do not linger in free pages.
            conn.execute("PRAGMA secure_delete = ON")
            # Statement journals and other temporary tables stay in memory: no copy of a page,
            # hashes included, goes to a temporary file.
            conn.execute("PRAGMA temp_store = MEMORY")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _forget_connection(self) -> None:
        """Close this thread's connection, so that the next call opens the file afresh: a
        connection that SQLite opened read-only (the file was not writable then) stays
        read-only for good, and one that lost its file cannot find it again."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _REOPEN_ON:
                self._forget_connection()
            raise StoreError(f"sqlite store {self.path}: {what} failed: {exc}") from exc

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This store's turn to write, among the threads of this process and the processes that
        use this store on the same file: both queue, and wake the moment the writer before
        them is done. (Writers that do not take it, such as the sqlite3 shell, still meet
        ours in SQLite's busy handler.)"""
        with self._write_lock:
            self._write_depth += 1
            try:
                if self._write_depth == 1:
                    try:
                        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                    except OSError as exc:
                        raise StoreError(f"sqlite store {self.path}: cannot lock: {exc}") from exc
                try:
                    yield
                finally:
                    if self._write_depth == 1:
                        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                self._write_depth -= 1

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._exclusive(), self._translated(what):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._translated(what):
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def check(self) -> None:
        """Take the write lock, make a change and roll it back, then write a probe file beside
        the database (`DiskProbe`): fails while the database cannot be written (locked, opened
        read-only, on a read-only mount) or the disk takes no new data (full). A connection
        that fails so is reopened at its next use, so the check passes again, without a
        restart, once the file can be written."""
        with self._exclusive(), self._translated("check"):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("UPDATE schema_version SET version = version")
            finally:
                conn.execute("ROLLBACK")
        try:
            self._probe.check()
        except StoreError as exc:
            raise StoreError(f"sqlite store {self.path}: check failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
