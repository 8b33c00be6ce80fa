"""A create in two steps: *prepare* the task (checks, identifiers, the task itself: pure,
no store), then *store* it. `DeletionService.create` does both in one call; a server that
batches writes prepares on its request path and hands the prepared task to its writer."""

from __future__ import annotations

import datetime as dt

import attrs

from ._access import Caller
from ._errors import InvalidRequest
from ._ids import new_task_id
from ._policy import Policy
from ._status import Status
from ._task import CREATED, DeletionTask, Transition
from ._text import check_text

MAX_KEY_LENGTH = 255


@attrs.frozen
class PreparedCreate:
    """A checked create. `done` is its answer when it needs no write (a retry of a request
    whose idempotency key is already bound); otherwise `task` is to be stored with `key`
    bound to it, and is the answer once stored."""

    account_id: str
    identifiers: frozenset[str]
    task: DeletionTask
    key: tuple[str, str] | None
    done: DeletionTask | None = None


def idempotency_scope(caller: Caller, idempotency_key: str | None) -> tuple[str, str] | None:
    """The (scope, key) an Idempotency-Key is bound under: keys are the caller's own."""
    if idempotency_key is None:
        return None
    if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return (caller.app_id, check_text(idempotency_key, "Idempotency-Key"))


def pending_task(
    caller: Caller,
    account_id: str,
    identifiers: frozenset[str],
    now: dt.datetime,
    policy: Policy,
) -> DeletionTask:
    """The new task: pending, created *now* by the caller, its creation the first entry of
    its history, due `policy.due_at(now)`."""
    return DeletionTask(
        task_id=new_task_id(now),
        account_id=account_id,
        status=Status.PENDING,
        creation_time=now,
        identifiers=identifiers,
        created_by=caller.app_id,
        history=(Transition(Status.PENDING, Status.PENDING, now, caller.app_id, CREATED),),
        due_time=policy.due_at(now),
    )


def check_same_request(
    existing: DeletionTask, account_id: str, identifiers: frozenset[str]
) -> None:
    """`InvalidRequest` unless *existing*, the task an idempotency key is bound to, was
    created by the same request (account and identifiers)."""
    if existing.account_id != account_id or existing.identifiers != identifiers:
        raise InvalidRequest(
            "Idempotency-Key was already used for a different request; "
            "use a new key for a new request"
        )
