"""`SqliteStore`, every port over one SQLite file, and `open_sqlite_store` for its URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from deletion_requests import Store, StoreError
from deletion_requests.stores import FileLease

from ._access import SqliteAccess
from ._db import Synchronous
from ._operators import SqliteOperators
from ._outbox import SqliteOutbox
from ._reports import SqliteReports
from ._settings import SqliteSettings


class SqliteStore(
    SqliteOutbox, SqliteReports, SqliteAccess, SqliteOperators, SqliteSettings, Store
):
    """Tasks, accounts and apps in one SQLite file.

    - WAL journal, `busy_timeout`, and `BEGIN IMMEDIATE` for every write: safe for many threads
      (one connection per thread) and many processes on one file.
    - Durable by default: `synchronous=FULL` makes an acknowledged write survive power loss;
      `synchronous="NORMAL"` keeps it across a crash of the process but may lose the last
      transactions on power loss, for faster commits.
    - Reads of a task or a page run in one read transaction, so they see one snapshot.
    - `sqlite3` errors are raised as `StoreError`; rows that cannot be read (edited by hand)
      are a `StoreError` naming the table and key.
    - The background lease is an `flock` of `<database>-lease`, held by one store object at a
      time.
    """

    local_reads = True

    def __init__(
        self,
        path: str | Path,
        synchronous: Synchronous = "FULL",
        busy_timeout_ms: int = 30_000,
        cache_kib: int = 65_536,
        mmap_bytes: int = 1 << 30,
    ) -> None:
        super().__init__(path, synchronous, busy_timeout_ms, cache_kib, mmap_bytes)
        self._lease = FileLease(f"{self.path}-lease")

    def take_lease(self) -> bool:
        """Whether this store object holds the background lease (an flock of the file
        `<database>-lease`), taking it when no other holder has it."""
        return self._lease.take()

    def release_lease(self) -> None:
        self._lease.release()

    def close(self) -> None:
        self._lease.release()
        super().close()


def open_sqlite_store(url: str, create: bool = True) -> SqliteStore:
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (as SQLAlchemy), with
    optional `?synchronous=normal` and `?busy_timeout_ms=N`. With `create=False`, the file
    must exist."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        raise StoreError(
            f"not a sqlite URL: {url!r} (use sqlite:///relative.db or sqlite:////absolute.db)"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise StoreError(f"sqlite URL {url!r} names no file")
    if path == ":memory:":
        # Each connection (the store has one a thread) would get a database of its own.
        raise StoreError(
            f"sqlite URL {url!r} names no file: an in-memory SQLite database is private to one "
            "connection; use memory:// for a store in memory"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"synchronous", "busy_timeout_ms"}
    if unknown:
        raise StoreError(f"unknown sqlite URL option(s): {', '.join(sorted(unknown))}")
    synchronous = options.get("synchronous", "full").upper()
    if synchronous not in ("FULL", "NORMAL"):
        raise StoreError(f"synchronous must be full or normal, got {options['synchronous']!r}")
    try:
        timeout = int(options.get("busy_timeout_ms", "30000"))
    except ValueError:
        raise StoreError("busy_timeout_ms must be an integer") from None
    parent = Path(path).parent
    if not parent.is_dir():
        raise StoreError(f"sqlite store {path}: directory {parent} does not exist")
    if not create and not Path(path).is_file():
        raise StoreError(f"no store at {path} (no such SQLite file)")
    return SqliteStore(
        path, synchronous="FULL" if synchronous == "FULL" else "NORMAL", busy_timeout_ms=timeout
    )
