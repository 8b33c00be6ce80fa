"""What the server's paths read and write in SQLite: a page's summaries (its tasks' own
fields) and a batch of adds in one transaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
from deletion_requests_sqlite import SqliteStore

from deletion_requests import (
    DuplicateTask,
    IdempotencyKeyConflict,
    Status,
    TaskQuery,
    Transition,
)
from deletion_requests.testing._contract import make_task

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ACCOUNTS = frozenset({"acct-1"})


def test_summaries_are_the_listed_tasks_without_identifiers_and_history(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        for n in range(5):
            task = make_task(creation_time=T0 + dt.timedelta(seconds=n))
            created = Transition(Status.PENDING, Status.PENDING, T0, "app", "created")
            store.add(attrs.evolve(task, history=(created,)))
        query = TaskQuery(accounts=ACCOUNTS, limit=3)
        whole = store.list_tasks(query)
        assert all(task.identifiers and task.history for task in whole)
        assert store.list_summaries(query) == [
            attrs.evolve(task, identifiers=frozenset(), history=()) for task in whole
        ]


def test_a_batch_is_added_in_one_transaction_with_each_refusal_its_own(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "b.db") as store:
        taken = make_task()
        store.add(taken, ("app", "key"))
        fresh = [make_task() for _ in range(3)]
        items = [(fresh[0], None), (taken, None), (fresh[1], ("app", "key")), (fresh[2], None)]
        outcomes = store.add_batch(items)
        assert outcomes[0] is None
        assert isinstance(outcomes[1], DuplicateTask)
        assert isinstance(outcomes[2], IdempotencyKeyConflict)
        assert outcomes[3] is None
        assert store.get(fresh[0].task_id) == fresh[0]
        assert store.get(fresh[1].task_id) is None
        assert store.get(fresh[2].task_id) == fresh[2]
        assert store.add_batch([]) == []
