"""The task ports: where tasks live (`TaskRecords`), the work they still owe (`Outbox`), and the
counts operators read (`Reports`).

`Outbox` and `Reports` extend `TaskRecords`: they answer from the same stored tasks, so a store
that offers either also stores the tasks they are about.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Collection, Sequence

from ._errors import DuplicateTask, IdempotencyKeyConflict
from ._queries import Awaiting, Backlog, DayCount, TaskQuery
from ._summary import TaskSummary
from ._task import DeletionTask


class TaskRecords(abc.ABC):
    """Where tasks live: added once, read by id, key, identifier or listing, and changed only by
    compare-and-set.

    Guarantees every implementation gives:

    - **Atomic writes.** `add` and each task of `update` are all-or-nothing; a reader never sees a
      half-written task, also after a crash of the writer.
    - **Durable acknowledgement.** Once `add` or `update` returns, the write survives a crash of
      the process (within the store's documented durability setting).
    - **Compare-and-set.** `update` writes a task only when the stored version is exactly one less
      than the new one, so two writers racing from the same read cannot both win.
    - **Ordering.** `list_tasks` returns newest first by (creation_time, task_id), and a listing
      that continues from a cursor neither repeats nor skips a task that existed when it began.
    - **Threads.** Every method may be called from many threads at once.
    """

    @abc.abstractmethod
    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        """Store a new task; with `idempotency_key` (scope, key), bind the key to it atomically.

        Raises `DuplicateTask` when the id exists, and `IdempotencyKeyConflict` (carrying the
        bound task's id) when the key is already bound; in both cases nothing is written.
        """

    def add_batch(
        self, items: Sequence[tuple[DeletionTask, tuple[str, str] | None]]
    ) -> list[DuplicateTask | IdempotencyKeyConflict | None]:
        """`add` each (task, idempotency key); per item, None when it was added, or the
        `DuplicateTask` or `IdempotencyKeyConflict` that refused it (and wrote nothing of it).

        Items are added in order, so a later item whose id or key an earlier one took is
        refused. This default adds one after another: any other failure stops it, and the items
        before it stay stored. Stores that write many rows in one transaction override it, and
        then any other failure leaves none of the batch stored (the SQLite and PostgreSQL stores
        say so)."""
        outcomes: list[DuplicateTask | IdempotencyKeyConflict | None] = []
        for task, key in items:
            try:
                self.add(task, key)
            except (DuplicateTask, IdempotencyKeyConflict) as refusal:
                outcomes.append(refusal)
            else:
                outcomes.append(None)
        return outcomes

    @abc.abstractmethod
    def get(self, task_id: str) -> DeletionTask | None:
        """The stored task, or None."""

    def get_many(self, task_ids: Collection[str]) -> dict[str, DeletionTask]:
        """The stored tasks among *task_ids*, by id; an id with no stored task is left out.
        This default reads them one after another; stores that read many in one query
        override it."""
        found = {}
        for task_id in task_ids:
            task = self.get(task_id)
            if task is not None:
                found[task_id] = task
        return found

    @abc.abstractmethod
    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        """The task bound to (scope, key) by `add`, or None."""

    @abc.abstractmethod
    def find_by_identifier(self, identifier: str, limit: int) -> list[DeletionTask]:
        """Up to `limit` tasks holding *identifier* (a base64 SHA-256 hash), oldest created
        first. A purged task holds none. Stores index identifiers for this (operators look a
        subject up), or say in their docs that they scan."""

    @abc.abstractmethod
    def list_tasks(self, query: TaskQuery) -> list[DeletionTask]:
        """Up to `query.limit` tasks matching `query`, newest first (oldest first with
        `query.oldest_first`); cost O(limit), not O(store)."""

    def list_summaries(self, query: TaskQuery) -> list[TaskSummary]:
        """The summaries of the tasks `list_tasks` answers, in its order: for a page that
        shows only the tasks' own fields. A store reads only the columns a summary holds
        (this default reads the whole tasks)."""
        return [TaskSummary.of(task) for task in self.list_tasks(query)]

    @abc.abstractmethod
    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        """Compare-and-set each task on its version; returns the ids that were *not* written.

        A task is written when the stored version equals `task.version - 1` (see `replaces`);
        otherwise (or when it does not exist, or its account or creation time differ from the
        stored ones) it is skipped and its id returned. Status, times, version, history and
        outbox are written; `created_by` never changes, and the identifiers only ever change by
        a purge (a task with `purged_time` set has no identifiers left). The writes of one call
        may share one transaction, but each task's outcome is independent of the others'.
        """

    @abc.abstractmethod
    def due(
        self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime, limit: int
    ) -> list[DeletionTask]:
        """Up to `limit` tasks due for a transition.

        Those whose stored status is `pending` and creation_time <= pending_cutoff, and those
        whose stored status is `ready`, not held, and creation_time <= ready_cutoff. Order is
        unspecified; a caller that moves the returned tasks and calls again makes progress.
        """

    def transition_due(
        self,
        pending_cutoff: dt.datetime,
        ready_cutoff: dt.datetime,
        limit: int,
        step: Callable[[DeletionTask], DeletionTask],
    ) -> list[tuple[DeletionTask, DeletionTask]]:
        """Claim up to `limit` due tasks (as `due` picks them), write `step(task)` for each by
        compare-and-set, and return the (before, after) pairs that were written.

        `step` returns a task's successor version (or the task itself when there is nothing to
        do). This default reads with `due` and writes with `update`: correct under concurrency,
        since a lost compare-and-set writes nothing. Stores that can lock rows override it so
        that concurrent callers take different tasks instead of racing for the same ones.
        """
        changes = [(task, step(task)) for task in self.due(pending_cutoff, ready_cutoff, limit)]
        changes = [(old, new) for old, new in changes if new is not old]
        rejected = self.update([new for _, new in changes])
        return [(old, new) for old, new in changes if new.task_id not in rejected]


class Outbox(TaskRecords):
    """The work the stored tasks still owe: the messages in their outboxes (found, leased to one
    deliverer at a time, counted), and the overdue marks and purges that time has made due.

    The outbox is a field of the task, written by the same compare-and-set as the transition
    that owes it; leases live beside the tasks and never change a task's version.
    """

    @abc.abstractmethod
    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        """Up to `limit` tasks matching `what` (see `Awaiting.matches`), oldest created first.

        Cost O(limit) plus the tasks awaiting it, never O(store): stores index these.
        """

    @abc.abstractmethod
    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        """Lease the delivery of *kind* for each of *task_ids* to *holder* until *until*, and
        return the ids leased. A task is leased when it still owes *kind* and nobody holds an
        unexpired lease on it (a lease ending at or before *now* is taken over); the claims of
        one call are atomic against other claims, so two holders never hold one (task, kind)
        at once. Leases are not part of the task: they never change its version."""

    @abc.abstractmethod
    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        """Drop *holder*'s leases on *kind* for *task_ids* (another holder's stay)."""

    @abc.abstractmethod
    def backlog(self, kind: str) -> Backlog:
        """How many tasks owe *kind* (`"handoff"`, `"review"`), and since when the oldest owes
        it (see `backlog_of`). Cost O(owed), from the index of tasks with something in their
        outbox."""


class Reports(TaskRecords):
    """Counts of the stored tasks, for operators' queue and trend views and for metrics."""

    @abc.abstractmethod
    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        """How many tasks there are by status (see `counted_status`: the stored status, moved
        on as `due` would move it), purged ones included, how many are on hold (`held`), how
        many are purged (`purged`), and how many are completed (`completed`, among the
        actioned). Every status, `held`, `purged` and `completed` is a key, zero or not (see
        `status_counts`). Stores count in the database; they may scan the tasks once,
        and say so."""

    @abc.abstractmethod
    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        """Per UTC day, the tasks created, cancelled, actioned, completed and marked overdue
        at or after *since* (by their stored times), oldest day first; days with none are
        left out (see `day_counts`)."""
