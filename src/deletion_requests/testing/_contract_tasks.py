"""The contract of `TaskRecords`: adds, reads, idempotency keys, compare-and-set and listings.

Subclass `TaskRecordsContract` as `Test...` and supply `create_store(directory)`.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid

import attrs
import pytest

from deletion_requests import _handoff as handoff
from deletion_requests._errors import DuplicateTask, IdempotencyKeyConflict
from deletion_requests._lifecycle import cancel
from deletion_requests._ports import TaskQuery, TaskRecords
from deletion_requests._task import DeletionTask

from ._case import HASH, HOUR, POLICY, T0, UTC, advanced, at_once, make_task
from ._contract_lifecycle import TaskLifecycleCases


class TaskRecordsContract(TaskLifecycleCases):
    """Behaviour every `TaskRecords` guarantees. Hook: `create_store(directory) -> TaskRecords`."""

    # -- add and get ------------------------------------------------------------------

    def test_added_task_reads_back_equal(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task)
        assert store.get(task.task_id) == task

    def test_missing_task_is_none(self, store: TaskRecords) -> None:
        assert store.get(str(uuid.uuid4())) is None

    def test_many_tasks_read_at_once_are_each_as_read_alone(self, store: TaskRecords) -> None:
        many = frozenset(f"{i:043d}=" for i in range(3))
        now = T0 + POLICY.cancel_period
        tasks = [
            make_task(identifiers=many),
            advanced(make_task(), now),
            cancel(make_task(), T0 + HOUR, POLICY, by="app_x"),
            *(make_task() for _ in range(600)),  # more than one statement's parameters
        ]
        for task in tasks:
            store.add(task)
        missing = str(uuid.uuid4())
        wanted = [task.task_id for task in tasks] + [missing]
        assert store.get_many(wanted) == {task.task_id: store.get(task.task_id) for task in tasks}
        assert store.get_many([missing]) == {}
        assert store.get_many([]) == {}

    def test_every_field_round_trips(self, store: TaskRecords) -> None:
        many = frozenset(f"{i:043d}=" for i in range(2000))
        task = cancel(make_task(identifiers=many), T0 + dt.timedelta(hours=1), POLICY, by="app_x")
        task = attrs.evolve(task, version=2)
        store.add(task)
        assert store.get(task.task_id) == task

    def test_a_batch_of_tasks_in_every_state_round_trips(self, store: TaskRecords) -> None:
        # Added at once from threads, as a server's concurrent creates arrive (a store may
        # write them in one transaction): tasks with no time but their creation, with some,
        # and with every one (an empty time must stay empty, a set one must keep its value,
        # whatever its neighbours in a batch hold; a time of zero microseconds is a value too).
        epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
        now = T0 + POLICY.cancel_period
        actioned = advanced(make_task(), now)
        done = handoff.complete(advanced(make_task(), now), now + HOUR, "deleter")
        purged = attrs.evolve(
            done, purged_time=now + 2 * HOUR, overdue_time=now + HOUR, identifiers=frozenset()
        )
        cancelled = cancel(make_task(), T0 + HOUR, POLICY, by="app_x")
        at_zero = cancel(make_task(creation_time=epoch), epoch, POLICY, by="app_x")
        tasks = [make_task(), actioned, purged, cancelled, at_zero]
        at_once([functools.partial(store.add, task) for task in tasks])
        assert [store.get(task.task_id) for task in tasks] == tasks

    def test_due_time_is_kept_as_added_and_as_extended(self, store: TaskRecords) -> None:
        """A due time other than the default's (a policy's own, an extension) is stored as it
        is, on add and on a compare-and-set, alone or in a batch of others."""
        own = attrs.evolve(make_task(), due_time=T0 + dt.timedelta(days=3, microseconds=7))
        default = make_task()
        at_once([functools.partial(store.add, task) for task in (own, default)])
        assert store.get(own.task_id) == own
        assert store.get(default.task_id) == default
        assert default.due_time == default.creation_time + POLICY.due_period
        extended = attrs.evolve(default, version=2, due_time=default.due_time + 9 * HOUR)
        assert store.update([extended]) == frozenset()
        assert store.get(default.task_id) == extended
        listed = store.list_tasks(TaskQuery(accounts=frozenset({own.account_id})))
        assert {t.task_id: t.due_time for t in listed} == {
            own.task_id: own.due_time,
            extended.task_id: extended.due_time,
        }

    def test_duplicate_id_is_refused_and_changes_nothing(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task)
        other = attrs.evolve(task, account_id="acct-2")
        with pytest.raises(DuplicateTask):
            store.add(other)
        assert store.get(task.task_id) == task

    def test_concurrent_adds_each_have_their_own_outcome(self, store: TaskRecords) -> None:
        """Adds made at once, some refused: each refusal is the refused add's own, and the
        others are stored (a store that commits concurrent adds together keeps them apart)."""
        existing, bound = make_task(), make_task()
        store.add(existing)
        store.add(bound, ("app_a", "key-1"))
        fresh = [make_task() for _ in range(3)]
        twice = make_task()
        same_id = attrs.evolve(make_task(), task_id=twice.task_id)
        same_key = [make_task(), make_task()]
        items = [
            (fresh[0], None),
            (existing, None),  # duplicate id
            (fresh[1], ("app_a", "key-1")),  # key bound to `bound`
            (fresh[2], ("app_a", "key-2")),
            (twice, ("app_a", "key-3")),
            (same_id, None),  # the id of `twice`, at the same moment
            (same_key[0], ("app_a", "key-4")),
            (same_key[1], ("app_a", "key-4")),  # the key of the one before, at once
        ]
        outcomes: dict[int, Exception | None] = {}

        def add(i: int) -> None:
            task, key = items[i]
            try:
                store.add(task, key)
            except (DuplicateTask, IdempotencyKeyConflict) as exc:
                outcomes[i] = exc
            else:
                outcomes[i] = None

        at_once([functools.partial(add, i) for i in range(len(items))])
        assert [outcomes[i] is None for i in (0, 3)] == [True, True]
        assert isinstance(outcomes[1], DuplicateTask)
        conflict = outcomes[2]
        assert isinstance(conflict, IdempotencyKeyConflict)
        assert conflict.task_id == bound.task_id
        assert store.get(fresh[0].task_id) == fresh[0]
        assert store.get(fresh[1].task_id) is None
        assert store.get(fresh[2].task_id) == fresh[2]
        assert store.get(existing.task_id) == existing
        assert store.find_by_idempotency_key("app_a", "key-2") == fresh[2]
        # One of two adds of one id wins, the other is refused as a duplicate.
        assert sorted(type(outcomes[i]).__name__ for i in (4, 5)) == ["DuplicateTask", "NoneType"]
        assert store.get(twice.task_id) == (twice if outcomes[4] is None else same_id)
        # One of two adds under one key wins; the other names the winner and adds nothing.
        winner, loser = (6, 7) if outcomes[6] is None else (7, 6)
        refusal = outcomes[loser]
        assert isinstance(refusal, IdempotencyKeyConflict)
        assert refusal.task_id == items[winner][0].task_id
        assert store.get(items[loser][0].task_id) is None
        assert store.find_by_idempotency_key("app_a", "key-4") == items[winner][0]

    def test_a_batch_has_one_outcome_per_item_in_order(self, store: TaskRecords) -> None:
        """`add_batch` refuses a taken id or key per item, and an item refused by an earlier
        one of the same batch, while storing every other item."""
        existing, bound = make_task(), make_task()
        store.add(existing)
        store.add(bound, ("app_a", "taken"))
        fresh, twin = make_task(), make_task()
        keyed, rekeyed = make_task(), make_task()
        outcomes = store.add_batch(
            [
                (fresh, None),
                (attrs.evolve(existing, account_id="acct-2"), None),
                (twin, ("app_a", "taken")),
                (keyed, ("app_b", "new")),
                (rekeyed, ("app_b", "new")),
                (attrs.evolve(fresh, account_id="acct-3"), None),
            ]
        )
        assert [type(outcome) for outcome in outcomes] == [
            type(None),
            DuplicateTask,
            IdempotencyKeyConflict,
            type(None),
            IdempotencyKeyConflict,
            DuplicateTask,
        ]
        conflict = outcomes[2]
        assert isinstance(conflict, IdempotencyKeyConflict)
        assert conflict.task_id == bound.task_id
        assert [store.get(task.task_id) for task in (fresh, existing, keyed)] == [
            fresh,
            existing,
            keyed,
        ]
        assert store.get(twin.task_id) is None
        assert store.get(rekeyed.task_id) is None
        assert store.find_by_idempotency_key("app_b", "new") == keyed
        assert store.add_batch([]) == []

    # -- idempotency keys -------------------------------------------------------------

    def test_idempotency_key_finds_its_task(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task, ("app_a", "key-1"))
        assert store.find_by_idempotency_key("app_a", "key-1") == task
        assert store.find_by_idempotency_key("app_b", "key-1") is None
        assert store.find_by_idempotency_key("app_a", "key-2") is None

    def test_reused_idempotency_key_names_the_bound_task_and_adds_nothing(
        self, store: TaskRecords
    ) -> None:
        first, second = make_task(), make_task()
        store.add(first, ("app_a", "key-1"))
        with pytest.raises(IdempotencyKeyConflict) as raised:
            store.add(second, ("app_a", "key-1"))
        assert raised.value.task_id == first.task_id
        assert store.get(second.task_id) is None

    # -- compare-and-set --------------------------------------------------------------

    def test_update_writes_the_next_version(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task)
        moved = advanced(task, T0 + POLICY.pending_period)
        assert store.update([moved]) == frozenset()
        assert store.get(task.task_id) == moved

    def test_update_from_a_stale_version_is_rejected(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task)
        first = advanced(task, T0 + POLICY.pending_period)
        second = attrs.evolve(
            cancel(task, T0 + dt.timedelta(days=1), POLICY, by="app_x"), version=2
        )
        assert store.update([first]) == frozenset()
        assert store.update([second]) == {task.task_id}
        assert store.get(task.task_id) == first

    def test_update_of_a_missing_task_is_rejected(self, store: TaskRecords) -> None:
        ghost = attrs.evolve(make_task(), version=2)
        assert store.update([ghost]) == {ghost.task_id}
        assert store.get(ghost.task_id) is None

    def test_update_outcomes_are_per_task(self, store: TaskRecords) -> None:
        tasks = [make_task() for _ in range(3)]
        for task in tasks:
            store.add(task)
        now = T0 + POLICY.pending_period
        good = [advanced(tasks[0], now), advanced(tasks[2], now)]
        stale = attrs.evolve(advanced(tasks[1], now), version=7)
        assert store.update([good[0], stale, good[1]]) == {tasks[1].task_id}
        assert [store.get(t.task_id) for t in tasks] == [good[0], tasks[1], good[1]]

    def test_racing_writers_from_one_read_have_one_winner(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task)
        now = T0 + dt.timedelta(days=1)
        contenders = [
            attrs.evolve(cancel(task, now, POLICY, by=f"app_{i}"), version=2) for i in range(8)
        ]
        wins: list[DeletionTask] = []

        def race(candidate: DeletionTask) -> None:
            if not store.update([candidate]):
                wins.append(candidate)

        at_once([functools.partial(race, c) for c in contenders])
        assert len(wins) == 1
        assert store.get(task.task_id) == wins[0]

    # -- listing and finding ----------------------------------------------------------

    def _fill(self, store: TaskRecords, count: int = 12) -> list[DeletionTask]:
        tasks = []
        for i in range(count):
            account = ("acct-1", "acct-2", "acct-3")[i % 3]
            # pairs share a creation time, so the task id must break the tie
            task = make_task(account, T0 + dt.timedelta(days=i // 2))
            if i % 4 == 3:
                task = attrs.evolve(
                    cancel(task, task.creation_time + dt.timedelta(hours=1), POLICY, by="app"),
                    version=2,
                )
            store.add(task)
            tasks.append(task)
        return tasks

    @staticmethod
    def _expected(tasks: list[DeletionTask], query: TaskQuery) -> list[DeletionTask]:
        found = [t for t in tasks if query.matches(t)]
        found.sort(key=lambda t: (t.creation_time, t.task_id), reverse=not query.oldest_first)
        return found[: query.limit]

    def test_list_is_newest_first_and_scoped_to_accounts(self, store: TaskRecords) -> None:
        tasks = self._fill(store)
        query = TaskQuery(accounts={"acct-1", "acct-3"}, limit=100)
        assert store.list_tasks(query) == self._expected(tasks, query)

    def test_list_of_no_account_is_empty(self, store: TaskRecords) -> None:
        self._fill(store)
        assert store.list_tasks(TaskQuery(accounts=frozenset())) == []

    def test_list_filters_cancelled_and_creation_bounds(self, store: TaskRecords) -> None:
        tasks = self._fill(store)
        everyone = {"acct-1", "acct-2", "acct-3"}
        queries = [
            TaskQuery(accounts=everyone, cancelled=True),
            TaskQuery(accounts=everyone, cancelled=False),
            TaskQuery(accounts=everyone, created_after=T0 + dt.timedelta(days=2)),
            TaskQuery(accounts=everyone, created_at_or_before=T0 + dt.timedelta(days=2)),
            TaskQuery(
                accounts=everyone,
                cancelled=False,
                created_after=T0 + dt.timedelta(days=1),
                created_at_or_before=T0 + dt.timedelta(days=4),
            ),
        ]
        for query in queries:
            assert store.list_tasks(query) == self._expected(tasks, query), query

    def test_keyset_pages_cover_every_task_once(self, store: TaskRecords) -> None:
        tasks = self._fill(store, 25)
        everyone = frozenset({"acct-1", "acct-2", "acct-3"})
        seen: list[DeletionTask] = []
        before = None
        while True:
            page = store.list_tasks(TaskQuery(accounts=everyone, before=before, limit=4))
            seen.extend(page)
            if len(page) < 4:
                break
            before = (page[-1].creation_time, page[-1].task_id)
        assert seen == self._expected(tasks, TaskQuery(accounts=everyone, limit=1000))

    def test_oldest_first_keyset_pages_cover_every_task_once(self, store: TaskRecords) -> None:
        tasks = self._fill(store, 25)
        everyone = frozenset({"acct-1", "acct-2", "acct-3"})
        for cancelled in (None, False):
            seen: list[DeletionTask] = []
            after = None
            query = TaskQuery(accounts=everyone, cancelled=cancelled, oldest_first=True, limit=4)
            while True:
                page = store.list_tasks(attrs.evolve(query, after=after))
                seen.extend(page)
                if len(page) < 4:
                    break
                after = (page[-1].creation_time, page[-1].task_id)
            expected = self._expected(tasks, attrs.evolve(query, limit=1000))
            assert seen == expected
            assert [t.creation_time for t in seen] == sorted(t.creation_time for t in seen)

    def test_list_filters_completed_in_either_order(self, store: TaskRecords) -> None:
        now = T0 + dt.timedelta(days=60)
        tasks = []
        for i in range(6):
            task = advanced(make_task(("acct-1", "acct-2")[i % 2], T0 + i * HOUR), now)
            if i % 3 != 1:
                task = attrs.evolve(task, completed_time=now - HOUR)
            store.add(task)
            tasks.append(task)
        everyone = frozenset({"acct-1", "acct-2"})
        for completed in (True, False):
            for oldest_first in (False, True):
                query = TaskQuery(everyone, completed=completed, oldest_first=oldest_first)
                found = store.list_tasks(query)
                assert found == self._expected(tasks, query)
                assert found
                assert all((t.completed_time is not None) == completed for t in found)

    def test_find_by_identifier_finds_the_tasks_holding_it_oldest_first(
        self, store: TaskRecords
    ) -> None:
        other = "b" * 43 + "="
        older = make_task(creation_time=T0, identifiers=frozenset({HASH, other}))
        newer = make_task(account_id="acct-2", creation_time=T0 + HOUR)
        unrelated = make_task(identifiers=frozenset({other}))
        for task in (newer, unrelated, older):
            store.add(task)
        assert store.find_by_identifier(HASH, 10) == [older, newer]
        assert store.find_by_identifier(HASH, 1) == [older]
        assert store.find_by_identifier("c" * 43 + "=", 10) == []
        now = T0 + POLICY.cancel_period
        done = attrs.evolve(handoff.complete(advanced(older, now), now, "deleter"), version=2)
        store.update([done])
        stored = store.get(older.task_id)
        assert stored is not None
        store.update([handoff.purge(stored, now + POLICY.retention, POLICY)])
        assert store.find_by_identifier(HASH, 10) == [newer]  # a purged task holds none
