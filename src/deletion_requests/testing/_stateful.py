"""A hypothesis state machine that runs random operations on a store and on `MemoryStore`.

Subclass `StoreComparison`, supply `create_store(directory)`, and expose
`TestX = MyComparison.TestCase` in a test module. Every answer of the store under test must equal
the reference's.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, RuleBasedStateMachine, multiple, rule

from deletion_requests._errors import DuplicateTask, IdempotencyKeyConflict
from deletion_requests._lifecycle import cancel, catch_up, hold, release
from deletion_requests._memory import MemoryStore
from deletion_requests._policy import Policy
from deletion_requests._ports import Awaiting, Store, TaskQuery
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask

from ._strategies import after_hand_off, aware_datetimes, tasks

POLICY = Policy()
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
WINDOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ACCOUNTS = ("acct-1", "acct-2", "acct-3")
times = aware_datetimes(START, WINDOW)


class StoreComparison(RuleBasedStateMachine):
    """Random adds, compare-and-set updates, reads, listings and due scans, on both stores."""

    def create_store(self, directory: Path) -> Store:
        raise NotImplementedError("a store's comparison supplies create_store")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="store-comparison-"))
        self.store = self.create_store(self.directory)
        self.reference = MemoryStore()

    task_ids = Bundle("task_ids")

    @rule(
        target=task_ids,
        task=tasks(accounts=st.sampled_from(ACCOUNTS), creation_times=times),
        key=st.none() | st.sampled_from(["k1", "k2", "k3"]),
    )
    def add(self, task: DeletionTask, key: str | None) -> MultipleResults[str]:
        bound = None if key is None else ("app_a", key)
        outcomes = []
        for store in (self.store, self.reference):
            try:
                store.add(task, bound)
                outcomes.append("added")
            except IdempotencyKeyConflict as conflict:
                outcomes.append(f"key bound to {conflict.task_id}")
            except DuplicateTask:
                outcomes.append("duplicate")
        assert outcomes[0] == outcomes[1]
        return multiple(task.task_id) if outcomes[0] == "added" else multiple()

    @rule(task_id=task_ids)
    def get(self, task_id: str) -> None:
        assert self.store.get(task_id) == self.reference.get(task_id)

    @rule(key=st.sampled_from(["k1", "k2", "k3"]))
    def find_by_key(self, key: str) -> None:
        found = self.store.find_by_idempotency_key("app_a", key)
        assert found == self.reference.find_by_idempotency_key("app_a", key)

    @rule(
        task_id=task_ids,
        now=times,
        action=st.sampled_from(["advance", "cancel", "hand-off", "hold", "release"]),
        skew=st.sampled_from([1, 1, 1, 0, 2]),
        data=st.data(),
    )
    def update(
        self, task_id: str, now: dt.datetime, action: str, skew: int, data: st.DataObject
    ) -> None:
        stored = self.reference.get(task_id)
        assert stored is not None
        moved = catch_up(stored, now, POLICY)
        if action == "cancel" and moved.status in (Status.PENDING, Status.READY):
            moved = cancel(moved, now, POLICY, by="app_a")
        if action == "hand-off":
            moved = data.draw(after_hand_off(moved, now, POLICY))
        holdable = moved.status in (Status.PENDING, Status.READY) and moved.held_time is None
        if action == "hold" and holdable:
            moved = hold(moved, now, POLICY, "operator:ana", "legal hold")
        if action == "release" and moved.held_time is not None:
            moved = release(moved, now, POLICY, "operator:ana", "cleared")
        new = attrs.evolve(moved, version=stored.version + skew)
        assert self.store.update([new]) == self.reference.update([new])

    @rule(
        accounts=st.frozensets(st.sampled_from(ACCOUNTS)),
        cancelled=st.none() | st.booleans(),
        held=st.none() | st.booleans(),
        after=st.none() | times,
        until=st.none() | times,
        limit=st.integers(1, 8),
        cursor_from=st.none() | st.integers(0, 20),
        completed=st.none() | st.booleans(),
        oldest_first=st.booleans(),
    )
    def list_tasks(
        self,
        accounts: frozenset[str],
        cancelled: bool | None,
        held: bool | None,
        after: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
        cursor_from: int | None,
        completed: bool | None,
        oldest_first: bool,
    ) -> None:
        before = None
        if cursor_from is not None:
            everything = self.reference.list_tasks(
                TaskQuery(accounts=frozenset(ACCOUNTS), limit=10_000)
            )
            if everything:
                last = everything[cursor_from % len(everything)]
                before = (last.creation_time, last.task_id)
        query = TaskQuery(accounts, cancelled, after, until, None, limit, held, completed)
        if oldest_first:
            query = attrs.evolve(query, oldest_first=True, after=before)
        else:
            query = attrs.evolve(query, before=before)
        assert self.store.list_tasks(query) == self.reference.list_tasks(query)

    @rule(now=times, limit=st.integers(1, 10_000))
    def due(self, now: dt.datetime, limit: int) -> None:
        args = (now - POLICY.pending_period, now - POLICY.cancel_period)
        expected = self.reference.due(*args, 10_000)
        found = self.store.due(*args, limit)
        assert len(found) == min(limit, len(expected))
        assert set(found) <= set(expected)

    @rule(
        what=st.sampled_from(list(Awaiting)),
        cutoff=aware_datetimes(START, WINDOW + dt.timedelta(days=400)),
        limit=st.integers(1, 20),
    )
    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> None:
        assert self.store.awaiting(what, cutoff, limit) == self.reference.awaiting(
            what, cutoff, limit
        )

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)
