"""The ports: what the core needs from storage, one small port a capability, and `Store`, all of
them over one backend.

A store is correct when it passes the contract case of every port it declares
(`deletion_requests.testing`) and the stateful comparison with `MemoryStore`. Stores hold values
only: they never run the lifecycle, never read a clock and never decide a status.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import ClassVar, Self

from ._port_access import AccessRecords, BackgroundLease, OperatorRecords, ServerSettings
from ._port_loop_reads import LoopReads
from ._port_tasks import Outbox, Reports, TaskRecords
from ._queries import (
    Awaiting,
    Backlog,
    Cursor,
    DayCount,
    TaskQuery,
    backlog_of,
    counted_status,
    day_counts,
    owed_since,
    replaces,
    status_counts,
)

__all__ = [
    "AccessRecords",
    "Awaiting",
    "BackgroundLease",
    "Backlog",
    "Cursor",
    "DayCount",
    "LoopReads",
    "OperatorRecords",
    "Outbox",
    "Reports",
    "ServerSettings",
    "Store",
    "TaskQuery",
    "TaskRecords",
    "backlog_of",
    "counted_status",
    "day_counts",
    "owed_since",
    "replaces",
    "status_counts",
]


class Store(Outbox, Reports, AccessRecords, OperatorRecords, ServerSettings, BackgroundLease):
    """Every port over one backend: what `open_store` returns and the service runs on.

    Close it when done (or use it as a context manager); a closed store is unusable.
    """

    local_reads: ClassVar[bool] = False
    """True when reads are served from this machine (memory, a local file) in tens of
    microseconds, so that an event loop may make them itself rather than on a thread."""

    def loop_reads(self) -> AbstractAsyncContextManager[LoopReads] | None:
        """The client use cases' reads for the running event loop to await (`LoopReads`),
        open while the context is: entered and exited on that loop. None (this default)
        when the store offers none: its reads are local (`local_reads`), or it has no
        asynchronous driver. Each call opens new ones (a loop of their own)."""
        return None

    def check(self) -> None:
        """Raise `StoreError` unless the store can take a write now (for health checks).

        Writes nothing. This default reads; stores that can test for a write without
        making one (a write lock taken and released) do so."""
        self.get_account("health-check")

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
