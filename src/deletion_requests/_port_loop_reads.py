"""`LoopReads`: the reads an event loop awaits itself, for a store whose reads cross a network.

The core stays synchronous: its use cases split into pure steps around these reads (see
`Context.remember_app`, `seen_by`, `ClientRequests.listing`, `ClientRequests.prepare_new`),
and an asynchronous caller (the HTTP edge) awaits the reads between the steps.
"""

from __future__ import annotations

import abc

from ._access import App
from ._queries import TaskQuery
from ._summary import TaskSummary
from ._task import DeletionTask


class LoopReads(abc.ABC):
    """The reads of the client use cases, awaitable on one event loop: each answers what the
    store's synchronous method of the same name answers at that moment.

    Guarantees every implementation gives:

    - **The same answers.** `app_access`, `get`, `list_summaries` and `find_by_idempotency_key`
      equal the store's own (`deletion_requests.testing.LoopReadsContract` checks them).
    - **Bounded.** Every read ends within the store's documented bounds; a server that is
      down or does not answer is a `StoreError`, never a hang and never a driver error.
    - **No blocking.** A read never blocks the loop: it waits only by awaiting.
    - **One loop.** Opened on a running loop (the store's `loop_reads()`, entered there), the
      reads are awaited on that loop only, until the context exits.

    A store that offers them keeps its `access_version` without I/O (the PostgreSQL store
    keeps it from `NOTIFY`), so that a caller on the loop may read it directly.
    """

    @abc.abstractmethod
    async def app_access(self, app_id: str) -> tuple[App, frozenset[str]] | None:
        """The app and the accounts it may act for, as `AccessRecords.app_access`."""

    @abc.abstractmethod
    async def get(self, task_id: str) -> DeletionTask | None:
        """The task, as `TaskRecords.get`."""

    @abc.abstractmethod
    async def list_summaries(self, query: TaskQuery) -> list[TaskSummary]:
        """A page of task summaries, as `TaskRecords.list_summaries`."""

    @abc.abstractmethod
    async def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        """The task *key* is bound to in *scope*, as `TaskRecords.find_by_idempotency_key`."""
