from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from ._clock import as_utc
from ._policy import DUE_PERIOD
from ._status import Status

SYSTEM = "system"
"""The `by` of a transition that time caused rather than a caller."""


def frozen_strings(values: Iterable[str]) -> frozenset[str]:
    return values if type(values) is frozenset else frozenset(values)


TRANSITION = "transition"
CREATED = "created"
"""The first entry of every task's history: who asked for the deletion, and when."""
HELD = "held"
"""An operator put the task on hold: it is not handed off until released."""
RELEASED = "released"
"""An operator ended a hold."""
DEADLINE_EXTENDED = "deadline_extended"
"""An operator extended the task's due date; the detail says by how long, to when, and why."""
REVIEW = "review"
"""The outbox entry for the alert that asks operators to review a task that became ready."""
HANDOFF = "handoff"
"""The outbox entry for the hand-off of an actioned task to the deleter."""
CALLBACK = "callback"
"""The prefix of the outbox entries for status callbacks to the app that created the task:
`callback.ready`, `callback.actioned`, `callback.deadline_extended`, `callback.cancelled`,
`callback.completed`."""
EVENTS = frozenset(
    {
        CREATED,
        TRANSITION,
        HELD,
        RELEASED,
        DEADLINE_EXTENDED,
        "review.delivered",
        "review.failed",
        "handoff.delivered",
        "handoff.failed",
        "completed",
        "overdue",
        "purged",
        "callback.delivered",
        "callback.failed",
        "callback.dropped",
        "destination.skipped",
        "destination.retried",
    }
)
"""Every kind of history entry."""


def _status(value: str) -> Status:
    return value if type(value) is Status else Status(value)


def _utc(value: dt.datetime) -> dt.datetime:
    return as_utc(value, "time")


def _utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else as_utc(value, "time")


@attrs.frozen
class Transition:
    """One step of a task's history: from which status to which, when, and who caused it."""

    source: Status = attrs.field(converter=_status)
    dest: Status = attrs.field(converter=_status)
    at: dt.datetime = attrs.field(converter=_utc)
    by: str
    """An app id, `SYSTEM` when the passing of time caused the step, or the deliverer's name."""
    event: str = TRANSITION
    """`transition` for a change of status; otherwise what happened to the task while its
    status stayed put (`source == dest`): see `EVENTS`."""
    detail: str = ""
    """A short, identifier-free note, such as why a delivery failed."""


_new = object.__new__
_set = object.__setattr__


def _default_due(task: DeletionTask) -> dt.datetime:
    return task.creation_time + DUE_PERIOD


def _steps(values: Iterable[Transition]) -> tuple[Transition, ...]:
    return values if type(values) is tuple else tuple(values)


