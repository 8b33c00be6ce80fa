"""The contract every store must pass.

Subclass `StoreContract` in a test module, name the subclass `Test...`, and supply the one hook,
`create_store(directory)`. Stores that keep data across `close()` set `persistent = True`, and
the suite then checks that a reopened store sees what was written.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletion_requests import _handoff as handoff
from deletion_requests._access import Account, App, Caller
from deletion_requests._callbacks import Callback
from deletion_requests._clock import ManualClock
from deletion_requests._errors import (
    DeadlineExceeded,
    DuplicateTask,
    IdempotencyKeyConflict,
    StoreError,
)
from deletion_requests._lifecycle import cancel, catch_up, hold, release
from deletion_requests._operator_accounts import Operator
from deletion_requests._operators import Operators
from deletion_requests._policy import Policy
from deletion_requests._ports import (
    Awaiting,
    Backlog,
    Store,
    TaskQuery,
    backlog_of,
    day_counts,
    status_counts,
)
from deletion_requests._service import DeletionService
from deletion_requests._status import Status
from deletion_requests._task import HANDOFF, REVIEW, DeletionTask

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
POLICY = Policy()
HOUR = dt.timedelta(hours=1)
HASH = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="


def make_task(
    account_id: str = "acct-1",
    creation_time: dt.datetime = T0,
    identifiers: frozenset[str] = frozenset({HASH}),
) -> DeletionTask:
    return DeletionTask(
        task_id=str(uuid.uuid4()),
        account_id=account_id,
        status=Status.PENDING,
        creation_time=creation_time,
        identifiers=identifiers,
        created_by="app_contract",
    )


def advanced(task: DeletionTask, now: dt.datetime) -> DeletionTask:
    return catch_up(task, now, POLICY)


class StoreContract:
    """Behaviour every `Store` guarantees. Hook: `create_store(directory) -> Store`."""

    persistent = False

    def create_store(self, directory: Path) -> Store:
        raise NotImplementedError("a store's contract test supplies create_store")

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.create_store(tmp_path)
        try:
            yield store
        finally:
            store.close()

    # -- add and get ------------------------------------------------------------------------

    def test_added_task_reads_back_equal(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        assert store.get(task.task_id) == task

    def test_missing_task_is_none(self, store: Store) -> None:
        assert store.get(str(uuid.uuid4())) is None

    def test_every_field_round_trips(self, store: Store) -> None:
        many = frozenset(f"{i:043d}=" for i in range(2000))
        task = cancel(make_task(identifiers=many), T0 + dt.timedelta(hours=1), POLICY, by="app_x")
        task = attrs.evolve(task, version=2)
        store.add(task)
        assert store.get(task.task_id) == task

    def test_a_batch_of_tasks_in_every_state_round_trips(self, store: Store) -> None:
        # One add_many, as a server's batch of creates is written: tasks with no time but
        # their creation, with some, and with every one (an empty time must stay empty, a
        # set one must keep its value, whatever its neighbours in the batch hold; a time of
        # zero microseconds is a value too).
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
        assert store.add_many([(task, None) for task in tasks]) == [None] * len(tasks)
        assert [store.get(task.task_id) for task in tasks] == tasks

    def test_duplicate_id_is_refused_and_changes_nothing(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        other = attrs.evolve(task, account_id="acct-2")
        with pytest.raises(DuplicateTask):
            store.add(other)
        assert store.get(task.task_id) == task

    def test_add_many_reports_each_outcome_and_adds_the_rest(self, store: Store) -> None:
        existing, bound = make_task(), make_task()
        store.add(existing)
        store.add(bound, ("app_a", "key-1"))
        fresh = [make_task() for _ in range(3)]
        twice = make_task()
        items = [
            (fresh[0], None),
            (existing, None),  # duplicate id
            (fresh[1], ("app_a", "key-1")),  # key bound to `bound`
            (fresh[2], ("app_a", "key-2")),
            (twice, ("app_a", "key-3")),
            (attrs.evolve(make_task(), task_id=twice.task_id), None),  # same id, same batch
        ]
        outcomes = store.add_many(items)
        assert [type(o).__name__ for o in outcomes] == [
            "NoneType",
            "DuplicateTask",
            "IdempotencyKeyConflict",
            "NoneType",
            "NoneType",
            "DuplicateTask",
        ]
        conflict = outcomes[2]
        assert isinstance(conflict, IdempotencyKeyConflict)
        assert conflict.task_id == bound.task_id
        assert store.get(fresh[0].task_id) == fresh[0]
        assert store.get(fresh[1].task_id) is None
        assert store.get(fresh[2].task_id) == fresh[2]
        assert store.get(twice.task_id) == twice
        assert store.find_by_idempotency_key("app_a", "key-2") == fresh[2]
        assert store.add_many([]) == []

    # -- idempotency keys --------------------------------------------------------------------

    def test_idempotency_key_finds_its_task(self, store: Store) -> None:
        task = make_task()
        store.add(task, ("app_a", "key-1"))
        assert store.find_by_idempotency_key("app_a", "key-1") == task
        assert store.find_by_idempotency_key("app_b", "key-1") is None
        assert store.find_by_idempotency_key("app_a", "key-2") is None

    def test_reused_idempotency_key_names_the_bound_task_and_adds_nothing(
        self, store: Store
    ) -> None:
        first, second = make_task(), make_task()
        store.add(first, ("app_a", "key-1"))
        with pytest.raises(IdempotencyKeyConflict) as raised:
            store.add(second, ("app_a", "key-1"))
        assert raised.value.task_id == first.task_id
        assert store.get(second.task_id) is None

    # -- compare-and-set -------------------------------------------------------------------

    def test_update_writes_the_next_version(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        moved = advanced(task, T0 + POLICY.pending_period)
        assert store.update([moved]) == frozenset()
        assert store.get(task.task_id) == moved

    def test_update_from_a_stale_version_is_rejected(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        first = advanced(task, T0 + POLICY.pending_period)
        second = attrs.evolve(
            cancel(task, T0 + dt.timedelta(days=1), POLICY, by="app_x"), version=2
        )
        assert store.update([first]) == frozenset()
        assert store.update([second]) == {task.task_id}
        assert store.get(task.task_id) == first

    def test_update_of_a_missing_task_is_rejected(self, store: Store) -> None:
        ghost = attrs.evolve(make_task(), version=2)
        assert store.update([ghost]) == {ghost.task_id}
        assert store.get(ghost.task_id) is None

    def test_update_outcomes_are_per_task(self, store: Store) -> None:
        tasks = [make_task() for _ in range(3)]
        for task in tasks:
            store.add(task)
        now = T0 + POLICY.pending_period
        good = [advanced(tasks[0], now), advanced(tasks[2], now)]
        stale = attrs.evolve(advanced(tasks[1], now), version=7)
        assert store.update([good[0], stale, good[1]]) == {tasks[1].task_id}
        assert [store.get(t.task_id) for t in tasks] == [good[0], tasks[1], good[1]]

    def test_racing_writers_from_one_read_have_one_winner(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        now = T0 + dt.timedelta(days=1)
        contenders = [
            attrs.evolve(cancel(task, now, POLICY, by=f"app_{i}"), version=2) for i in range(8)
        ]
        wins: list[DeletionTask] = []
        barrier = threading.Barrier(len(contenders))

        def race(candidate: DeletionTask) -> None:
            barrier.wait()
            if not store.update([candidate]):
                wins.append(candidate)

        threads = [threading.Thread(target=race, args=(c,)) for c in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1
        assert store.get(task.task_id) == wins[0]

    # -- listing -----------------------------------------------------------------------------

    def _fill(self, store: Store, count: int = 12) -> list[DeletionTask]:
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

    def test_list_is_newest_first_and_scoped_to_accounts(self, store: Store) -> None:
        tasks = self._fill(store)
        query = TaskQuery(accounts={"acct-1", "acct-3"}, limit=100)
        assert store.list_tasks(query) == self._expected(tasks, query)

    def test_list_of_no_account_is_empty(self, store: Store) -> None:
        self._fill(store)
        assert store.list_tasks(TaskQuery(accounts=frozenset())) == []

    def test_list_filters_cancelled_and_creation_bounds(self, store: Store) -> None:
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

    def test_keyset_pages_cover_every_task_once(self, store: Store) -> None:
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

    def test_oldest_first_keyset_pages_cover_every_task_once(self, store: Store) -> None:
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

    def test_list_filters_completed_in_either_order(self, store: Store) -> None:
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

    # -- due ---------------------------------------------------------------------------------

    def test_due_finds_pending_and_ready_tasks_past_their_cutoffs(self, store: Store) -> None:
        old = make_task(creation_time=T0)
        young = make_task(creation_time=T0 + dt.timedelta(days=5))
        ready = advanced(make_task(creation_time=T0 - dt.timedelta(days=13)), T0)
        done = advanced(make_task(creation_time=T0 - dt.timedelta(days=20)), T0)
        gone = attrs.evolve(cancel(make_task(), T0, POLICY, by="app"), version=2)
        for task in (old, young, ready, done, gone):
            store.add(task)
        cutoff = T0 + dt.timedelta(days=1)
        found = store.due(cutoff, T0 - dt.timedelta(days=10), 100)
        assert {t.task_id for t in found} == {old.task_id, ready.task_id}
        assert store.due(cutoff, T0 - dt.timedelta(days=14), 100) == [old]

    def test_transition_due_writes_successors_and_returns_them(self, store: Store) -> None:
        due = [make_task(creation_time=T0 + dt.timedelta(seconds=i)) for i in range(5)]
        young = make_task(creation_time=T0 + dt.timedelta(days=30))
        for task in (*due, young):
            store.add(task)
        now = T0 + dt.timedelta(days=20)
        written = store.transition_due(
            now - POLICY.pending_period,
            now - POLICY.cancel_period,
            3,
            lambda task: catch_up(task, now, POLICY),
        )
        assert len(written) == 3
        for before, after in written:
            assert before in due
            assert after == catch_up(before, now, POLICY)
            assert after.status is Status.ACTIONED
            assert store.get(after.task_id) == after
        rest = store.transition_due(
            now - POLICY.pending_period,
            now - POLICY.cancel_period,
            100,
            lambda task: catch_up(task, now, POLICY),
        )
        assert {b.task_id for b, _ in rest} == {t.task_id for t in due} - {
            b.task_id for b, _ in written
        }
        assert store.get(young.task_id) == young

    def test_transition_due_skips_a_task_whose_step_changes_nothing(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        now = T0 + dt.timedelta(days=20)
        written = store.transition_due(
            now - POLICY.pending_period, now - POLICY.cancel_period, 10, lambda t: t
        )
        assert written == []
        assert store.get(task.task_id) == task

    def test_due_is_bounded_by_limit(self, store: Store) -> None:
        for i in range(10):
            store.add(make_task(creation_time=T0 + dt.timedelta(seconds=i)))
        assert len(store.due(T0 + dt.timedelta(days=1), T0, 4)) == 4

    # -- the hand-off ------------------------------------------------------------------------

    def test_the_outbox_is_written_with_the_transition_that_owes_it(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        ready = advanced(task, T0 + POLICY.pending_period)
        assert store.update([ready]) == frozenset()
        assert store.get(task.task_id) == ready
        assert ready.outbox == {REVIEW}
        actioned = advanced(ready, T0 + POLICY.cancel_period)
        assert store.update([actioned]) == frozenset()
        stored = store.get(task.task_id)
        assert stored == actioned
        assert stored.outbox == {REVIEW, HANDOFF}

    def test_every_hand_off_field_round_trips(self, store: Store) -> None:
        now = T0 + POLICY.cancel_period
        task = make_task()
        store.add(task)
        steps = [advanced(task, now)]
        steps.append(handoff.delivery_failed(steps[-1], HANDOFF, now, "webhook", "HTTP 503"))
        steps.append(handoff.delivered(steps[-1], HANDOFF, now + HOUR, "webhook", False))
        steps.append(handoff.complete(steps[-1], now + 2 * HOUR, "deleter"))
        for step in steps:
            assert store.update([step]) == frozenset()
            assert store.get(task.task_id) == step
        stored = store.get(task.task_id)
        assert stored is not None
        assert stored.outbox == {REVIEW}
        assert stored.completed_time == now + 2 * HOUR
        assert [(h.event, h.detail) for h in stored.history[-3:]] == [
            ("handoff.failed", "HTTP 503"),
            ("handoff.delivered", ""),
            ("completed", ""),
        ]

    def test_a_purge_deletes_the_identifiers_and_keeps_the_rest(self, store: Store) -> None:
        now = T0 + POLICY.cancel_period
        task = make_task(identifiers=frozenset({HASH, "b" * 43 + "="}))
        store.add(task)
        done = handoff.complete(advanced(task, now), now, "deleter")
        store.update([attrs.evolve(done, version=2)])
        stored = store.get(task.task_id)
        assert stored is not None
        later = now + POLICY.retention
        purged = handoff.purge(stored, later, POLICY)
        assert purged.identifiers == frozenset()
        assert store.update([purged]) == frozenset()
        assert store.get(task.task_id) == purged
        assert store.list_tasks(TaskQuery(accounts={"acct-1"})) == [purged]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one store, a new task an example
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # each store's subclass runs this same test
        ],
    )
    @given(
        age=st.timedeltas(min_value=POLICY.cancel_period, max_value=POLICY.cancel_period * 30),
        stored_steps=st.sampled_from(["none", "ready", "actioned"]),
        by_operator=st.booleans(),
    )
    def test_a_cancel_once_past_ready_is_deadline_exceeded_and_stores_nothing(
        self, store: Store, age: dt.timedelta, stored_steps: str, by_operator: bool
    ) -> None:
        """The lifecycle's promise, through this store: at or after creation + pending +
        review, a cancel (a client's or an operator's) raises `DeadlineExceeded`, whatever
        the store holds of the task's steps, and the stored task is left as it was."""
        task = make_task()
        store.add(task)
        if stored_steps != "none":
            moved = advanced(task, T0 + (POLICY.pending_period if stored_steps == "ready" else age))
            assert store.update([moved]) == frozenset()
        before = store.get(task.task_id)
        service = DeletionService(store, ManualClock(T0 + age), POLICY, subscribers=[])
        caller = Caller("app_contract", {"acct-1"})

        def cancel() -> object:
            if by_operator:
                return Operators(service).cancel(task.task_id, "ana", "too late")
            return service.cancel(caller, task.task_id)

        with pytest.raises(DeadlineExceeded):
            cancel()
        assert store.get(task.task_id) == before
        assert service.get(caller, task.task_id).status is Status.ACTIONED

    def test_a_hold_round_trips_is_never_due_for_hand_off_and_is_listed_apart(
        self, store: Store
    ) -> None:
        held, plain = make_task(), make_task(creation_time=T0 + HOUR)
        for task in (held, plain):
            store.add(task)
        now = T0 + POLICY.pending_period + HOUR
        # one version each: caught up (and, for the first, held) with now
        moved = [hold(held, now, POLICY, "operator:ana", "legal hold"), advanced(plain, now)]
        assert store.update(moved) == frozenset()
        stored = store.get(held.task_id)
        assert stored == moved[0]
        assert stored is not None
        assert stored.held_time == now
        later = T0 + POLICY.cancel_period * 2
        due = store.due(later, later, 10)
        assert [task.task_id for task in due] == [plain.task_id]  # held: not due
        everyone = frozenset({"acct-1"})
        assert store.list_tasks(TaskQuery(everyone, held=True)) == [stored]
        assert store.list_tasks(TaskQuery(everyone, held=False)) == [moved[1]]
        released = release(stored, later, POLICY, "operator:ana")
        assert store.update([released]) == frozenset()
        assert store.get(held.task_id) == released
        assert released.status is Status.ACTIONED
        assert store.list_tasks(TaskQuery(everyone, held=True)) == []

    def test_find_by_identifier_finds_the_tasks_holding_it_oldest_first(self, store: Store) -> None:
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

    def test_identifiers_change_only_by_a_purge(self, store: Store) -> None:
        task = make_task()
        store.add(task)
        sneaky = attrs.evolve(advanced(task, T0 + POLICY.pending_period), identifiers=frozenset())
        assert store.update([sneaky]) == frozenset()
        stored = store.get(task.task_id)
        assert stored is not None
        assert stored.identifiers == task.identifiers

    def test_awaiting_finds_each_kind_oldest_first(self, store: Store) -> None:
        day = dt.timedelta(days=1)
        second = dt.timedelta(seconds=1)
        ready = advanced(make_task(creation_time=T0 + second), T0 + POLICY.pending_period + second)
        actioned = [
            advanced(make_task(creation_time=T0 - i * day), T0 + POLICY.cancel_period)
            for i in range(3)
        ]
        done = handoff.complete(actioned[0], T0 + POLICY.cancel_period + HOUR, "deleter")
        delivered = handoff.delivered(
            handoff.delivered(actioned[1], HANDOFF, T0 + POLICY.cancel_period, "w", False),
            REVIEW,
            T0 + POLICY.cancel_period,
            "w",
            False,
        )
        pending = make_task()
        for task in (ready, done, delivered, actioned[2], pending):
            store.add(task)
        far = T0 + 400 * day

        def ids(what: Awaiting, cutoff: dt.datetime, limit: int = 100) -> list[str]:
            return [t.task_id for t in store.awaiting(what, cutoff, limit)]

        assert ids(Awaiting.REVIEW, far) == [actioned[2].task_id, done.task_id, ready.task_id]
        assert ids(Awaiting.REVIEW, far, 1) == [actioned[2].task_id]
        assert ids(Awaiting.HANDOFF, far) == [actioned[2].task_id]
        assert ids(Awaiting.INCOMPLETE, far) == [actioned[2].task_id, delivered.task_id]
        # actioned_time of actioned[2] is two days before that of actioned[1]
        cutoff = actioned[2].actioned_time
        assert cutoff is not None
        assert ids(Awaiting.INCOMPLETE, cutoff) == [actioned[2].task_id]
        assert ids(Awaiting.OVERDUE, far) == [actioned[2].task_id, delivered.task_id]
        assert ids(Awaiting.PURGE, far) == [done.task_id]
        assert ids(Awaiting.PURGE, T0) == []
        for what in Awaiting:
            expected = [
                t.task_id
                for t in sorted(
                    (ready, done, delivered, actioned[2], pending),
                    key=lambda t: (t.creation_time, t.task_id),
                )
                if what.matches(t, far)
            ]
            assert ids(what, far) == expected

    # -- access ------------------------------------------------------------------------------

    def test_allow_account_is_idempotent_and_keeps_the_first_record(self, store: Store) -> None:
        first = Account("acct-1", T0)
        assert store.allow_account(first) == first
        assert store.allow_account(Account("acct-1", T0 + dt.timedelta(days=1))) == first
        store.allow_account(Account("acct-0", T0))
        assert store.list_accounts() == [Account("acct-0", T0), first]
        assert store.get_account("acct-1") == first

    def test_revoked_account_is_gone(self, store: Store) -> None:
        store.allow_account(Account("acct-1", T0))
        assert store.revoke_account("acct-1") is True
        assert store.revoke_account("acct-1") is False
        assert store.get_account("acct-1") is None
        assert store.list_accounts() == []

    def test_apps_round_trip_and_revoke(self, store: Store) -> None:
        app = App("app_1", "ab" * 32, frozenset({"acct-1", "acct-2"}), T0)
        store.add_app(app)
        store.add_app(attrs.evolve(app, app_id="app_0", accounts=frozenset({"acct-9"})))
        assert store.get_app("app_1") == app
        assert [a.app_id for a in store.list_apps()] == ["app_0", "app_1"]
        assert store.revoke_app("app_1") is True
        assert store.get_app("app_1") == attrs.evolve(app, revoked=True)
        assert store.revoke_app("app_nope") is False
        assert store.get_app("app_nope") is None

    def test_duplicate_app_is_refused(self, store: Store) -> None:
        app = App("app_1", "ab" * 32, frozenset({"acct-1"}), T0)
        store.add_app(app)
        with pytest.raises(StoreError):
            store.add_app(attrs.evolve(app, secret_digest="cd" * 32))
        assert store.get_app("app_1") == app

    def test_access_version_moves_with_every_access_write(self, store: Store) -> None:
        if store.access_version() is None:
            pytest.skip("this store offers no access version: callers read access every time")
        seen = [store.access_version()]
        store.allow_account(Account("acct-1", T0))
        seen.append(store.access_version())
        store.add_app(App("app_v", "0" * 64, frozenset({"acct-1"}), T0))
        seen.append(store.access_version())
        store.revoke_app("app_v")
        seen.append(store.access_version())
        store.revoke_account("acct-1")
        seen.append(store.access_version())
        assert len(set(seen)) == len(seen), seen
        store.get_app("app_v")
        store.list_tasks(TaskQuery(accounts={"acct-1"}))
        assert store.access_version() == seen[-1]  # reads do not move it

    def test_app_use_keeps_the_latest_moment(self, store: Store) -> None:
        assert store.app_last_used() == {}
        store.record_app_use("app_1", T0 + HOUR)
        store.record_app_use("app_1", T0)  # earlier: changes nothing
        store.record_app_use("app_2", T0)
        store.record_app_use("app_2", T0 + 2 * HOUR)
        assert store.app_last_used() == {"app_1": T0 + HOUR, "app_2": T0 + 2 * HOUR}

    def test_callbacks_are_set_replaced_and_removed_for_apps_only(self, store: Store) -> None:
        store.add_app(App("app_1", "ab" * 32, frozenset({"acct-1"}), T0))
        first = Callback("https://client.example/hooks", "whsec_" + "A" * 44, T0)
        version = store.access_version()
        assert store.set_callback("app_1", first) is True
        assert store.access_version() != version or version is None
        assert store.callbacks() == {"app_1": first}
        second = Callback("https://client.example/v2", "whsec_" + "B" * 44, T0 + HOUR)
        assert store.set_callback("app_1", second) is True
        assert store.callbacks() == {"app_1": second}
        assert store.set_callback("app_nope", first) is False
        assert store.set_callback("app_1", None) is True
        assert store.callbacks() == {}

    def test_operators_round_trip_and_are_removed(self, store: Store) -> None:
        alice = Operator("alice", "scrypt$1$1$1$c2FsdA==$aGFzaA==", T0)
        store.add_operator(alice)
        store.add_operator(Operator("bob@example", "scrypt$x", T0 + HOUR))
        with pytest.raises(StoreError):
            store.add_operator(attrs.evolve(alice, password_hash="other"))  # noqa: S106
        assert store.get_operator("alice") == alice
        assert [o.name for o in store.list_operators()] == ["alice", "bob@example"]
        assert store.remove_operator("alice") is True
        assert store.remove_operator("alice") is False
        assert store.get_operator("alice") is None
        assert store.get_operator("nobody") is None
        assert [o.name for o in store.list_operators()] == ["bob@example"]

    def test_counts_by_status_and_by_day_follow_the_reference(self, store: Store) -> None:
        now = T0 + dt.timedelta(days=40)
        tasks = []
        for days_ago in (0, 1, 11, 13, 14, 16, 20, 30, 39):
            created = now - dt.timedelta(days=days_ago, hours=1)
            tasks.append(make_task(creation_time=created))
        tasks[1] = cancel(tasks[1], tasks[1].creation_time + HOUR, POLICY, "app_x")
        tasks[3] = hold(tasks[3], now - HOUR, POLICY, "operator:o", "why")
        tasks[6] = advanced(tasks[6], now)  # stored actioned; the others stored as created
        tasks[7] = advanced(tasks[7], now - dt.timedelta(days=10))
        tasks[7] = attrs.evolve(tasks[7], completed_time=now - dt.timedelta(days=3))
        tasks[6] = attrs.evolve(tasks[6], overdue_time=tasks[6].overdue_time or now - HOUR)
        tasks[8] = attrs.evolve(advanced(tasks[8], now), identifiers=frozenset())
        tasks[8] = attrs.evolve(tasks[8], purged_time=now)
        tasks.append(make_task(account_id="acct-2", creation_time=now - HOUR))
        for task in tasks:
            store.add(task)
        pending_cutoff, ready_cutoff = now - POLICY.pending_period, now - POLICY.cancel_period
        expected = status_counts(tasks, pending_cutoff, ready_cutoff)
        assert store.count_tasks(pending_cutoff, ready_cutoff) == expected
        assert expected == {
            "pending": 3,
            "ready": 2,
            "actioned": 4,
            "cancelled": 1,
            "held": 1,
            "purged": 1,
            "completed": 1,
        }
        for since in (T0, now - dt.timedelta(days=14), now):
            assert store.daily_counts(since) == day_counts(tasks, since), since
        days = store.daily_counts(T0)
        assert sum(d.completed for d in days) == 1
        assert sum(d.overdue for d in days) == sum(t.overdue_time is not None for t in tasks) > 0

    # -- delivery leases ------------------------------------------------------------------------

    @staticmethod
    def _owing(store: Store, count: int) -> list[DeletionTask]:
        """*count* actioned tasks that owe their hand-off (and one pending task that owes
        nothing), stored."""
        now = T0 + POLICY.cancel_period + count * HOUR
        tasks = [advanced(make_task(creation_time=T0 + i * HOUR), now) for i in range(count)]
        assert all(HANDOFF in task.outbox for task in tasks)
        for task in [*tasks, make_task()]:
            store.add(task)
        return tasks

    def test_a_lease_is_held_by_one_holder_until_it_expires(self, store: Store) -> None:
        tasks = self._owing(store, 3)
        ids = [t.task_id for t in tasks]
        now, until = T0 + 20 * POLICY.pending_period, T0 + 20 * POLICY.pending_period + HOUR
        assert store.claim(HANDOFF, ids[:2], "a", now, until) == set(ids[:2])
        assert store.claim(HANDOFF, ids, "b", now, until) == {ids[2]}
        assert store.claim(HANDOFF, ids, "b", now + HOUR / 2, until) == set()
        # Expired at `until`: taken over.
        assert store.claim(HANDOFF, ids, "b", until, until + HOUR) == set(ids)
        # Another kind is another lease (these still owe their review alert too); a task that
        # owes nothing is never leased.
        assert all(REVIEW in task.outbox for task in tasks)
        assert store.claim(REVIEW, ids[:1], "a", now, until) == {ids[0]}
        pending = make_task()
        store.add(pending)
        assert store.claim(REVIEW, [pending.task_id], "a", now, until) == set()

    def test_a_released_lease_can_be_claimed_again_and_only_its_holder_releases(
        self, store: Store
    ) -> None:
        (task,) = self._owing(store, 1)
        now, until = T0 + 30 * POLICY.pending_period, T0 + 30 * POLICY.pending_period + HOUR
        assert store.claim(HANDOFF, [task.task_id], "a", now, until) == {task.task_id}
        store.release(HANDOFF, [task.task_id], "b")  # not b's: it stays
        assert store.claim(HANDOFF, [task.task_id], "b", now, until) == set()
        store.release(HANDOFF, [task.task_id], "a")
        assert store.claim(HANDOFF, [task.task_id], "b", now, until) == {task.task_id}

    def test_a_task_that_no_longer_owes_the_message_is_not_leased(self, store: Store) -> None:
        (task,) = self._owing(store, 1)
        at = T0 + 40 * POLICY.pending_period
        done = handoff.delivered(task, HANDOFF, at, "sink", done=False)
        assert store.update([attrs.evolve(done, version=task.version + 1)]) == frozenset()
        assert store.claim(HANDOFF, [task.task_id, "no-such-task"], "a", at, at + HOUR) == set()

    def test_concurrent_claims_never_lease_one_message_twice(self, store: Store) -> None:
        ids = [t.task_id for t in self._owing(store, 40)]
        now, until = T0 + 50 * POLICY.pending_period, T0 + 50 * POLICY.pending_period + HOUR
        won: dict[str, frozenset[str]] = {}
        barrier = threading.Barrier(4)

        def claim(holder: str) -> None:
            barrier.wait()
            won[holder] = store.claim(HANDOFF, ids, holder, now, until)

        threads = [threading.Thread(target=claim, args=(f"h{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        leased = [task_id for claimed in won.values() for task_id in claimed]
        assert sorted(leased) == sorted(ids)

    def test_tasks_owing_callbacks_are_found_and_their_callbacks_leased(self, store: Store) -> None:
        owing, other = make_task(), make_task()
        store.add(attrs.evolve(owing, outbox=frozenset({"callback.ready", "callback.cancelled"})))
        store.add(attrs.evolve(other, outbox=frozenset({REVIEW})))
        found = store.awaiting(Awaiting.CALLBACK, T0, 10)
        assert [t.task_id for t in found] == [owing.task_id]
        assert found[0].outbox == {"callback.ready", "callback.cancelled"}
        now = T0 + HOUR
        ids = [owing.task_id, other.task_id]
        assert store.claim("callback.ready", ids, "a", now, now + HOUR) == {owing.task_id}
        assert store.claim("callback.ready", ids, "b", now, now + HOUR) == set()
        assert store.claim("callback.cancelled", ids, "b", now, now + HOUR) == {owing.task_id}

    def test_backlog_counts_what_is_owed_and_since_when(self, store: Store) -> None:
        assert store.backlog(HANDOFF) == Backlog(0, None)
        tasks = self._owing(store, 3)
        assert store.backlog(HANDOFF) == backlog_of(tasks, HANDOFF)
        assert store.backlog(HANDOFF).count == 3
        assert store.backlog(HANDOFF).oldest == tasks[0].actioned_time
        assert store.backlog(REVIEW) == backlog_of(tasks, REVIEW)

    def test_setting_is_created_once(self, store: Store) -> None:
        assert store.setting("signing-key", lambda: "first") == "first"
        assert store.setting("signing-key", lambda: "second") == "first"

    def test_put_setting_creates_or_replaces(self, store: Store) -> None:
        store.put_setting("generation", "one")
        assert store.setting("generation", lambda: "unused") == "one"
        store.put_setting("generation", "two")
        assert store.setting("generation", lambda: "unused") == "two"

    # -- persistence -------------------------------------------------------------------------

    def test_reopened_store_sees_what_was_written(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("this store keeps nothing across close()")
        task = make_task()
        with self.create_store(tmp_path) as store:
            store.add(task, ("app_a", "k"))
            store.allow_account(Account("acct-1", T0))
            store.setting("signing-key", lambda: "kept")
            store.put_setting("generation", "kept")
            store.add_operator(Operator("alice", "scrypt$kept", T0))
            store.record_app_use("app_a", T0)
            store.add_app(App("app_c", "ab" * 32, frozenset({"acct-1"}), T0))
            store.set_callback("app_c", Callback("https://c.example/", "whsec_" + "C" * 44, T0))
        with self.create_store(tmp_path) as store:
            assert store.callbacks() == {
                "app_c": Callback("https://c.example/", "whsec_" + "C" * 44, T0)
            }
            assert store.get_operator("alice") == Operator("alice", "scrypt$kept", T0)
            assert store.app_last_used() == {"app_a": T0}
            assert store.get(task.task_id) == task
            assert store.find_by_idempotency_key("app_a", "k") == task
            assert store.get_account("acct-1") == Account("acct-1", T0)
            assert store.setting("signing-key", lambda: "new") == "kept"
            assert store.setting("generation", lambda: "new") == "kept"
