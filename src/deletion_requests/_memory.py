from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence

import attrs

from ._access import Account, App
from ._callbacks import Callback
from ._errors import DuplicateTask, IdempotencyKeyConflict, StoreError
from ._memory_destinations import MemoryDestinations
from ._operator_accounts import Operator
from ._ports import (
    Awaiting,
    Backlog,
    DayCount,
    Store,
    TaskQuery,
    backlog_of,
    day_counts,
    replaces,
    status_counts,
)
from ._status import Status
from ._task import DeletionTask

_Key = tuple[dt.datetime, str]


class MemoryStore(Store, MemoryDestinations):
    """The reference store: everything in this process's memory, gone when it ends.

    Safe to share between threads: one lock serialises every operation, so each is atomic and
    isolated. Tasks are immutable values and are kept as given, never copied.
    """

    local_reads = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tasks: dict[str, DeletionTask] = {}
        self._by_account: dict[str, list[_Key]] = {}
        self._open: dict[Status, dict[str, None]] = {Status.PENDING: {}, Status.READY: {}}
        # Tasks some later step still has to touch (see `_settled`): what `awaiting` scans.
        self._unsettled: dict[str, None] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._accounts: dict[str, Account] = {}
        self._apps: dict[str, App] = {}
        self._settings: dict[str, str] = {}
        self._app_uses: dict[str, dt.datetime] = {}
        self._operators: dict[str, Operator] = {}
        self._leases: dict[tuple[str, str], tuple[str, dt.datetime]] = {}
        self._callbacks: dict[str, Callback] = {}
        self._access_version = 0
        self._init_destinations()

    def take_lease(self) -> bool:
        """The background lease: always this object's, as nothing outside this object can
        reach the store."""
        return True

    def release_lease(self) -> None:
        """Nothing to give up: see `take_lease`."""

    # -- tasks --------------------------------------------------------------------------------

    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        with self._lock:
            if task.task_id in self._tasks:
                raise DuplicateTask(f"task {task.task_id} already exists")
            if idempotency_key is not None:
                bound = self._idempotency.get(idempotency_key)
                if bound is not None:
                    raise IdempotencyKeyConflict(bound)
                self._idempotency[idempotency_key] = task.task_id
            self._tasks[task.task_id] = task
            keys = self._by_account.setdefault(task.account_id, [])
            bisect.insort(keys, (task.creation_time, task.task_id))
            self._index_status(None, task)

    def get(self, task_id: str) -> DeletionTask | None:
        with self._lock:
            return self._tasks.get(task_id)

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        with self._lock:
            task_id = self._idempotency.get((scope, key))
            return None if task_id is None else self._tasks[task_id]

    def find_by_identifier(self, identifier: str, limit: int) -> list[DeletionTask]:
        with self._lock:
            found = [task for task in self._tasks.values() if identifier in task.identifiers]
        found.sort(key=lambda task: (task.creation_time, task.task_id))
        return found[:limit]

    def list_tasks(self, query: TaskQuery) -> list[DeletionTask]:
        with self._lock:
            streams = [self._in_order(account, query) for account in query.accounts]
            merged = heapq.merge(
                *streams, key=lambda t: (t.creation_time, t.task_id), reverse=not query.oldest_first
            )
            return list(itertools.islice(merged, query.limit))

    def _in_order(self, account_id: str, query: TaskQuery) -> Iterator[DeletionTask]:
        keys = self._by_account.get(account_id, [])
        start, end = 0, len(keys)
        upper: _Key | None = query.before
        if query.created_at_or_before is not None:
            bound = (query.created_at_or_before, "\uffff")
            upper = bound if upper is None else min(upper, bound)
        if upper is not None:
            end = bisect.bisect_left(keys, upper)
        lower: _Key | None = query.after
        if query.created_after is not None:
            bound = (query.created_after, "\uffff")
            lower = bound if lower is None else max(lower, bound)
        if lower is not None:
            start = bisect.bisect_right(keys, lower)
        indexes = range(start, end) if query.oldest_first else range(end - 1, start - 1, -1)
        for index in indexes:
            task = self._tasks[keys[index][1]]
            if query.matches(task):
                yield task

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        rejected: set[str] = set()
        with self._lock:
            for task in tasks:
                stored = self._tasks.get(task.task_id)
                if stored is None or not replaces(stored, task):
                    rejected.add(task.task_id)
                    continue
                identifiers = frozenset() if task.purged_time else stored.identifiers
                if task.identifiers is not identifiers or task.created_by != stored.created_by:
                    # these never change once stored, but for a purge
                    task = attrs.evolve(task, identifiers=identifiers, created_by=stored.created_by)
                self._tasks[task.task_id] = task
                self._index_status(stored, task)
        return frozenset(rejected)

    def due(
        self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime, limit: int
    ) -> list[DeletionTask]:
        found: list[DeletionTask] = []
        with self._lock:
            for status, cutoff in ((Status.PENDING, pending_cutoff), (Status.READY, ready_cutoff)):
                for task_id in self._open[status]:
                    if len(found) >= limit:
                        return found
                    task = self._tasks[task_id]
                    held = status is Status.READY and task.held_time is not None
                    if task.creation_time <= cutoff and not held:
                        found.append(task)
        return found

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        with self._lock:
            tasks = (self._tasks[task_id] for task_id in self._unsettled)
            found = [task for task in tasks if what.matches(task, cutoff)]
        found.sort(key=lambda t: (t.creation_time, t.task_id))
        return found[:limit]

    def _index_status(self, old: DeletionTask | None, new: DeletionTask) -> None:
        if old is not None and old.status in self._open:
            del self._open[old.status][old.task_id]
        if new.status in self._open:
            self._open[new.status][new.task_id] = None
        if _settled(new):
            self._unsettled.pop(new.task_id, None)
        else:
            self._unsettled[new.task_id] = None

    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        with self._lock:
            return status_counts(self._tasks.values(), pending_cutoff, ready_cutoff)

    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        with self._lock:
            return day_counts(list(self._tasks.values()), since)

    def backlog(self, kind: str) -> Backlog:
        with self._lock:
            return backlog_of([self._tasks[i] for i in self._unsettled], kind)

    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        claimed = set()
        with self._lock:
            for task_id in task_ids:
                task = self._tasks.get(task_id)
                lease = self._leases.get((task_id, kind))
                if task is None or kind not in task.outbox:
                    continue
                if lease is not None and lease[1] > now:
                    continue
                self._leases[(task_id, kind)] = (holder, until)
                claimed.add(task_id)
        return frozenset(claimed)

    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        with self._lock:
            for task_id in task_ids:
                lease = self._leases.get((task_id, kind))
                if lease is not None and lease[0] == holder:
                    del self._leases[(task_id, kind)]

    # -- access -------------------------------------------------------------------------------

    def access_version(self) -> int:
        return self._access_version

    def allow_account(self, account: Account) -> Account:
        with self._lock:
            self._access_version += 1
            return self._accounts.setdefault(account.account_id, account)

    def revoke_account(self, account_id: str) -> bool:
        with self._lock:
            self._access_version += 1
            return self._accounts.pop(account_id, None) is not None

    def get_account(self, account_id: str) -> Account | None:
        with self._lock:
            return self._accounts.get(account_id)

    def list_accounts(self) -> list[Account]:
        with self._lock:
            return sorted(self._accounts.values(), key=lambda a: a.account_id)

    def add_app(self, app: App) -> None:
        with self._lock:
            if app.app_id in self._apps:
                raise StoreError(f"app {app.app_id} already exists")
            self._access_version += 1
            self._apps[app.app_id] = app

    def get_app(self, app_id: str) -> App | None:
        with self._lock:
            return self._apps.get(app_id)

    def list_apps(self) -> list[App]:
        with self._lock:
            return sorted(self._apps.values(), key=lambda a: a.app_id)

    def revoke_app(self, app_id: str) -> bool:
        with self._lock:
            app = self._apps.get(app_id)
            if app is None:
                return False
            self._access_version += 1
            self._apps[app_id] = attrs.evolve(app, revoked=True)
            return True

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        with self._lock:
            last = self._app_uses.get(app_id)
            if last is None or moment > last:
                self._app_uses[app_id] = moment

    def app_last_used(self) -> dict[str, dt.datetime]:
        with self._lock:
            return dict(self._app_uses)

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        with self._lock:
            if app_id not in self._apps:
                return False
            self._access_version += 1
            if callback is None:
                self._callbacks.pop(app_id, None)
            else:
                self._callbacks[app_id] = callback
            return True

    def callbacks(self) -> dict[str, Callback]:
        with self._lock:
            return dict(self._callbacks)

    def add_operator(self, operator: Operator) -> None:
        with self._lock:
            if operator.name in self._operators:
                raise StoreError(f"operator {operator.name} already exists")
            self._operators[operator.name] = operator

    def get_operator(self, name: str) -> Operator | None:
        with self._lock:
            return self._operators.get(name)

    def list_operators(self) -> list[Operator]:
        with self._lock:
            return sorted(self._operators.values(), key=lambda o: o.name)

    def remove_operator(self, name: str) -> bool:
        with self._lock:
            return self._operators.pop(name, None) is not None

    def setting(self, name: str, default: Callable[[], str]) -> str:
        with self._lock:
            if name not in self._settings:
                self._settings[name] = default()
            return self._settings[name]

    def put_setting(self, name: str, value: str) -> None:
        with self._lock:
            self._settings[name] = value


def _settled(task: DeletionTask) -> bool:
    """Nothing owed, and either purged or still pending or ready (whose next steps are
    transitions, found through `_open`)."""
    if task.outbox:
        return False
    return task.purged_time is not None or (
        task.actioned_time is None and task.cancelled_time is None
    )


def open_memory_store(url: str, create: bool = True) -> MemoryStore:
    """Entry point for `memory://`: a new, empty store. There is never an existing one to
    open (`create=False`): a memory store lives inside one process."""
    if not create:
        raise StoreError(
            "no store at memory://: a memory store lives inside the process that made it"
        )
    return MemoryStore()
