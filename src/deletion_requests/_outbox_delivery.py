"""Use case: one round of the outbox, after the hand-off: hand-offs and review alerts to their
sinks, and (with senders) the status callbacks and push destinations' jobs, each endpoint's
work side by side with the others', each outcome recorded."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping

import attrs

from . import _handoff as handoff
from ._callback_delivery import CallbackDelivery
from ._callbacks import CallbackSender
from ._context import Context, Deliveries, may_try
from ._destination_push import JobSender, push_groups
from ._destinations import DEFAULT, Job, OutcomeConflict, job_id_for
from ._handoff import DeliveryFailed, Sink
from ._job_changes import handed_off, handoff_failed
from ._port_destinations import Destinations
from ._ports import Awaiting
from ._task import HANDOFF, DeletionTask
from ._task_jobs import complete_default

logger = logging.getLogger("deletion_requests.service")


@attrs.define
class OutboxDelivery:
    """Delivers owed messages at least once, leased to this service while it sends them."""

    context: Context
    callbacks: CallbackDelivery

    def deliver(
        self,
        sinks: Mapping[str, Sink],
        limit: int = 100,
        callback_sender: CallbackSender | None = None,
        job_sender: JobSender | None = None,
    ) -> Deliveries:
        """One round of the outbox: for each kind with a sink (`"handoff"`, `"review"`), deliver
        up to *limit* owed messages, oldest task first, and record each outcome in the task;
        with *callback_sender*, the status callbacks of up to *limit* tasks too; with
        *job_sender* and a store that keeps destinations, up to *limit* owed jobs of each push
        destination.

        Endpoints are sent to independently: the work of each sink, of each callback URL and
        of each push destination is one group, the groups run side by side in the context's
        `lanes`, and each group sends in order. A slow receiver holds back only its own group;
        the round is over when every group is.

        At least once: a message leaves the outbox only after its sink took it, so a crash
        between the two delivers it again. Each message is leased to this service
        (`holder`) before it is sent, `claim_batch` at a time for `lease` (a lease ending
        unused is taken over), so several servers delivering one store send each message
        once while none of them crashes. No attempt starts once half of its lease has gone
        (the rest of the batch is leased again), so the lease outlasts every attempt that
        takes at most half of it. A message that failed waits out `backoff`; the first
        failure of a sink ends that sink's round (the rest would most likely fail too).
        """
        context, store = self.context, self.context.store
        report = Deliveries()
        groups: list[Callable[[], Deliveries]] = []
        for kind, sink in sinks.items():
            if kind == HANDOFF and self._default_paused():
                report.waiting += store.backlog(kind).count
                continue
            groups.append(functools.partial(self._deliver_kind, kind, sink, limit))
        if callback_sender is not None:
            groups += self.callbacks.groups(callback_sender, limit)
        if job_sender is not None and isinstance(store, Destinations):
            groups += push_groups(context, store, job_sender, limit)
        for part in context.lanes.run(groups):
            report.add(part)
        if callback_sender is not None:
            report.waiting += self.callbacks.waiting()
        return report

    def _deliver_kind(self, kind: str, sink: Sink, limit: int) -> Deliveries:
        """Up to *limit* owed messages of *kind* to *sink*, oldest task first, in order, until
        the first that fails; with the backlog of *kind* left after them."""
        context, store = self.context, self.context.store
        report = Deliveries()
        now = context.clock.now()
        # Look past the limit, so that messages backing off do not hold back newer ones.
        owed = store.awaiting(Awaiting(kind), now, max(limit, context.batch_size))
        due = [task for task in owed if may_try(context.backoff, task, kind, now)][:limit]
        while due and not report.failed:
            batch, due = due[: context.claim_batch], due[context.claim_batch :]
            claimed_at = context.clock.now()
            ids = [task.task_id for task in batch]
            claimed = store.claim(kind, ids, context.holder, claimed_at, claimed_at + context.lease)
            try:
                for at, task in enumerate(batch):
                    if task.task_id not in claimed:
                        continue
                    if at and context.clock.now() >= claimed_at + context.lease / 2:
                        due = batch[at:] + due  # leased again before they are sent
                        break
                    if self._deliver_one(kind, sink, task):
                        report.delivered += 1
                    else:
                        report.failed += 1
                        break
            finally:
                store.release(kind, sorted(claimed), context.holder)
        report.waiting = store.backlog(kind).count
        return report

    def _default_paused(self) -> bool:
        """Whether the `default` destination (the hand-off's) is paused: then no hand-off is
        sent, and each waits in the outbox until it is resumed."""
        store = self.context.store
        if not isinstance(store, Destinations):
            return False
        default = store.get_destination(DEFAULT)
        return default is not None and default.paused

    def _default_job(self, kind: str, task: DeletionTask) -> Job | None:
        """The task's `default` job, which its hand-off delivers; None for other messages and
        for tasks actioned while there was no `default` destination."""
        store = self.context.store
        if kind != HANDOFF or not isinstance(store, Destinations):
            return None
        return store.get_job(job_id_for(task.task_id, DEFAULT))

    def _deliver_one(self, kind: str, sink: Sink, task: DeletionTask) -> bool:
        """Offer one message to *sink* and record the outcome; True when it was taken. A
        hand-off also records the attempt on the task's `default` job; a sink that did the
        deletion then reports that job `deleted` (the task is completed with its last job)."""
        context = self.context
        job = self._default_job(kind, task)
        try:
            done = sink.deliver(task, handoff.message_body(task, kind, context.policy))
        except Exception as exc:  # noqa: BLE001 (any failure of a sink is an attempt's outcome)
            detail = exc.detail if isinstance(exc, DeliveryFailed) else type(exc).__name__
            logger.warning("delivery of %s for task %s failed: %s", kind, task.task_id, detail)
            context.settle(
                task.task_id,
                kind,
                lambda t, at: handoff.delivery_failed(t, kind, at, sink.name, detail),
            )
            if job is not None:
                self._jobs().change_job(job.job_id, lambda j: handoff_failed(j, detail[:200]))
            return False
        completes = done and job is None
        context.settle(
            task.task_id, kind, lambda t, at: handoff.delivered(t, kind, at, sink.name, completes)
        )
        if job is not None:
            self._jobs().change_job(job.job_id, handed_off)
            if done:
                with contextlib.suppress(OutcomeConflict):  # an operator gave up on it first
                    complete_default(context, self._jobs(), task.task_id, sink.name)
        return True

    def _jobs(self) -> Destinations:
        store = self.context.store
        assert isinstance(store, Destinations)  # only asked for when a `default` job exists
        return store
