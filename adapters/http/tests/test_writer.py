"""`TaskWriter`: creates' tasks stored a batch at a time by one thread, each add answered only
after the write that holds it, refusals and store failures to the adds they concern."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from deletion_requests_http._writer import TaskWriter
from deletion_requests_sqlite import SqliteStore

from deletion_requests import DeletionTask, MemoryStore, Status, StoreError
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def task(n: int) -> DeletionTask:
    return DeletionTask(f"00000000-0000-4000-8000-{n:012d}", "acct-1", Status.PENDING, T0, {"h"})


class Batches(MemoryStore):
    """A memory store that adds in batches, records each batch, and holds the first until
    `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.fail: Exception | None = None

    def add_batch(
        self, items: Sequence[tuple[DeletionTask, tuple[str, str] | None]]
    ) -> list[DuplicateTask | IdempotencyKeyConflict | None]:
        self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        self.batches.append([t.task_id for t, _ in items])
        outcomes: list[DuplicateTask | IdempotencyKeyConflict | None] = []
        for t, key in items:
            try:
                self.add(t, key)
            except (DuplicateTask, IdempotencyKeyConflict) as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes


def test_adds_queued_during_a_write_share_the_next_one_and_wait_for_it() -> None:
    store = Batches()
    writer = TaskWriter(store)

    async def run() -> list[object]:
        first = asyncio.ensure_future(writer.add(task(0), None))
        await asyncio.sleep(0)  # queued; the writer's thread takes it and holds in its write
        while writer._queue:
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(writer.add(task(n), None)) for n in range(1, 10)]
        await asyncio.sleep(0.01)
        assert not any(f.done() for f in [first, *rest])  # nothing answered before its write
        store.release.set()
        return list(await asyncio.gather(first, *rest))

    assert asyncio.run(run()) == [None] * 10
    written = sorted(task_id for batch in store.batches for task_id in batch)
    assert written == [task(n).task_id for n in range(10)]
    assert len(store.batches) <= 2  # the nine queued behind the first write went together


def test_a_refusal_goes_to_its_own_add_and_the_others_are_stored() -> None:
    store = Batches()
    store.release.set()
    store.add(task(1), ("app", "key"))
    writer = TaskWriter(store)

    async def run() -> list[object]:
        adds = [
            writer.add(task(1), None),
            writer.add(task(2), ("app", "key")),
            writer.add(task(3), ("app", "other")),
        ]
        return list(await asyncio.gather(*adds))

    duplicate, conflict, added = asyncio.run(run())
    assert isinstance(duplicate, DuplicateTask)
    assert isinstance(conflict, IdempotencyKeyConflict)
    assert conflict.task_id == task(1).task_id
    assert added is None
    assert store.get(task(3).task_id) == task(3)


def test_a_store_failure_is_raised_in_every_add_of_the_batch() -> None:
    store = Batches()
    store.fail = StoreError("disk full")
    store.release.set()
    writer = TaskWriter(store)

    async def run() -> list[object]:
        adds = [writer.add(task(n), None) for n in range(3)]
        return list(await asyncio.gather(*adds, return_exceptions=True))

    assert all(isinstance(outcome, StoreError) for outcome in asyncio.run(run()))


def test_a_store_with_the_ports_batch_adds_one_task_after_another() -> None:
    store = MemoryStore()
    writer = TaskWriter(store)

    async def run() -> list[object]:
        return list(await asyncio.gather(*(writer.add(task(n), None) for n in range(5))))

    assert asyncio.run(run()) == [None] * 5
    assert all(store.get(task(n).task_id) == task(n) for n in range(5))


@pytest.mark.parametrize("count", [1, 40])
def test_sqlite_stores_a_batch_in_one_transaction(tmp_path: Path, count: int) -> None:
    with SqliteStore(tmp_path / "w.db") as store:
        writer = TaskWriter(store)

        async def run() -> list[object]:
            return list(await asyncio.gather(*(writer.add(task(n), None) for n in range(count))))

        assert asyncio.run(run()) == [None] * count
        assert all(store.get(task(n).task_id) == task(n) for n in range(count))
