from __future__ import annotations


class DeletionRequestError(Exception):
    """Base of every error the core reports to a caller; `error` is a stable machine name."""

    error = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DeletionRequestError):
    """The request is malformed or incomplete; the message names the field."""

    error = "BAD_REQUEST"


class TaskNotFound(DeletionRequestError):
    """No task with that id is visible to the caller (it may belong to another account)."""

    error = "NOT_FOUND"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task not found for with task_id: {task_id}")
        self.task_id = task_id


class DeadlineExceeded(DeletionRequestError):
    """The task is past its `pending` and `ready` states and can no longer be cancelled."""

    error = "DEADLINE_EXCEEDED"


class NotActioned(DeletionRequestError):
    """The task has not been handed off (it is pending, ready or cancelled): nothing to complete."""

    error = "CONFLICT"


class UnauthorizedAccount(DeletionRequestError):
    """The account is not allow-listed for deletion requests, or not granted to the caller."""

    error = "UNAUTHORIZED_ACCOUNT"


class AuthenticationFailed(DeletionRequestError):
    """The caller could not be authenticated: unknown app, wrong secret, revoked app."""

    error = "AUTHENTICATION_ERROR"


class StoreError(Exception):
    """A store could not do what was asked: the backend failed or holds data it cannot read.

    Adapters raise this (or a subclass) from the driver's own error; no driver exception
    crosses a port.
    """


class IdempotencyKeyConflict(StoreError):
    """`add` was given an idempotency key that is already bound to another task."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"idempotency key already used by task {task_id}")
        self.task_id = task_id


class DuplicateTask(StoreError):
    """`add` was given a task id that already exists."""


class DecisionRefused(DeletionRequestError):
    """An operator's decision that the task's state does not allow: a hold on an actioned,
    cancelled or held task, a release of a task not held."""

    error = "CONFLICT"
