"""What every contract case shares: the one factory hook, the store fixture, and sample tasks."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from deletion_requests._lifecycle import catch_up
from deletion_requests._policy import Policy
from deletion_requests._ports import Store
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
POLICY = Policy()
HOUR = dt.timedelta(hours=1)
HASH = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="

P = TypeVar("P")


def make_task(
    account_id: str = "acct-1",
    creation_time: dt.datetime = T0,
    identifiers: frozenset[str] = frozenset({HASH}),
) -> DeletionTask:
    """A new pending task with a fresh id, created by `app_contract`."""
    return DeletionTask(
        task_id=str(uuid.uuid4()),
        account_id=account_id,
        status=Status.PENDING,
        creation_time=creation_time,
        identifiers=identifiers,
        created_by="app_contract",
    )


def advanced(task: DeletionTask, now: dt.datetime) -> DeletionTask:
    """*task* caught up with *now* under the default policy."""
    return catch_up(task, now, POLICY)


def at_once(calls: list[Callable[[], None]]) -> None:
    """Run *calls* in threads of their own, released together, and wait for them all."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class PortContract(Generic[P]):
    """A contract case for one port. Hook: `create_store(directory) -> P`, a new, empty store
    whose files (if any) live under *directory*."""

    def create_store(self, directory: Path) -> P:
        raise NotImplementedError("a store's contract test supplies create_store")

    def close_store(self, store: P) -> None:
        """Release what `create_store` opened; this default closes a `Store`."""
        if isinstance(store, Store):
            store.close()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[P]:
        store = self.create_store(tmp_path)
        try:
            yield store
        finally:
            self.close_store(store)
