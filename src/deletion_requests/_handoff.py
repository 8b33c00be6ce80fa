"""After the lifecycle: delivering what a task owes (its outbox), completion, overdue, purge.

Everything here is a pure function from a task to its successor version (one version higher),
stored by compare-and-set like any transition, so every step lands in the task's history with who
or what caused it. The status never changes here: only the lifecycle machine changes a status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import orjson

from ._destinations import DEFAULT, RETRIED
from ._errors import AuthenticationFailed, NotActioned
from ._policy import Policy
from ._status import Status
from ._task import HANDOFF, REVIEW, SYSTEM, DeletionTask, Transition, noted

# -- messages ---------------------------------------------------------------------------------


def message_body(task: DeletionTask, kind: str, policy: Policy) -> bytes:
    """The JSON body a sink receives for *kind* of *task*. Only a hand-off carries the identifier
    hashes (the deleter needs them); a review alert carries ids and times only."""
    body: dict[str, Any] = {
        "type": kind,
        "taskId": task.task_id,
        "accountId": task.account_id,
        "status": task.status.value,
        "creationTime": task.creation_time.isoformat(),
    }
    if kind == REVIEW:
        body["readyTime"] = _iso(task.ready_time)
        body["handOffTime"] = policy.actioned_at(task.creation_time).isoformat()
    else:
        assert task.actioned_time is not None  # a hand-off is owed only by an actioned task
        body["actionedTime"] = task.actioned_time.isoformat()
        body["completeBy"] = (task.actioned_time + policy.action_window).isoformat()
        body["identifiers"] = sorted(task.identifiers)
    return orjson.dumps(body)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class DeliveryFailed(Exception):
    """A sink's report that a message was not taken; `detail` goes into the task's history, so
    it names a status or an error class, never anything from the message."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Sink(Protocol):
    """Where one kind of message goes. `deliver` raises (any exception) when the message was
    not taken; it returns True when the work is already done (an embedded deleter that deleted
    the data), False when it was only accepted (completion is reported later)."""

    name: str

    def deliver(self, task: DeletionTask, body: bytes) -> bool: ...


@attrs.frozen
class CallableSink:
    """A sink over a plain function, for hosts that embed the library.

    For a deleter, the function gets the task (with its identifier hashes) and returns when the
    data is deleted: that return completes the task. For review alerts it just has to return.
    """

    function: Callable[[DeletionTask], object]
    name: str = "deleter"
    completes: bool = True

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        self.function(task)
        return self.completes


# -- successor versions -----------------------------------------------------------------------


def delivered(task: DeletionTask, kind: str, at: dt.datetime, by: str, done: bool) -> DeletionTask:
    """*kind* was delivered: it leaves the outbox; with *done*, the task is also completed."""
    task = noted(task, f"{kind}.delivered", at, by, outbox=task.outbox - {kind})
    if done and kind == HANDOFF:
        task = complete(task, at, by)
    return task


def delivery_failed(
    task: DeletionTask, kind: str, at: dt.datetime, by: str, detail: str
) -> DeletionTask:
    """An attempt to deliver *kind* failed; it stays in the outbox. *detail* must not hold
    identifiers (sinks report status codes and error classes)."""
    return noted(task, f"{kind}.failed", at, by, detail=detail[:200])


def complete(task: DeletionTask, at: dt.datetime, by: str) -> DeletionTask:
    """The deleter says the data is deleted. Idempotent; only an actioned task can be completed.
    A completion also settles the hand-off (whoever completes it has received it)."""
    if task.completed_time is not None:
        return task
    if task.status is not Status.ACTIONED:
        raise NotActioned(
            f"task {task.task_id} is {task.status.value}: only an actioned task can be completed"
        )
    return noted(task, "completed", at, by, completed_time=at, outbox=task.outbox - {HANDOFF})


def is_overdue(task: DeletionTask, now: dt.datetime, policy: Policy) -> bool:
    """Handed off, not completed (a job is still open) and past its `due_time`."""
    return task.completed_time is None and task.actioned_time is not None and task.past_due(now)


def mark_overdue(task: DeletionTask, now: dt.datetime, policy: Policy) -> DeletionTask:
    """Record that the task is overdue, stamped when it became so (its due time); unchanged
    otherwise."""
    if task.overdue_time is not None or not is_overdue(task, now, policy):
        return task
    assert task.actioned_time is not None
    since = max(task.due_time, task.actioned_time)  # a task released late is late from then
    return noted(task, "overdue", since, SYSTEM, overdue_time=since)


def settled_at(task: DeletionTask) -> dt.datetime | None:
    """When the task's identifiers stopped being needed: when it was completed, cancelled, or
    (never reported complete) its hand-off delivered. None while the deletion is still to
    come."""
    if task.completed_time is not None:
        return task.completed_time
    if task.cancelled_time is not None:
        return task.cancelled_time
    for step in task.history:
        if step.event == f"{HANDOFF}.delivered":
            return step.at
    return None


def purge(task: DeletionTask, now: dt.datetime, policy: Policy) -> DeletionTask:
    """Delete the identifier hashes of a task settled (`settled_at`) more than `retention`
    ago. The task, its times and its history stay for audit. Unchanged when not yet due."""
    settled = settled_at(task)
    if task.purged_time is not None or settled is None or now < settled + policy.retention:
        return task
    return noted(task, "purged", now, SYSTEM, identifiers=frozenset(), purged_time=now)


# -- retries ----------------------------------------------------------------------------------


@attrs.frozen
class Backoff:
    """Exponential backoff with jitter between attempts to deliver one message.

    The n-th retry waits `min(cap, base * 2**(n-1))`, scaled by a jitter in [0.5, 1) that is a
    hash of the task, kind and attempt: spread across tasks, yet the same in every process and
    after a restart, since the failures it counts are in the task's history. The failures
    of a hand-off before an operator's retry of the `default` job do not count.
    """

    base: dt.timedelta = dt.timedelta(seconds=2)
    cap: dt.timedelta = dt.timedelta(hours=1)

    def next_attempt(self, task: DeletionTask, kind: str) -> dt.datetime | None:
        """When *kind* may be tried again; None when it has never failed (try now)."""
        failures: list[Transition] = []
        for step in task.history:
            if step.event == f"{kind}.failed":
                failures.append(step)
            elif kind == HANDOFF and _retried_default(step):
                failures = []  # an operator's retry: owed now, counted afresh
        if not failures:
            return None
        n = len(failures)
        delay = min(self.cap, self.base * 2 ** min(n - 1, 40))
        seed = hashlib.sha256(f"{task.task_id}:{kind}:{n}".encode()).digest()
        jitter = 0.5 + int.from_bytes(seed[:4], "big") / 2**33
        retry: dt.datetime = failures[-1].at + delay * jitter
        return retry


def _retried_default(step: Transition) -> bool:
    """Whether *step* is an operator's retry of the `default` job (the hand-off's)."""
    return step.event == RETRIED and step.detail.startswith(f"{DEFAULT}: ")


# -- messages' identity -------------------------------------------------------------------


def message_id(task: DeletionTask, kind: str) -> str:
    """The id of the message of *kind* owed by *task*: the same for every attempt to deliver
    it (Standard Webhooks' `webhook-id`), so receivers deduplicate by it."""
    return f"{kind}_{task.task_id}"


class SignatureInvalid(AuthenticationFailed):
    """A webhook or completion request whose signature is missing, wrong or too old."""
