"""Telling the world about transitions, after they are stored."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import attrs

from ._status import Status

logger = logging.getLogger("deletion_requests.events")


@attrs.frozen
class LifecycleEvent:
    """A stored step of a task's history: `status` is the state the task is in after it.

    For `event == "transition"`: `ready`, operators are alerted to review the task; `actioned`,
    the task is handed to the systems that delete the data; `cancelled`, a client withdrew it.
    Other events (`overdue`, `completed`, `purged`, `handoff.delivered`, `handoff.failed`, ...)
    leave the status as it was. Carries ids and times only, never identifiers.
    """

    task_id: str
    account_id: str
    status: Status
    at: dt.datetime
    by: str
    event: str = "transition"


Subscriber = Callable[[LifecycleEvent], None]


def log_event(event: LifecycleEvent) -> None:
    """The default subscriber: one log record per stored history entry, ids and times only,
    with them as fields (`task_id`, `account_id`, `status`, `event`, `at`, `by`)."""
    fields = {
        "task_id": event.task_id,
        "account_id": event.account_id,
        "status": event.status.value,
        "event": event.event,
        "at": event.at.isoformat(),
        "by": event.by,
    }
    if event.event == "transition":
        logger.info(
            "task %s of account %s is %s (at %s, by %s)",
            event.task_id,
            event.account_id,
            event.status.value,
            event.at.isoformat(),
            event.by,
            extra=fields,
        )
    else:
        log = logger.warning if event.event in ("overdue", "handoff.failed") else logger.info
        log(
            "task %s of account %s: %s (at %s, by %s)",
            event.task_id,
            event.account_id,
            event.event,
            event.at.isoformat(),
            event.by,
            extra=fields,
        )