@attrs.frozen
class DeletionTask:
    """A deletion request as stored: never holds a raw email, only SHA-256 hashes (base64).

    Instances are values. The lifecycle machine (`deletion_requests._lifecycle`) is the only code
    that produces a task with a different status; stores and the service only carry them.
    """

    task_id: str
    account_id: str
    status: Status = attrs.field(converter=_status)
    creation_time: dt.datetime = attrs.field(converter=_utc)
    identifiers: frozenset[str] = attrs.field(converter=frozen_strings)
    ready_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    actioned_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    cancelled_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    created_by: str = SYSTEM
    """The app that asked for the deletion."""
    version: int = 1
    """Bumped by every stored change; stores compare-and-set on it."""
    history: tuple[Transition, ...] = attrs.field(default=(), converter=_steps)
    outbox: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_strings)
    """Messages owed to the outside world (`REVIEW`, `HANDOFF`): written with the transition
    that owes them, in the same version, and removed once delivered. A transactional outbox
    that every store gets for free, since it is part of the task it writes atomically."""
    completed_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """When the deleter reported the deletion done."""
    overdue_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """When the task became overdue (handed off, past its `due_time`, not completed), once
    recorded."""
    purged_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """When the identifier hashes were deleted (completion + retention); `identifiers` is then
    empty, and the rest of the task stays for audit."""
    held_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """When the hold the task is under began; None when it is not held. A held task is never
    handed off (see `docs/lifecycle.md`)."""
    due_time: dt.datetime = attrs.field(
        default=attrs.Factory(_default_due, takes_self=True), converter=_utc
    )
    """When the deletion is due: creation plus the policy's `due_period` (`Policy.due_at`),
    later by any extensions an operator made. Past it with work still open, the task is
    overdue. Without a value, creation plus the default policy's 30 days."""

    @property
    def overdue(self) -> bool:
        """Flagged overdue: marked overdue (its due time passed while it was handed off with
        work open) and not completed since. A task caught up with the clock is flagged
        exactly when it is past due with a job still open."""
        return self.overdue_time is not None and self.completed_time is None

    def past_due(self, now: dt.datetime) -> bool:
        """Whether *now* is at or past the task's due time: the one comparison behind the
        overdue mark, a late job and the end of extensions."""
        return now >= self.due_time

    @classmethod
    def from_fields(
        cls,
        task_id: str,
        account_id: str,
        status: Status,
        creation_time: dt.datetime,
        identifiers: frozenset[str],
        ready_time: dt.datetime | None,
        actioned_time: dt.datetime | None,
        cancelled_time: dt.datetime | None,
        created_by: str,
        version: int,
        history: tuple[Transition, ...],
        outbox: frozenset[str],
        completed_time: dt.datetime | None,
        overdue_time: dt.datetime | None,
        purged_time: dt.datetime | None,
        held_time: dt.datetime | None,
        due_time: dt.datetime,
    ) -> DeletionTask:
        """The task of these fields, in the order of the class's, without the converters: for a
        store building tasks at volume from values it has already typed as the converters
        would (a `Status`, datetimes whose `tzinfo` is `datetime.UTC` or None, frozensets, a
        tuple of `Transition`). Equal to `DeletionTask(...)` of the same values; given anything
        else, the result is not a valid task, so values from outside go through the
        initialiser."""
        task = _new(cls)
        _set(task, "task_id", task_id)
        _set(task, "account_id", account_id)
        _set(task, "status", status)
        _set(task, "creation_time", creation_time)
        _set(task, "identifiers", identifiers)
        _set(task, "ready_time", ready_time)
        _set(task, "actioned_time", actioned_time)
        _set(task, "cancelled_time", cancelled_time)
        _set(task, "created_by", created_by)
        _set(task, "version", version)
        _set(task, "history", history)
        _set(task, "outbox", outbox)
        _set(task, "completed_time", completed_time)
        _set(task, "overdue_time", overdue_time)
        _set(task, "purged_time", purged_time)
        _set(task, "held_time", held_time)
        _set(task, "due_time", due_time)
        return task

    def __repr__(self) -> str:
        # Keep identifier hashes out of reprs, and so out of tracebacks and logs.
        return (
            f"DeletionTask(task_id={self.task_id!r}, account_id={self.account_id!r}, "
            f"status={self.status.value!r}, version={self.version}, "
            f"identifiers=<{len(self.identifiers)}>)"
        )


def as_successor(stored: DeletionTask, new: DeletionTask) -> DeletionTask:
    """*new* as the one version that follows *stored*, however many steps made it (each step
    bumps the version; compare-and-set wants exactly one more than the stored one)."""
    if new.version == stored.version + 1:
        return new
    return attrs.evolve(new, version=stored.version + 1)


def noted(
    task: DeletionTask, event: str, at: dt.datetime, by: str, detail: str = "", **changes: Any
) -> DeletionTask:
    """The next version of *task*, its status unchanged, with a history entry of *event* by
    *by* at *at* (and its *detail*), and with *changes* to its fields."""
    entry = Transition(task.status, task.status, at, by, event=event, detail=detail)
    return attrs.evolve(task, version=task.version + 1, history=(*task.history, entry), **changes)
