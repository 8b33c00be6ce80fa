"""Due dates: when a task's deletion is due, and an operator's extension of it.

Every task is due `Policy.due_at` its creation (30 days by default). An operator may extend
that, once or more, with a reason, while the task is neither finished nor past its due time,
and never beyond `Policy.latest_due` (`extension_limit` past the original due date).
"""

from __future__ import annotations

import datetime as dt

from . import _lifecycle as lifecycle
from ._errors import DecisionRefused, InvalidRequest
from ._policy import Policy
from ._task import DEADLINE_EXTENDED, DeletionTask, noted

DAY = dt.timedelta(days=1)


def check_days(days: object, policy: Policy) -> int:
    """An extension's length: a whole number of days, at least one (`InvalidRequest`), and
    no more than *policy*'s whole `extension_limit`, which no task could take
    (`DecisionRefused`). Checked before any date arithmetic, so that no number overflows it."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidRequest(f"an extension is a whole number of days, at least 1, got {days!r}")
    most = policy.extension_limit // DAY
    if days > most:
        shown = str(days) if days.bit_length() < 64 else "that many"  # str() has a limit
        raise DecisionRefused(
            f"an extension is at most {most} days (the policy's extension limit), not {shown}"
        )
    return days


def days_left_to_extend(task: DeletionTask, policy: Policy) -> int:
    """How many whole days *task*'s due date may still be extended by."""
    return max(0, (policy.latest_due(task.creation_time) - task.due_time) // DAY)


def extend_due(
    task: DeletionTask, now: dt.datetime, policy: Policy, by: str, days: int, reason: str
) -> DeletionTask:
    """*task* (caught up with *now* first) due *days* later, the extension recorded in its
    history as *by*'s, with *reason*. `DecisionRefused`, saying why, for a completed or
    cancelled task, a task whose due time has passed, or an extension past
    `Policy.latest_due`."""
    days = check_days(days, policy)
    task = lifecycle.catch_up(task, now, policy)
    if task.cancelled_time is not None:
        raise DecisionRefused(f"task {task.task_id} is cancelled: there is nothing to extend")
    if task.completed_time is not None:
        raise DecisionRefused(f"task {task.task_id} is completed: there is nothing to extend")
    if task.past_due(now):
        raise DecisionRefused(
            f"task {task.task_id} was due at {task.due_time.isoformat()}: a due date is "
            "extended before it passes, not after"
        )
    left = days_left_to_extend(task, policy)
    if days > left:  # compared as numbers: `due_time + days` is only computed when it fits
        latest = policy.latest_due(task.creation_time)
        raise DecisionRefused(
            f"task {task.task_id} cannot be due later than {latest.isoformat()}, "
            f"{policy.extension_limit.days} days after its original due date: it may be "
            f"extended by at most {left} more day(s), not {days}"
        )
    due = task.due_time + days * DAY
    detail = f"by {days} day(s) to {due.isoformat()}: {reason}"
    return noted(task, DEADLINE_EXTENDED, now, by, detail=detail, due_time=due)
