"""The contract of `LoopReads`: each read, awaited on a loop, answers what the store's own
method of the same name answers.

Subclass `LoopReadsContract` as `Test...` and supply `create_store(directory)`, a store whose
`loop_reads()` offers them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from deletion_requests._access import Account, App
from deletion_requests._lifecycle import cancel
from deletion_requests._port_loop_reads import LoopReads
from deletion_requests._ports import Store, TaskQuery

from ._case import HOUR, POLICY, T0, PortContract, make_task

T = TypeVar("T")


def on_loop(store: Store, work: Callable[[LoopReads], Awaitable[T]]) -> T:
    """*work*'s answer, awaited on a new loop with the store's loop reads open on it."""
    opened = store.loop_reads()
    assert opened is not None, "the store offers no loop reads"

    async def main() -> T:
        async with opened as reads:
            return await work(reads)

    return asyncio.run(main())


class LoopReadsContract(PortContract[Store]):
    """Behaviour every `LoopReads` guarantees. Hook: `create_store(directory) -> Store`."""

    def test_app_access_is_the_stores(self, store: Store) -> None:
        store.allow_account(Account("acct-1", T0))
        store.add_app(App("app_1", "ab" * 32, frozenset({"acct-1", "acct-2"}), T0))
        store.add_app(App("app_2", "cd" * 32, frozenset(), T0))
        store.revoke_app("app_2")

        async def work(reads: LoopReads) -> list[object]:
            return [await reads.app_access(app) for app in ("app_1", "app_2", "app_none")]

        expected = [store.app_access(app) for app in ("app_1", "app_2", "app_none")]
        assert on_loop(store, work) == expected
        assert expected[0] is not None
        assert expected[0][1] == frozenset({"acct-1"})
        assert expected[2] is None

    def test_get_is_the_stores_whole_task(self, store: Store) -> None:
        many = frozenset(f"{i:043d}=" for i in range(50))
        task = cancel(make_task(identifiers=many), T0 + HOUR, POLICY, by="app_x")
        store.add(task)
        missing = str(uuid.uuid4())

        async def work(reads: LoopReads) -> list[object]:
            return [await reads.get(task.task_id), await reads.get(missing)]

        assert on_loop(store, work) == [task, None]

    def test_the_idempotency_keys_task_is_the_stores(self, store: Store) -> None:
        task = make_task()
        store.add(task, ("app_1", "key-1"))

        async def work(reads: LoopReads) -> list[object]:
            return [
                await reads.find_by_idempotency_key("app_1", "key-1"),
                await reads.find_by_idempotency_key("app_2", "key-1"),
                await reads.find_by_idempotency_key("app_1", "key-2"),
            ]

        assert on_loop(store, work) == [task, None, None]

    def test_list_summaries_are_the_stores(self, store: Store) -> None:
        tasks = [
            make_task(account_id=f"acct-{i % 3}", creation_time=T0 + i * HOUR) for i in range(12)
        ]
        for task in tasks:
            store.add(task)
        store.update([cancel(tasks[4], T0 + 5 * HOUR, POLICY, by="app_x")])
        middle = (tasks[6].creation_time, tasks[6].task_id)
        queries = [
            TaskQuery(accounts=frozenset({"acct-0", "acct-1", "acct-2"}), limit=5),
            TaskQuery(accounts=frozenset({"acct-1"}), limit=100),
            TaskQuery(accounts=frozenset({"acct-0", "acct-1"}), before=middle, limit=3),
            TaskQuery(accounts=frozenset({"acct-1"}), cancelled=True, limit=10),
            TaskQuery(accounts=frozenset({"acct-2"}), created_after=T0 + 3 * HOUR, limit=10),
            TaskQuery(accounts=frozenset(), limit=10),
        ]

        async def work(reads: LoopReads) -> list[object]:
            return [await reads.list_summaries(query) for query in queries]

        expected = [store.list_summaries(query) for query in queries]
        assert on_loop(store, work) == expected
        assert [len(found) for found in expected] == [5, 4, 3, 1, 3, 0]

    def test_reads_see_writes_made_while_they_are_open(self, store: Store) -> None:
        task = make_task()

        async def work(reads: LoopReads) -> list[object]:
            before = await reads.get(task.task_id)
            await asyncio.to_thread(store.add, task)
            return [before, await reads.get(task.task_id)]

        assert on_loop(store, work) == [None, task]

    def test_reads_run_side_by_side_on_one_loop(self, store: Store) -> None:
        tasks = [make_task() for _ in range(20)]
        for task in tasks:
            store.add(task)

        async def work(reads: LoopReads) -> list[object]:
            return list(await asyncio.gather(*(reads.get(task.task_id) for task in tasks)))

        assert on_loop(store, work) == tasks
