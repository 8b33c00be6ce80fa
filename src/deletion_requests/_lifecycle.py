"""The lifecycle of a deletion task, declared once, as data, on one shared `transitions` machine.

Nothing else in the project changes a task's status. The machine is built once at import; each
operation moves a short-lived `_Subject` through it with `Event.trigger`, so no model is ever
added to (or kept by) the machine, and no machine is built per task or per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Final

import attrs
from transitions import EventData, Machine

from ._errors import DeadlineExceeded
from ._policy import Policy
from ._status import Status
from ._task import SYSTEM, DeletionTask, Transition

INITIAL: Final = Status.PENDING
FINAL: Final = frozenset({Status.ACTIONED, Status.CANCELLED})


def pending_period_over(event: EventData) -> bool:
    """become_ready guard: now >= creation + pending_period."""
    subject: _Subject = event.model
    return bool(event.kwargs["now"] >= subject.policy.ready_at(subject.task.creation_time))


def review_period_over(event: EventData) -> bool:
    """hand_off guard: now >= ready + review_period."""
    subject: _Subject = event.model
    ready_time = subject.task.ready_time
    assert ready_time is not None  # a ready task always has its ready time
    return bool(event.kwargs["now"] >= ready_time + subject.policy.review_period)


def before_deadline(event: EventData) -> bool:
    """cancel guard: now < creation + pending_period + review_period."""
    subject: _Subject = event.model
    return bool(event.kwargs["now"] < subject.policy.actioned_at(subject.task.creation_time))


TRANSITIONS: Final[list[dict[str, Any]]] = [
    {
        "trigger": "become_ready",
        "source": Status.PENDING.value,
        "dest": Status.READY.value,
        "conditions": [pending_period_over],
    },
    {
        "trigger": "hand_off",
        "source": Status.READY.value,
        "dest": Status.ACTIONED.value,
        "conditions": [review_period_over],
    },
    {
        "trigger": "cancel",
        "source": [Status.PENDING.value, Status.READY.value],
        "dest": Status.CANCELLED.value,
        "conditions": [before_deadline],
    },
]

MACHINE_OPTIONS: Final[dict[str, Any]] = {
    "states": [status.value for status in Status],
    "initial": INITIAL.value,
    "transitions": TRANSITIONS,
    "auto_transitions": False,
    "send_event": True,
    "ignore_invalid_triggers": False,
}


class _Subject:
    """The mutable stand-in the machine moves for the span of one trigger."""

    __slots__ = ("by", "policy", "state", "stamp", "task")

    def __init__(self, task: DeletionTask, policy: Policy) -> None:
        self.task = task
        self.policy = policy
        self.state: str = task.status.value
        self.stamp: dt.datetime = task.creation_time
        self.by = SYSTEM


def _record(event: EventData) -> None:
    """after-callback of every transition: stamp the time and append to the history."""
    subject: _Subject = event.model
    task = subject.task
    source = Status(event.transition.source)
    dest = Status(event.transition.dest)
    at = subject.stamp
    times: dict[str, dt.datetime] = {
        Status.READY: {"ready_time": at},
        Status.ACTIONED: {"actioned_time": at},
        Status.CANCELLED: {"cancelled_time": at},
    }[dest]
    subject.task = attrs.evolve(
        task,
        status=dest,
        history=(*task.history, Transition(source=source, dest=dest, at=at, by=subject.by)),
        **times,
    )


def _build_machine() -> Machine:
    machine = Machine(model=None, after_state_change=[_record], **MACHINE_OPTIONS)
    _check(machine)
    return machine


def _check(machine: Machine) -> None:
    """Refuse a malformed lifecycle when it is declared, as python-statemachine does."""
    edges: dict[str, set[str]] = {name: set() for name in machine.states}
    for event in machine.events.values():
        for source, transitions in event.transitions.items():
            edges[source].update(t.dest for t in transitions)
    for final in FINAL:
        if edges[final.value]:
            raise AssertionError(f"final state {final} has outgoing transitions")
    for state in machine.states:
        seen, todo = {state}, [state]
        while todo:
            for nxt in edges[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        if not seen & {s.value for s in FINAL}:
            raise AssertionError(f"state {state} cannot reach a final state")


MACHINE: Final = _build_machine()


def _fire(subject: _Subject, trigger: str, now: dt.datetime) -> bool:
    """Fire *trigger* on the shared machine; False when its guard refuses."""
    return bool(MACHINE.events[trigger].trigger(subject, now=now))


def catch_up(task: DeletionTask, now: dt.datetime, policy: Policy) -> DeletionTask:
    """Fire every transition that time has made due, stamping each at its *scheduled* time.

    Returns *task* itself when nothing was due. The result's version is unchanged: the caller
    decides whether and how to store it.
    """
    subject = _Subject(task, policy)
    subject.stamp = policy.ready_at(task.creation_time)
    if subject.state == Status.PENDING:
        _fire(subject, "become_ready", now)
    if subject.state == Status.READY:
        ready_time = subject.task.ready_time
        assert ready_time is not None
        subject.stamp = ready_time + policy.review_period
        _fire(subject, "hand_off", now)
    return subject.task


def cancel(task: DeletionTask, now: dt.datetime, policy: Policy, by: str) -> DeletionTask:
    """Cancel a task that is up to date with *now* (see `catch_up`).

    An already cancelled task is returned unchanged (cancelling is idempotent). A task past its
    `ready` state, or due to be, raises `DeadlineExceeded`.
    """
    if task.status is Status.CANCELLED:
        return task
    subject = _Subject(task, policy)
    subject.stamp = now
    subject.by = by
    if subject.state in (Status.PENDING, Status.READY) and _fire(subject, "cancel", now):
        return subject.task
    deadline = policy.actioned_at(task.creation_time)
    raise DeadlineExceeded(
        f"task {task.task_id} cannot be cancelled: it is past its pending and ready states "
        f"(the cancel deadline was {deadline.isoformat()})"
    )


def new_transitions(before: DeletionTask, after: DeletionTask) -> Iterator[Transition]:
    """The history entries *after* gained over *before*."""
    return iter(after.history[len(before.history) :])


def status_at(
    creation_time: dt.datetime,
    cancelled_time: dt.datetime | None,
    now: dt.datetime,
    policy: Policy,
) -> Status:
    """The reference: the status a caller sees is a pure function of these arguments."""
    if cancelled_time is not None and cancelled_time <= now:
        return Status.CANCELLED
    if now >= policy.actioned_at(creation_time):
        return Status.ACTIONED
    if now >= policy.ready_at(creation_time):
        return Status.READY
    return Status.PENDING
