"""`TaskSummary`: a task as a page of a listing shows it, and its catch-up with the clock."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from ._lifecycle import _catch_up_by_machine, up_to_date
from ._policy import Policy
from ._status import Status
from ._task import SYSTEM, DeletionTask


class TaskSummary(NamedTuple):
    """A task's own fields that a page of a listing shows, and that its status and overdue
    flag follow from: none of its identifiers, history, outbox, creator, version or purge.

    Stores build these from their rows at volume (`TaskRecords.list_summaries`), with values
    already typed as `DeletionTask`'s converters type them (a `Status`, datetimes in
    `datetime.UTC`): nothing is converted. A named tuple, so that a row makes one in a
    single step; it is a value all the same (immutable, equal by its fields), and equal to a
    plain tuple of the same values. `of` is the summary of a whole task.
    """

    task_id: str
    account_id: str
    status: Status
    creation_time: dt.datetime
    ready_time: dt.datetime | None
    actioned_time: dt.datetime | None
    cancelled_time: dt.datetime | None
    completed_time: dt.datetime | None
    overdue_time: dt.datetime | None
    held_time: dt.datetime | None
    due_time: dt.datetime

    @classmethod
    def of(cls, task: DeletionTask) -> TaskSummary:
        """The summary of *task*."""
        return cls(
            task.task_id,
            task.account_id,
            task.status,
            task.creation_time,
            task.ready_time,
            task.actioned_time,
            task.cancelled_time,
            task.completed_time,
            task.overdue_time,
            task.held_time,
            task.due_time,
        )

    @property
    def overdue(self) -> bool:
        """`DeletionTask.overdue`: marked overdue and not completed since."""
        return self.overdue_time is not None and self.completed_time is None

    def past_due(self, now: dt.datetime) -> bool:
        """`DeletionTask.past_due`: *now* is at or past the due time."""
        return now >= self.due_time

    def as_task(self) -> DeletionTask:
        """A task with these fields and nothing else: no identifiers, no history, an empty
        outbox, `SYSTEM` as its creator, version 1. What the lifecycle reads to move a task
        on is all here, so the machine moves it as it would move the whole task."""
        return DeletionTask.from_fields(
            self.task_id,
            self.account_id,
            self.status,
            self.creation_time,
            frozenset(),
            self.ready_time,
            self.actioned_time,
            self.cancelled_time,
            SYSTEM,
            1,
            (),
            frozenset(),
            self.completed_time,
            self.overdue_time,
            None,
            self.held_time,
            self.due_time,
        )


def catch_up_summary(summary: TaskSummary, now: dt.datetime, policy: Policy) -> TaskSummary:
    """`catch_up` of a summary: *summary* itself when nothing is due at *now* (`up_to_date`),
    else the summary of its task caught up through the machine (`as_task`)."""
    if up_to_date(summary, now, policy):
        return summary
    return TaskSummary.of(_catch_up_by_machine(summary.as_task(), now, policy))
