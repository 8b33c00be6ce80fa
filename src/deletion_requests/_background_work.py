"""Use cases of the background and of the deleter: store what time has made due (transitions,
overdue marks, purges), record completions, list the overdue tasks, and `maintain`, which runs
them all with a delivery round."""

from __future__ import annotations

import builtins
import datetime as dt
import functools
from collections.abc import Callable, Mapping

import attrs

from . import _handoff as handoff
from ._callbacks import Callback, CallbackSender
from ._context import DEFAULT_PAGE, Context
from ._destinations import Job
from ._handoff import Sink
from ._outbox_delivery import OutboxDelivery
from ._port_destinations import Destinations
from ._ports import Awaiting
from ._task import DeletionTask, as_successor
from ._task_jobs import advance_with_jobs, complete_default, task_jobs, task_outcome


@attrs.define
class BackgroundWork:
    """What runs without a client: time-driven steps, stored in batches, and completions."""

    context: Context
    outbox: OutboxDelivery

    def advance_due(self) -> int:
        """Store every transition that time has made due, in batches; returns the tasks moved.

        Only a speed-up and a trigger for events: reads already see the due state.
        """
        context, store = self.context, self.context.store
        if isinstance(store, Destinations) and store.list_destinations():
            return advance_with_jobs(context, store)
        moved = 0
        idle_rounds = 0
        now = context.clock.now()
        cutoffs = context.policy.cutoffs(now)
        while idle_rounds < 3:
            apps = context.callbacks()
            written = store.transition_due(
                *cutoffs, context.batch_size, functools.partial(self._advanced, now=now, apps=apps)
            )
            for old, new in written:
                context.publish(old, new)
            moved += len(written)
            if not written and not store.due(*cutoffs, 1):
                break
            idle_rounds = 0 if written else idle_rounds + 1
        return moved

    def _advanced(
        self, task: DeletionTask, now: dt.datetime, apps: Mapping[str, Callback]
    ) -> DeletionTask:
        """*task* caught up with *now*, owing the callbacks its moves call for."""
        return self.context.owe(task, self.context.caught_up(task, now), apps)

    def complete(self, task_id: str, by: str) -> DeletionTask:
        """Record that the deleter finished deleting the task's data (idempotent).

        Not scoped to a caller: the deleter and operators call this, never a client app.
        Raises `NotActioned` for a task that was not handed off, `TaskNotFound` for no task.
        """
        context = self.context
        store = context.store
        if isinstance(store, Destinations) and store.task_jobs(task_id):
            return complete_default(context, store, task_id, by)
        return context.change(
            None, task_id, lambda task, now: handoff.complete(context.caught_up(task, now), now, by)
        )

    def jobs(self, task_id: str) -> builtins.list[Job]:
        """What each destination owes the task (its jobs, by destination name); none on a store
        without destinations. Not scoped to a caller: for operators."""
        return task_jobs(self.context, task_id)

    def outcome(self, task: DeletionTask) -> str | None:
        """The one-word outcome a client sees for a completed *task* (`task_outcome`):
        `deleted` if any destination deleted, else `not_found` if any found nothing, else
        `exempt`; None until it is completed."""
        return task_outcome(task, self.jobs(task.task_id)) if task.completed_time else None

    def mark_overdue(self) -> int:
        """Store the overdue mark of every task handed off, past its due time and not
        completed; each mark is published once, as an `overdue` event."""
        context = self.context
        now = context.clock.now()
        return self._sweep(Awaiting.OVERDUE, now, lambda task: context.caught_up(task, now))

    def purge_settled(self) -> int:
        """Delete the identifier hashes of every task settled more than `retention` ago:
        completed, cancelled, or handed off and never reported complete (counted from the
        delivery). The tasks, their times and their histories stay."""
        policy = self.context.policy
        now = self.context.clock.now()
        cutoff = now - policy.retention
        return sum(
            self._sweep(kind, cutoff, lambda task: handoff.purge(task, now, policy))
            for kind in (Awaiting.PURGE, Awaiting.PURGE_CANCELLED, Awaiting.PURGE_DELIVERED)
        )

    def overdue(self, limit: int = DEFAULT_PAGE) -> builtins.list[DeletionTask]:
        """Tasks handed off, past their due time and not completed, earliest due first, across
        every account (for operators). Caught up on read: a task stored `pending` or `ready`
        whose hand-off and due time have passed is among them before any `advance_due` has
        stored its transitions."""
        context, policy = self.context, self.context.policy
        now = context.clock.now()
        stored = context.store.awaiting(Awaiting.INCOMPLETE, now, limit)
        # Not yet moved, and created a due period ago (no task is due sooner): caught up,
        # those past their due time are overdue.
        _, actioned_by = policy.cutoffs(now - policy.action_window)
        lagging = context.store.due(actioned_by, actioned_by, limit)
        found = {t.task_id: context.caught_up(t, now) for t in [*stored, *lagging]}
        late = [task for task in found.values() if handoff.is_overdue(task, now, policy)]
        late.sort(key=lambda task: (task.due_time, task.task_id))
        return late[:limit]

    def maintain(
        self,
        sinks: Mapping[str, Sink] | None = None,
        callback_sender: CallbackSender | None = None,
    ) -> dict[str, int]:
        """Everything time makes due, in order: transitions, overdue marks, purges, and (with
        *sinks* or a *callback_sender*) one delivery round. What a server runs in the
        background."""
        done = {
            "moved": self.advance_due(),
            "overdue": self.mark_overdue(),
            "purged": self.purge_settled(),
        }
        if sinks or callback_sender:
            report = self.outbox.deliver(sinks or {}, callback_sender=callback_sender)
            done |= {"delivered": report.delivered, "failed": report.failed}
        return done

    def _sweep(
        self, what: Awaiting, cutoff: dt.datetime, step: Callable[[DeletionTask], DeletionTask]
    ) -> int:
        """Store `step` of every task awaiting *what*, a batch at a time, until none is left
        (or a round writes nothing: the rest lost their compare-and-set to other writers)."""
        context, store = self.context, self.context.store
        moved = 0
        while True:
            changes = [(t, step(t)) for t in store.awaiting(what, cutoff, context.batch_size)]
            apps = context.callbacks()
            changes = [
                (old, as_successor(old, context.owe(old, new, apps)))
                for old, new in changes
                if new is not old
            ]
            rejected = store.update([new for _, new in changes])
            written = [(old, new) for old, new in changes if new.task_id not in rejected]
            for old, new in written:
                context.publish(old, new)
            moved += len(written)
            if not written:
                return moved
