"""The part of the `TaskRecords` contract that follows tasks through their lifecycle: due
scans, transitions, the outbox and hand-off fields, holds and purges."""

from __future__ import annotations

import datetime as dt

import attrs

from deletion_requests import _handoff as handoff
from deletion_requests._lifecycle import cancel, catch_up, hold, release
from deletion_requests._ports import TaskQuery, TaskRecords
from deletion_requests._status import Status
from deletion_requests._task import HANDOFF, REVIEW

from ._case import HASH, HOUR, POLICY, T0, PortContract, advanced, make_task


class TaskLifecycleCases(PortContract[TaskRecords]):
    """Tasks moved through the lifecycle and written back; part of `TaskRecordsContract`."""

    # -- due --------------------------------------------------------------------------

    def test_due_finds_pending_and_ready_tasks_past_their_cutoffs(self, store: TaskRecords) -> None:
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

    def test_transition_due_writes_successors_and_returns_them(self, store: TaskRecords) -> None:
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

    def test_transition_due_skips_a_task_whose_step_changes_nothing(
        self, store: TaskRecords
    ) -> None:
        task = make_task()
        store.add(task)
        now = T0 + dt.timedelta(days=20)
        written = store.transition_due(
            now - POLICY.pending_period, now - POLICY.cancel_period, 10, lambda t: t
        )
        assert written == []
        assert store.get(task.task_id) == task

    def test_due_is_bounded_by_limit(self, store: TaskRecords) -> None:
        for i in range(10):
            store.add(make_task(creation_time=T0 + dt.timedelta(seconds=i)))
        assert len(store.due(T0 + dt.timedelta(days=1), T0, 4)) == 4

    # -- the hand-off -----------------------------------------------------------------

    def test_the_outbox_is_written_with_the_transition_that_owes_it(
        self, store: TaskRecords
    ) -> None:
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

    def test_every_hand_off_field_round_trips(self, store: TaskRecords) -> None:
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

    def test_a_purge_deletes_the_identifiers_and_keeps_the_rest(self, store: TaskRecords) -> None:
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

    def test_a_hold_round_trips_is_never_due_for_hand_off_and_is_listed_apart(
        self, store: TaskRecords
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

    def test_identifiers_change_only_by_a_purge(self, store: TaskRecords) -> None:
        task = make_task()
        store.add(task)
        sneaky = attrs.evolve(advanced(task, T0 + POLICY.pending_period), identifiers=frozenset())
        assert store.update([sneaky]) == frozenset()
        stored = store.get(task.task_id)
        assert stored is not None
        assert stored.identifiers == task.identifiers
