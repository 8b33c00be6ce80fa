"""The ports: what the core needs from storage, and what every store guarantees.

A store is correct when it passes `deletion_requests.testing.StoreContract` and the stateful
comparison with `MemoryStore`. Stores hold values only: they never run the lifecycle, never read a
clock and never decide a status.
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Self

import attrs

from ._access import Account, App
from ._callbacks import Callback
from ._errors import DuplicateTask, IdempotencyKeyConflict
from ._operator_accounts import Operator
from ._policy import due_status
from ._status import Status
from ._task import DeletionTask, frozen_strings

Cursor = tuple[dt.datetime, str]
"""A keyset position: (creation_time, task_id) of the last task of the previous page."""


@attrs.frozen
class TaskQuery:
    """Which tasks to list, newest first by (creation_time, task_id), or oldest first when
    `oldest_first` is set.

    `cancelled`: True for cancelled tasks only, False for tasks never cancelled, None for both;
    `held` likewise for tasks on hold, and `completed` for completed ones. `created_after` is
    exclusive and `created_at_or_before` inclusive. `before` keeps the tasks strictly before the
    given keyset position, `after` those strictly after it: a newest-first listing continues
    with `before` its last task, an oldest-first one with `after` it.
    """

    accounts: frozenset[str] = attrs.field(converter=frozen_strings)
    cancelled: bool | None = None
    created_after: dt.datetime | None = None
    created_at_or_before: dt.datetime | None = None
    before: Cursor | None = None
    limit: int = 100
    held: bool | None = None
    completed: bool | None = None
    oldest_first: bool = False
    after: Cursor | None = None

    def matches(self, task: DeletionTask) -> bool:
        """The reference semantics of the query for one task (ordering and limit aside)."""
        if task.account_id not in self.accounts:
            return False
        if self.cancelled is not None and (task.cancelled_time is not None) != self.cancelled:
            return False
        if self.held is not None and (task.held_time is not None) != self.held:
            return False
        if self.completed is not None and (task.completed_time is not None) != self.completed:
            return False
        if self.created_after is not None and task.creation_time <= self.created_after:
            return False
        if self.created_at_or_before is not None and task.creation_time > self.created_at_or_before:
            return False
        if self.after is not None and (task.creation_time, task.task_id) <= self.after:
            return False
        return self.before is None or (task.creation_time, task.task_id) < self.before


class Awaiting(enum.Enum):
    """What `TaskStore.awaiting` looks for: the stored tasks some later step still has to touch."""

    HANDOFF = "handoff"
    """`handoff` is in the outbox (cutoff ignored)."""
    REVIEW = "review"
    """`review` is in the outbox (cutoff ignored)."""
    CALLBACK = "callback"
    """A status callback (`callback.<event>`) is in the outbox (cutoff ignored)."""
    OVERDUE = "overdue"
    """Actioned, not completed, not yet marked overdue, actioned_time <= cutoff."""
    INCOMPLETE = "incomplete"
    """Actioned, not completed, actioned_time <= cutoff (overdue ones, for operators)."""
    PURGE = "purge"
    """Completed, not purged, completed_time <= cutoff."""
    PURGE_CANCELLED = "purge-cancelled"
    """Cancelled, not purged, cancelled_time <= cutoff."""
    PURGE_DELIVERED = "purge-delivered"
    """Actioned, its hand-off delivered (not in the outbox) but not completed, not purged,
    actioned_time <= cutoff. Candidates only: the hand-off was delivered after it was
    actioned, and `purge` decides by the delivery's time in the history."""

    def matches(self, task: DeletionTask, cutoff: dt.datetime) -> bool:
        """The reference semantics of the query for one task."""
        if self is Awaiting.HANDOFF or self is Awaiting.REVIEW:
            return self.value in task.outbox
        if self is Awaiting.CALLBACK:
            return any(kind.startswith("callback.") for kind in task.outbox)
        if self is Awaiting.PURGE_CANCELLED:
            return (
                task.purged_time is None
                and task.cancelled_time is not None
                and task.cancelled_time <= cutoff
            )
        if self is Awaiting.PURGE_DELIVERED:
            return (
                task.purged_time is None
                and task.status == "actioned"
                and task.completed_time is None
                and "handoff" not in task.outbox
                and task.actioned_time is not None
                and task.actioned_time <= cutoff
            )
        if self is Awaiting.PURGE:
            return (
                task.purged_time is None
                and task.completed_time is not None
                and task.completed_time <= cutoff
            )
        return (
            task.status == "actioned"
            and task.completed_time is None
            and (self is Awaiting.INCOMPLETE or task.overdue_time is None)
            and task.actioned_time is not None
            and task.actioned_time <= cutoff
        )


