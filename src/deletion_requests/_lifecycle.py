"""The lifecycle of a deletion task, declared once, as data, on one shared `transitions` machine.

Nothing else in the project changes a task's status. The machine is built once at import; each
operation moves a short-lived `_Subject` through it with `Event.trigger`, so no model is ever
added to (or kept by) the machine, and no machine is built per task or per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, cast

from transitions import EventData, Machine

from ._errors import DeadlineExceeded, DecisionRefused
from ._handoff import mark_overdue
from ._policy import Policy, status_at
from ._status import Status
from ._task import HANDOFF, HELD, RELEASED, REVIEW, SYSTEM, DeletionTask, Transition, as_successor

if TYPE_CHECKING:
    from ._summary import TaskSummary

INITIAL: Final = Status.PENDING
FINAL: Final = frozenset({Status.ACTIONED, Status.CANCELLED})


def pending_period_over(event: EventData) -> bool:
    """become_ready guard: now >= creation + pending_period."""
    subject = cast(_Subject, event.model)
    return bool(event.kwargs["now"] >= subject.policy.ready_at(subject.task.creation_time))


def review_period_over(event: EventData) -> bool:
    """hand_off guard: now >= ready + review_period."""
    subject = cast(_Subject, event.model)
    ready_time = subject.ready_time
    assert ready_time is not None  # a ready task always has its ready time
    return bool(event.kwargs["now"] >= ready_time + subject.policy.review_period)


def before_deadline_or_held(event: EventData) -> bool:
    """cancel guard: now < creation + pending_period + review_period, or the task is held (a
    held task is never handed off, so it can still be cancelled)."""
    subject = cast(_Subject, event.model)
    if subject.held_time is not None:
        return True
    return bool(event.kwargs["now"] < subject.policy.actioned_at(subject.task.creation_time))


def not_held(event: EventData) -> bool:
    """hand_off and hold guard: the task is not on hold."""
    return cast(_Subject, event.model).held_time is None


def is_held(event: EventData) -> bool:
    """release guard: the task is on hold."""
    return cast(_Subject, event.model).held_time is not None


def _held(event: EventData) -> None:
    """after-callback of `hold`: the hold begins now, by an operator, for a reason."""
    subject = cast(_Subject, event.model)
    subject.changes["held_time"] = subject.stamp
    subject.note(HELD)


def _released(event: EventData) -> None:
    """after-callback of `release`: the hold ends."""
    subject = cast(_Subject, event.model)
    subject.changes["held_time"] = None
    subject.note(RELEASED)


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
        "conditions": [review_period_over, not_held],
    },
    {
        "trigger": "cancel",
        "source": [Status.PENDING.value, Status.READY.value],
        "dest": Status.CANCELLED.value,
        "conditions": [before_deadline_or_held],
    },
    # Holds keep the status the client knows: internal transitions (no change of state).
    {
        "trigger": "hold",
        "source": [Status.PENDING.value, Status.READY.value],
        "dest": None,
        "conditions": [not_held],
        "after": [_held],
    },
    {
        "trigger": "release",
        "source": [Status.PENDING.value, Status.READY.value],
        "dest": None,
        "conditions": [is_held],
        "after": [_released],
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


_STATUS: Final = {status.value: status for status in Status}


class _Subject:
    """The mutable stand-in the machine moves for the span of one operation.

    `_record` collects each transition's changes here; `result()` turns them into one new task.
    """

    __slots__ = ("by", "changes", "detail", "policy", "stamp", "state", "steps", "task")

    def __init__(self, task: DeletionTask, policy: Policy) -> None:
        self.task = task
        self.policy = policy
        self.state: str = task.status.value
        self.stamp: dt.datetime = task.creation_time
        self.by = SYSTEM
        self.detail = ""
        self.changes: dict[str, Any] = {}
        self.steps: list[Transition] = []

    @property
    def ready_time(self) -> dt.datetime | None:
        ready_time: dt.datetime | None = self.changes.get("ready_time", self.task.ready_time)
        return ready_time

    @property
    def held_time(self) -> dt.datetime | None:
        held_time: dt.datetime | None = self.changes.get("held_time", self.task.held_time)
        return held_time

    def note(self, event: str) -> None:
        """A history entry for an event that leaves the status as it is."""
        status = _STATUS[self.state]
        self.steps.append(Transition(status, status, self.stamp, self.by, event, self.detail))

    def result(self) -> DeletionTask:
        if not self.steps:
            return self.task
        task, changes = self.task, self.changes
        # Built field by field rather than with attrs.evolve: this is the hottest constructor.
        return DeletionTask(
            task_id=task.task_id,
            account_id=task.account_id,
            status=_STATUS[self.state],
            creation_time=task.creation_time,
            identifiers=task.identifiers,
            ready_time=changes.get("ready_time", task.ready_time),
            actioned_time=changes.get("actioned_time", task.actioned_time),
            cancelled_time=changes.get("cancelled_time", task.cancelled_time),
            created_by=task.created_by,
            version=task.version + 1,
            history=(*task.history, *self.steps),
            outbox=changes.get("outbox", task.outbox),
            completed_time=task.completed_time,
            overdue_time=task.overdue_time,
            purged_time=task.purged_time,
            held_time=changes.get("held_time", task.held_time),
            due_time=task.due_time,
        )


_OWED: Final = {
    Status.READY.value: frozenset({REVIEW}),
    Status.ACTIONED.value: frozenset({HANDOFF}),
}
"""The outbox entry each transition writes: operators review a ready task; the deleter gets an
actioned one."""

_CANCELLED: Final = Status.CANCELLED.value
_REVIEW_ONLY: Final = frozenset({REVIEW})

_TIME_FIELD: Final = {
    Status.READY.value: "ready_time",
    Status.ACTIONED.value: "actioned_time",
    Status.CANCELLED.value: "cancelled_time",
}


def _record(event: EventData) -> None:
    """after-callback of every transition: stamp the time, append to the history, and put
    what the transition owes the outside world in the outbox (the same version, so the same
    atomic write). A review alert not yet sent is withdrawn, and a hold ended, when the task is
    cancelled."""
    subject = cast(_Subject, event.model)
    step = event.transition
    assert step is not None  # after_state_change runs only inside a transition
    if step.dest is None:
        return  # an internal transition (hold, release) records itself
    dest = step.dest
    changes = subject.changes
    changes[_TIME_FIELD[dest]] = subject.stamp
    owed = _OWED.get(dest)
    if owed is not None:
        changes["outbox"] = changes.get("outbox", subject.task.outbox) | owed
    elif dest == _CANCELLED:
        outbox: frozenset[str] = changes.get("outbox", subject.task.outbox)
        if REVIEW in outbox:
            changes["outbox"] = outbox - _REVIEW_ONLY
        changes["held_time"] = None  # a cancel ends a hold
    subject.steps.append(
        Transition(
            _STATUS[step.source], _STATUS[dest], subject.stamp, subject.by, detail=subject.detail
        )
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
            # internal transitions (hold, release) lead nowhere else
            edges[source].update(t.dest for t in transitions if t.dest is not None)
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

    A task handed off, past its `due_time` and not completed is also marked overdue
    (`_handoff.mark_overdue`), so every read shows it.

    Returns *task* itself when nothing was due, else its successor: one version higher, ready
    to be stored by compare-and-set. Whether to store it is the caller's choice.

    When nothing is due (`up_to_date`), *task* is returned as it is, without the machine,
    which stays the one place a status changes; a property test holds the two paths to the
    same result.
    """
    if up_to_date(task, now, policy):
        return task
    return _catch_up_by_machine(task, now, policy)


