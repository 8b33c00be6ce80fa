"""The values the task ports speak in, and the reference semantics of their queries.

Each reference function says, by scanning tasks, what a store's indexed answer must equal; the
contract suite compares every store with them, and a store may answer with them directly.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

import attrs

from ._policy import due_status
from ._status import Status
from ._task import DeletionTask, frozen_strings

Cursor = tuple[dt.datetime, str]
"""A keyset position: (creation_time, task_id) of the last task of the previous page."""


@attrs.frozen
class TaskQuery:
    """Which tasks to list, newest first by (creation_time, task_id), or oldest first when
    `oldest_first` is set.

    `cancelled`: True for cancelled tasks only, False for tasks never cancelled, None for both;
    `held` likewise for tasks on hold, and `completed` for completed ones. `created_after` is
    exclusive and `created_at_or_before` inclusive. `before` keeps the tasks strictly before the
    given keyset position, `after` those strictly after it: a newest-first listing continues
    with `before` its last task, an oldest-first one with `after` it.
    """

    accounts: frozenset[str] = attrs.field(converter=frozen_strings)
    cancelled: bool | None = None
    created_after: dt.datetime | None = None
    created_at_or_before: dt.datetime | None = None
    before: Cursor | None = None
    limit: int = 100
    held: bool | None = None
    completed: bool | None = None
    oldest_first: bool = False
    after: Cursor | None = None

    def matches(self, task: DeletionTask) -> bool:
        """The reference semantics of the query for one task (ordering and limit aside)."""
        if task.account_id not in self.accounts:
            return False
        if self.cancelled is not None and (task.cancelled_time is not None) != self.cancelled:
            return False
        if self.held is not None and (task.held_time is not None) != self.held:
            return False
        if self.completed is not None and (task.completed_time is not None) != self.completed:
            return False
        if self.created_after is not None and task.creation_time <= self.created_after:
            return False
        if self.created_at_or_before is not None and task.creation_time > self.created_at_or_before:
            return False
        if self.after is not None and (task.creation_time, task.task_id) <= self.after:
            return False
        return self.before is None or (task.creation_time, task.task_id) < self.before


class Awaiting(enum.Enum):
    """What `Outbox.awaiting` looks for: the stored tasks some later step still has to touch."""

    HANDOFF = "handoff"
    """`handoff` is in the outbox (cutoff ignored)."""
    REVIEW = "review"
    """`review` is in the outbox (cutoff ignored)."""
    CALLBACK = "callback"
    """A status callback (`callback.<event>`) is in the outbox (cutoff ignored)."""
    OVERDUE = "overdue"
    """Actioned, not completed, not yet marked overdue, due_time <= cutoff."""
    INCOMPLETE = "incomplete"
    """Actioned, not completed, due_time <= cutoff (overdue ones, for operators)."""
    PURGE = "purge"
    """Completed, not purged, completed_time <= cutoff."""
    PURGE_CANCELLED = "purge-cancelled"
    """Cancelled, not purged, cancelled_time <= cutoff."""
    PURGE_DELIVERED = "purge-delivered"
    """Actioned, its hand-off delivered (not in the outbox) but not completed, not purged,
    actioned_time <= cutoff. Candidates only: the hand-off was delivered after it was
    actioned, and `purge` decides by the delivery's time in the history."""

    def matches(self, task: DeletionTask, cutoff: dt.datetime) -> bool:
        """The reference semantics of the query for one task."""
        if self is Awaiting.HANDOFF or self is Awaiting.REVIEW:
            return self.value in task.outbox
        if self is Awaiting.CALLBACK:
            return any(kind.startswith("callback.") for kind in task.outbox)
        if self is Awaiting.PURGE_CANCELLED:
            return (
                task.purged_time is None
                and task.cancelled_time is not None
                and task.cancelled_time <= cutoff
            )
        if self is Awaiting.PURGE_DELIVERED:
            return (
                task.purged_time is None
                and task.status == "actioned"
                and task.completed_time is None
                and "handoff" not in task.outbox
                and task.actioned_time is not None
                and task.actioned_time <= cutoff
            )
        if self is Awaiting.PURGE:
            return (
                task.purged_time is None
                and task.completed_time is not None
                and task.completed_time <= cutoff
            )
        return (
            task.status == "actioned"
            and task.completed_time is None
            and (self is Awaiting.INCOMPLETE or task.overdue_time is None)
            and task.due_time <= cutoff
        )


def counted_status(
    task: DeletionTask, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime
) -> str:
    """The reference semantics of `Reports.count_tasks` for one task: its stored status,
    moved on as `due` would move it (the status `due_status` gives it at the cutoffs, never
    behind the stored one)."""
    if task.status in ("pending", "ready"):
        held = task.held_time is not None
        due = due_status(task.creation_time, pending_cutoff, ready_cutoff, held)
        return task.status if due is Status.PENDING else due.value
    return task.status


def status_counts(
    tasks: Iterable[DeletionTask], pending_cutoff: dt.datetime, ready_cutoff: dt.datetime
) -> dict[str, int]:
    """The reference semantics of `Reports.count_tasks`, by scanning *tasks*."""
    counts = dict.fromkeys([*(s.value for s in Status), "held", "purged", "completed"], 0)
    for task in tasks:
        counts[counted_status(task, pending_cutoff, ready_cutoff)] += 1
        counts["held"] += task.held_time is not None
        counts["purged"] += task.purged_time is not None
        counts["completed"] += task.completed_time is not None
    return counts


@attrs.frozen
class DayCount:
    """What happened on one UTC day: tasks created, cancelled, actioned, completed, and
    marked overdue."""

    day: dt.date
    created: int = 0
    cancelled: int = 0
    actioned: int = 0
    completed: int = 0
    overdue: int = 0


def day_counts(tasks: Iterable[DeletionTask], since: dt.datetime) -> list[DayCount]:
    """The reference semantics of `Reports.daily_counts`, by scanning *tasks*."""
    days: dict[dt.date, list[int]] = {}
    for task in tasks:
        moments = (
            task.creation_time,
            task.cancelled_time,
            task.actioned_time,
            task.completed_time,
            task.overdue_time,
        )
        for i, moment in enumerate(moments):
            if moment is not None and moment >= since:
                days.setdefault(moment.date(), [0] * len(moments))[i] += 1
    return [DayCount(day, *counts) for day, counts in sorted(days.items())]


@attrs.frozen
class Backlog:
    """The messages of one kind still owed: how many, and since when the oldest is owed (its
    task's `ready_time` for a review alert, `actioned_time` for a hand-off)."""

    count: int = 0
    oldest: dt.datetime | None = None


def owed_since(task: DeletionTask, kind: str) -> dt.datetime | None:
    """When *task* began to owe *kind*: the reference semantics of `Backlog.oldest`."""
    return task.ready_time if kind == "review" else task.actioned_time


def backlog_of(tasks: Iterable[DeletionTask], kind: str) -> Backlog:
    """The reference semantics of `Outbox.backlog`, by scanning *tasks*."""
    owed = [task for task in tasks if kind in task.outbox]
    moments = [m for m in (owed_since(task, kind) for task in owed) if m is not None]
    return Backlog(len(owed), min(moments, default=None))


def replaces(stored: DeletionTask | None, task: DeletionTask) -> bool:
    """The compare-and-set rule of `TaskRecords.update`: *task* may overwrite *stored*."""
    return (
        stored is not None
        and stored.version == task.version - 1
        and stored.account_id == task.account_id
        and stored.creation_time == task.creation_time
    )