def counted_status(
    task: DeletionTask, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime
) -> str:
    """The reference semantics of `TaskStore.count_tasks` for one task: its stored status,
    moved on as `due` would move it (the status `due_status` gives it at the cutoffs, never
    behind the stored one)."""
    if task.status in ("pending", "ready"):
        held = task.held_time is not None
        due = due_status(task.creation_time, pending_cutoff, ready_cutoff, held)
        return task.status if due is Status.PENDING else due.value
    return task.status


def status_counts(
    tasks: Iterable[DeletionTask], pending_cutoff: dt.datetime, ready_cutoff: dt.datetime
) -> dict[str, int]:
    """The reference semantics of `TaskStore.count_tasks`, by scanning *tasks*."""
    counts = dict.fromkeys([*(s.value for s in Status), "held", "purged", "completed"], 0)
    for task in tasks:
        counts[counted_status(task, pending_cutoff, ready_cutoff)] += 1
        counts["held"] += task.held_time is not None
        counts["purged"] += task.purged_time is not None
        counts["completed"] += task.completed_time is not None
    return counts


@attrs.frozen
class DayCount:
    """What happened on one UTC day: tasks created, cancelled, actioned, completed, and
    marked overdue."""

    day: dt.date
    created: int = 0
    cancelled: int = 0
    actioned: int = 0
    completed: int = 0
    overdue: int = 0


def day_counts(tasks: Iterable[DeletionTask], since: dt.datetime) -> list[DayCount]:
    """The reference semantics of `TaskStore.daily_counts`, by scanning *tasks*."""
    days: dict[dt.date, list[int]] = {}
    for task in tasks:
        moments = (
            task.creation_time,
            task.cancelled_time,
            task.actioned_time,
            task.completed_time,
            task.overdue_time,
        )
        for i, moment in enumerate(moments):
            if moment is not None and moment >= since:
                days.setdefault(moment.date(), [0] * len(moments))[i] += 1
    return [DayCount(day, *counts) for day, counts in sorted(days.items())]


@attrs.frozen
class Backlog:
    """The messages of one kind still owed: how many, and since when the oldest is owed (its
    task's `ready_time` for a review alert, `actioned_time` for a hand-off)."""

    count: int = 0
    oldest: dt.datetime | None = None


def owed_since(task: DeletionTask, kind: str) -> dt.datetime | None:
    """When *task* began to owe *kind*: the reference semantics of `Backlog.oldest`."""
    return task.ready_time if kind == "review" else task.actioned_time


def backlog_of(tasks: Iterable[DeletionTask], kind: str) -> Backlog:
    """The reference semantics of `TaskStore.backlog`, by scanning *tasks*."""
    owed = [task for task in tasks if kind in task.outbox]
    moments = [m for m in (owed_since(task, kind) for task in owed) if m is not None]
    return Backlog(len(owed), min(moments, default=None))


def replaces(stored: DeletionTask | None, task: DeletionTask) -> bool:
    """The compare-and-set rule of `TaskStore.update`: *task* may overwrite *stored*."""
    return (
        stored is not None
        and stored.version == task.version - 1
        and stored.account_id == task.account_id
        and stored.creation_time == task.creation_time
    )