def up_to_date(task: DeletionTask | TaskSummary, now: dt.datetime, policy: Policy) -> bool:
    """Whether nothing is due for *task* at *now*: the status the clock gives is the stored
    one, and no overdue mark is owed. Read on the task's own fields, without the machine."""
    creation_time = task.creation_time
    cancelled_time = task.cancelled_time
    if cancelled_time is not None and cancelled_time <= now:
        due = Status.CANCELLED
    elif creation_time <= now - policy.cancel_period and task.held_time is None:
        due = Status.ACTIONED
    elif creation_time <= now - policy.pending_period:
        due = Status.READY
    else:
        due = Status.PENDING
    return due is task.status and not _overdue_owed(task, now, policy)


def _overdue_owed(task: DeletionTask | TaskSummary, now: dt.datetime, policy: Policy) -> bool:
    """Whether *task* is handed off, not completed, past its due time, and not yet marked
    overdue."""
    return (
        task.actioned_time is not None
        and task.overdue_time is None
        and task.completed_time is None
        and task.past_due(now)
    )


def _catch_up_by_machine(task: DeletionTask, now: dt.datetime, policy: Policy) -> DeletionTask:
    """`catch_up` through the machine, whatever is due: the whole path."""
    result = _caught_up(task, now, policy).result()
    if _overdue_owed(result, now, policy):
        result = as_successor(task, mark_overdue(result, now, policy))
    return result


