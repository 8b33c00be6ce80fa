"""Use case: deliver the status callbacks the tasks owe their apps, each task's in order."""

from __future__ import annotations

import logging

import attrs

from . import _callbacks as callbacks
from ._callbacks import CallbackSender
from ._context import MAX_PAGE, Context, Deliveries, may_try
from ._handoff import DeliveryFailed
from ._ports import Awaiting
from ._task import CALLBACK, DeletionTask

logger = logging.getLogger("deletion_requests.service")


@attrs.define
class CallbackDelivery:
    """Sends owed status callbacks with a `CallbackSender` and records each outcome."""

    context: Context

    def deliver(self, sender: CallbackSender, limit: int, report: Deliveries) -> None:
        """Up to *limit* tasks' owed callbacks, each task's in the order they happened, counted
        into *report*; an app whose callback failed is skipped for the rest of the round."""
        context, store = self.context, self.context.store
        now = context.clock.now()
        owed = store.awaiting(Awaiting.CALLBACK, now, max(limit, context.batch_size))
        due = [task for task in owed if may_try(context.backoff, task, CALLBACK, now)][:limit]
        failing: set[str] = set()
        for task in due:
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
        report.waiting += len(store.awaiting(Awaiting.CALLBACK, now, MAX_PAGE))

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
        body = callbacks.callback_body(task, event)
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