class TaskStore(abc.ABC):
    """Where tasks live.

    Guarantees every implementation gives:

    - **Atomic writes.** `add` and each task of `update` are all-or-nothing; a reader never sees a
      half-written task, also after a crash of the writer.
    - **Durable acknowledgement.** Once `add` or `update` returns, the write survives a crash of
      the process (within the store's documented durability setting).
    - **Compare-and-set.** `update` writes a task only when the stored version is exactly one less
      than the new one, so two writers racing from the same read cannot both win.
    - **Ordering.** `list` returns newest first by (creation_time, task_id), and a listing that
      continues from a cursor neither repeats nor skips a task that existed when it began.
    """

    @abc.abstractmethod
    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        """Store a new task; with `idempotency_key` (scope, key), bind the key to it atomically.

        Raises `DuplicateTask` when the id exists, and `IdempotencyKeyConflict` (carrying the
        bound task's id) when the key is already bound; in both cases nothing is written.
        """

    def add_many(
        self, items: Sequence[tuple[DeletionTask, tuple[str, str] | None]]
    ) -> list[DuplicateTask | IdempotencyKeyConflict | None]:
        """`add` each (task, idempotency key); per item, None when it was added, or the
        `DuplicateTask` / `IdempotencyKeyConflict` that `add` would raise for it (which wrote
        nothing of it). Any other failure raises `StoreError`, and the caller must then not
        take any of them as stored.

        This default adds one at a time. A store that can write them all in one durable
        transaction should: it is how a server commits many concurrent creates at once.
        """
        outcomes: list[DuplicateTask | IdempotencyKeyConflict | None] = []
        for task, key in items:
            try:
                self.add(task, key)
            except (DuplicateTask, IdempotencyKeyConflict) as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    @abc.abstractmethod
    def get(self, task_id: str) -> DeletionTask | None:
        """The stored task, or None."""

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

    @abc.abstractmethod
    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        """Compare-and-set each task on its version; returns the ids that were *not* written.

        A task is written when the stored version equals `task.version - 1`; otherwise (or when it
        does not exist, or its account or creation time differ from the stored ones) it is
        skipped and its id returned. Status, times, version, history and outbox are written;
        `created_by` never changes, and the identifiers only ever change by a purge (a task with
        `purged_time` set has no identifiers left). The writes of one call may share one
        transaction, but each task's outcome is independent of the others'.
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

    @abc.abstractmethod
    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        """Up to `limit` tasks matching `what` (see `Awaiting.matches`), oldest created first.

        Cost O(limit) plus the tasks awaiting it, never O(store): stores index these.
        """

    @abc.abstractmethod
    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        """How many tasks there are by status (see `counted_status`: the stored status, moved
        on as `due` would move it), purged ones included, how many are on hold (`held`), how
        many are purged (`purged`), and how many are completed (`completed`, among the
        actioned). Every status, `held`, `purged` and `completed` is a key, zero or not.
        Stores count in the database; they may scan the tasks once, and say so."""

    @abc.abstractmethod
    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        """Per UTC day, the tasks created, cancelled, actioned, completed and marked overdue
        at or after *since* (by their stored times), oldest day first; days with none are left
        out."""

    @abc.abstractmethod
    def backlog(self, kind: str) -> Backlog:
        """How many tasks owe *kind* (`"handoff"`, `"review"`), and since when the oldest owes
        it. Cost O(owed), from the index of tasks with something in their outbox."""

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


class AccessStore(abc.ABC):
    """Where allow-listed accounts, apps and server settings live. Every write is atomic."""

    @abc.abstractmethod
    def allow_account(self, account: Account) -> Account:
        """Allow-list an account; idempotent: an account already listed keeps its first record,
        which is returned."""

    @abc.abstractmethod
    def revoke_account(self, account_id: str) -> bool:
        """Remove an account from the allow-list; False when it was not listed."""

    @abc.abstractmethod
    def get_account(self, account_id: str) -> Account | None: ...

    @abc.abstractmethod
    def list_accounts(self) -> list[Account]:
        """Every allow-listed account, by id."""

    @abc.abstractmethod
    def add_app(self, app: App) -> None:
        """Store a new app; raises `StoreError` when the id exists."""

    @abc.abstractmethod
    def get_app(self, app_id: str) -> App | None: ...

    @abc.abstractmethod
    def list_apps(self) -> list[App]:
        """Every app, revoked ones included, by id."""

    @abc.abstractmethod
    def revoke_app(self, app_id: str) -> bool:
        """Mark an app revoked; False when there is no such app."""

    def app_access(self, app_id: str) -> tuple[App, frozenset[str]] | None:
        """The app and those of its granted accounts that are allow-listed now; None for no
        such app. Read on every authenticated request that the access cache cannot answer:
        a store over a network answers it in one round trip. This default reads the app,
        then each account."""
        app = self.get_app(app_id)
        if app is None:
            return None
        return app, frozenset(a for a in app.accounts if self.get_account(a) is not None)

    def access_version(self) -> int | None:
        """A number that changes whenever accounts or apps change (in any process), so that a
        caller may cache what it read from them; None (the default) means "do not cache".

        Stores that answer this must answer it cheaply: it is read on every authenticated
        request in place of the app and account reads it saves."""
        return None

    @abc.abstractmethod
    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        """Note that *app_id* was used at *moment*; the latest moment is kept (an earlier one
        changes nothing). Callers note uses sparingly: it is a write."""

    @abc.abstractmethod
    def app_last_used(self) -> dict[str, dt.datetime]:
        """When each app was last used, for the apps used at all."""

    @abc.abstractmethod
    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        """Register *app_id*'s status callback (None: remove it); False when there is no such
        app. Moves `access_version`, like every access write."""

    @abc.abstractmethod
    def callbacks(self) -> dict[str, Callback]:
        """Every app's callback, by app id (apps without one are absent)."""

    @abc.abstractmethod
    def add_operator(self, operator: Operator) -> None:
        """Store a new operator; raises `StoreError` when the name is taken."""

    @abc.abstractmethod
    def get_operator(self, name: str) -> Operator | None: ...

    @abc.abstractmethod
    def list_operators(self) -> list[Operator]:
        """Every operator, by name."""

    @abc.abstractmethod
    def remove_operator(self, name: str) -> bool:
        """Remove an operator; False when there was none of that name."""

    @abc.abstractmethod
    def setting(self, name: str, default: Callable[[], str]) -> str:
        """The value of a server setting, creating it from `default()` on first use.

        When several processes race to create it, all of them get the value that was stored first.
        """

    @abc.abstractmethod
    def put_setting(self, name: str, value: str) -> None:
        """Set a server setting to *value*, creating it or replacing what it held. Every
        process reading it afterwards (with `setting`) gets *value*."""


class Store(TaskStore, AccessStore):
    """A task store and an access store over one backend. Close it when done."""

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