def _caught_up(task: DeletionTask, now: dt.datetime, policy: Policy) -> _Subject:
    subject = _Subject(task, policy)
    held = task.held_time is not None
    if status_at(task.creation_time, task.cancelled_time, now, policy, held) is task.status:
        return subject  # nothing is due: the common case, without a trigger
    if subject.state == Status.PENDING:
        subject.stamp = policy.ready_at(task.creation_time)
        _fire(subject, "become_ready", now)
    if subject.state == Status.READY and not held and now >= policy.actioned_at(task.creation_time):
        # Only when the reference says the hand-off is due: a guard that would refuse costs a
        # whole trigger. The machine's guard still decides.
        ready_time = subject.ready_time
        assert ready_time is not None
        subject.stamp = ready_time + policy.review_period
        _fire(subject, "hand_off", now)
    return subject


def cancel(
    task: DeletionTask, now: dt.datetime, policy: Policy, by: str, reason: str = ""
) -> DeletionTask:
    """Catch *task* up with *now*, then cancel it; the result is the successor version. The
    cancel's history entry names *by* and, for an operator's decision, the *reason*.

    An already cancelled task is returned unchanged (cancelling is idempotent). A task past its
    `ready` state, or due to be, raises `DeadlineExceeded`.
    """
    if task.status is Status.CANCELLED:
        return task
    subject = _caught_up(task, now, policy)
    subject.stamp = now
    subject.by = by
    subject.detail = reason
    if subject.state in (Status.PENDING, Status.READY) and _fire(subject, "cancel", now):
        return subject.result()
    deadline = policy.actioned_at(task.creation_time)
    raise DeadlineExceeded(
        f"task {task.task_id} cannot be cancelled: it is past its pending and ready states "
        f"(the cancel deadline was {deadline.isoformat()})"
    )


def hold(
    task: DeletionTask, now: dt.datetime, policy: Policy, by: str, reason: str
) -> DeletionTask:
    """Put *task* on hold (caught up with *now* first): it stays pending or ready, and is not
    handed off until released. `DecisionRefused` for a task actioned, cancelled or already
    held."""
    subject = _caught_up(task, now, policy)
    subject.stamp, subject.by, subject.detail = now, by, reason
    if subject.state in (Status.PENDING, Status.READY) and _fire(subject, "hold", now):
        return subject.result()
    if subject.held_time is not None:
        raise DecisionRefused(f"task {task.task_id} is already on hold")
    raise DecisionRefused(
        f"task {task.task_id} is {subject.state}: only a pending or ready task can be held"
    )


def release(
    task: DeletionTask, now: dt.datetime, policy: Policy, by: str, reason: str = ""
) -> DeletionTask:
    """End *task*'s hold. If its hand-off moment passed while it was held, it is actioned now
    (`actionedTime` is the release); otherwise its times stand as they were. `DecisionRefused`
    for a task not on hold."""
    subject = _caught_up(task, now, policy)
    subject.stamp, subject.by, subject.detail = now, by, reason
    if subject.state not in (Status.PENDING, Status.READY) or not _fire(subject, "release", now):
        raise DecisionRefused(f"task {task.task_id} is not on hold")
    if subject.state == Status.READY and now >= policy.actioned_at(task.creation_time):
        subject.by, subject.detail = SYSTEM, ""
        _fire(subject, "hand_off", now)
    return subject.result()


def new_transitions(before: DeletionTask, after: DeletionTask) -> Iterator[Transition]:
    """The history entries *after* gained over *before*."""
    return iter(after.history[len(before.history) :])
