"""The contract of `Outbox`: finding the work tasks owe, leasing deliveries, counting backlogs.

Subclass `OutboxContract` as `Test...` and supply `create_store(directory)`.
"""

from __future__ import annotations

import datetime as dt
import threading

import attrs

from deletion_requests import _handoff as handoff
from deletion_requests._ports import Awaiting, Backlog, Outbox, backlog_of
from deletion_requests._task import HANDOFF, REVIEW, DeletionTask

from ._case import HOUR, POLICY, T0, PortContract, advanced, make_task


class OutboxContract(PortContract[Outbox]):
    """Behaviour every `Outbox` guarantees. Hook: `create_store(directory) -> Outbox`."""

    def test_awaiting_finds_each_kind_oldest_first(self, store: Outbox) -> None:
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
        # actioned at one moment; actioned[2], created a day before actioned[1], is due a day
        # before it
        cutoff = actioned[2].due_time
        assert ids(Awaiting.INCOMPLETE, cutoff) == [actioned[2].task_id]
        assert ids(Awaiting.OVERDUE, cutoff) == [actioned[2].task_id]
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

    # -- delivery leases --------------------------------------------------------------

    @staticmethod
    def _owing(store: Outbox, count: int) -> list[DeletionTask]:
        """*count* actioned tasks that owe their hand-off (and one pending task that owes
        nothing), stored."""
        now = T0 + POLICY.cancel_period + count * HOUR
        tasks = [advanced(make_task(creation_time=T0 + i * HOUR), now) for i in range(count)]
        assert all(HANDOFF in task.outbox for task in tasks)
        for task in [*tasks, make_task()]:
            store.add(task)
        return tasks

    def test_a_lease_is_held_by_one_holder_until_it_expires(self, store: Outbox) -> None:
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
        self, store: Outbox
    ) -> None:
        (task,) = self._owing(store, 1)
        now, until = T0 + 30 * POLICY.pending_period, T0 + 30 * POLICY.pending_period + HOUR
        assert store.claim(HANDOFF, [task.task_id], "a", now, until) == {task.task_id}
        store.release(HANDOFF, [task.task_id], "b")  # not b's: it stays
        assert store.claim(HANDOFF, [task.task_id], "b", now, until) == set()
        store.release(HANDOFF, [task.task_id], "a")
        assert store.claim(HANDOFF, [task.task_id], "b", now, until) == {task.task_id}

    def test_a_task_that_no_longer_owes_the_message_is_not_leased(self, store: Outbox) -> None:
        (task,) = self._owing(store, 1)
        at = T0 + 40 * POLICY.pending_period
        done = handoff.delivered(task, HANDOFF, at, "sink", done=False)
        assert store.update([attrs.evolve(done, version=task.version + 1)]) == frozenset()
        assert store.claim(HANDOFF, [task.task_id, "no-such-task"], "a", at, at + HOUR) == set()

    def test_concurrent_claims_never_lease_one_message_twice(self, store: Outbox) -> None:
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

    def test_tasks_owing_callbacks_are_found_and_their_callbacks_leased(
        self, store: Outbox
    ) -> None:
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

    def test_backlog_counts_what_is_owed_and_since_when(self, store: Outbox) -> None:
        assert store.backlog(HANDOFF) == Backlog(0, None)
        tasks = self._owing(store, 3)
        assert store.backlog(HANDOFF) == backlog_of(tasks, HANDOFF)
        assert store.backlog(HANDOFF).count == 3
        assert store.backlog(HANDOFF).oldest == tasks[0].actioned_time
        assert store.backlog(REVIEW) == backlog_of(tasks, REVIEW)
