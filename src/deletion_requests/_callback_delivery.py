"""Use case: deliver the status callbacks the tasks owe their apps, each task's in order, each
callback URL's side by side with the others'."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import attrs

from . import _callbacks as callbacks
from ._callbacks import CallbackSender
from ._context import MAX_PAGE, Context, Deliveries, may_try
from ._handoff import DeliveryFailed
from ._ports import Awaiting
from ._task import CALLBACK, DeletionTask
from ._task_jobs import task_jobs, task_outcome

logger = logging.getLogger("deletion_requests.service")


@attrs.define
class CallbackDelivery:
    """Sends owed status callbacks with a `CallbackSender` and records each outcome."""

    context: Context

    def groups(self, sender: CallbackSender, limit: int) -> list[Callable[[], Deliveries]]:
        """The owed callbacks of up to *limit* tasks, one group of work for each callback URL
        (and one for each app without one, whose callbacks are dropped): each group sends each
        task's callbacks in the order they happened, and skips an app for the rest of the round
        once one of its callbacks failed."""
        context, store = self.context, self.context.store
        now = context.clock.now()
        owed = store.awaiting(Awaiting.CALLBACK, now, max(limit, context.batch_size))
        due = [task for task in owed if may_try(context.backoff, task, CALLBACK, now)][:limit]
        apps = context.callbacks()
        by_endpoint: dict[str, list[DeletionTask]] = {}
        for task in due:
            callback = apps.get(task.created_by)
            endpoint = f"app {task.created_by}" if callback is None else callback.url
            by_endpoint.setdefault(endpoint, []).append(task)
        return [functools.partial(self._send, sender, tasks) for tasks in by_endpoint.values()]

    def waiting(self) -> int:
        """The tasks still owing a callback (up to `MAX_PAGE`)."""
        now = self.context.clock.now()
        return len(self.context.store.awaiting(Awaiting.CALLBACK, now, MAX_PAGE))

    def _send(self, sender: CallbackSender, tasks: list[DeletionTask]) -> Deliveries:
        """The owed callbacks of *tasks*, each task's in order, each leased just before it is
        sent."""
        context, store = self.context, self.context.store
        report = Deliveries()
        failing: set[str] = set()
        for task in tasks:
            if task.created_by in failing:
                continue
            for kind in callbacks.owed_entries(task):
                now = context.clock.now()
                ids = [task.task_id]
                if not store.claim(kind, ids, context.holder, now, now + context.lease):
                    break  # another server holds it: the later ones wait, in order
                try:
                    outcome = self._deliver_one(sender, task, kind.split(".", 1)[1])
                finally:
                    store.release(kind, ids, context.holder)
                if outcome is False:
                    report.failed += 1
                    failing.add(task.created_by)
                    break
                report.delivered += outcome is True
        return report

    def _deliver_one(self, sender: CallbackSender, task: DeletionTask, event: str) -> bool | None:
        """Send one callback and record the outcome: True sent, False failed, None dropped
        (the app has no callback URL any more, or is revoked)."""
        context = self.context
        callback = context.callbacks().get(task.created_by)
        if callback is None:  # the cache may predate the registration: ask the store
            callback = context.store.callbacks().get(task.created_by)
        active = callback is not None and context.app(task.created_by)[1] is not None
        if callback is None or not active:
            reason = "no callback URL" if callback is None else "the app is revoked"
            context.settle(
                task.task_id,
                callbacks.entry(event),
                lambda t, at: callbacks.dropped(t, event, at, reason),
            )
            return None
        outcome = (
            task_outcome(task, task_jobs(context, task.task_id)) if task.completed_time else None
        )
        body = callbacks.callback_body(task, event, outcome)
        try:
            sender.send(callback, callbacks.event_id(task, event), body)
        except Exception as exc:  # noqa: BLE001 (any failure of a sender is an attempt's outcome)
            detail = exc.detail if isinstance(exc, DeliveryFailed) else type(exc).__name__
            logger.warning("callback %s for task %s failed: %s", event, task.task_id, detail)
            context.settle(
                task.task_id,
                callbacks.entry(event),
                lambda t, at: callbacks.failed(t, event, at, sender.name, detail),
            )
            return False
        context.settle(
            task.task_id,
            callbacks.entry(event),
            lambda t, at: callbacks.delivered(t, event, at, sender.name),
        )
        return True
