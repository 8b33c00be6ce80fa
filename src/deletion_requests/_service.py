"""`DeletionService`: the core's use cases behind one object. Each use case lives in a module
of its own (see docs/architecture.md, "The core"); this facade composes them over one shared
`Context` and keeps the names callers use."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar, cast, overload

from ._access import Caller
from ._access_admin import AccessAdmin
from ._authentication import USE_PRECISION, Authentication
from ._background_work import BackgroundWork
from ._callback_delivery import CallbackDelivery
from ._callbacks import CallbackSender
from ._client_requests import MAX_BULK, Cancellation, ClientRequests, Page
from ._clock import Clock, SystemClock
from ._context import (
    CALLBACK_CACHE,
    DEFAULT_PAGE,
    MAX_PAGE,
    Context,
    Deliveries,
    check_account_id,
    new_holder,
)
from ._creating import PreparedCreate
from ._destinations import Job
from ._errors import DuplicateTask, IdempotencyKeyConflict
from ._events import Subscriber, log_event
from ._handoff import Backoff, Sink
from ._outbox_delivery import OutboxDelivery
from ._policy import Policy
from ._ports import Store
from ._status import Status
from ._task import DeletionTask

__all__ = [
    "CALLBACK_CACHE",
    "DEFAULT_PAGE",
    "MAX_BULK",
    "MAX_PAGE",
    "USE_PRECISION",
    "AccessAdmin",
    "Cancellation",
    "DeletionService",
    "Deliveries",
    "Page",
    "check_account_id",
    "new_holder",
]

T = TypeVar("T")


class _Setting(Generic[T]):
    """A setting of the service that is its `Context`'s: read or set on the service, it is
    read or set for every use case at once."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, service: None, owner: type) -> _Setting[T]: ...
    @overload
    def __get__(self, service: DeletionService, owner: type) -> T: ...
    def __get__(self, service: DeletionService | None, owner: type) -> _Setting[T] | T:
        if service is None:
            return self
        return cast(T, getattr(service.context, self.name))

    def __set__(self, service: DeletionService, value: T) -> None:
        setattr(service.context, self.name, value)


class DeletionService:
    """The use cases of deletion requests. Every client one is scoped to the caller's accounts.

    The status of a task is brought up to date with the clock (`catch_up`) before it is shown or
    changed, so correctness never depends on `advance_due` having run. Changes are stored by
    compare-and-set and retried from a fresh read when another writer got there first.

    The settings (`store`, `clock`, `policy`, `subscribers`, `batch_size`, `max_attempts`,
    `backoff`, `holder`, `lease`, `claim_batch`) are the `context`'s, shared by the use-case
    objects: setting one on the service sets it for all of them.
    """

    store = _Setting[Store]()
    clock = _Setting[Clock]()
    policy = _Setting[Policy]()
    subscribers = _Setting[builtins.list[Subscriber]]()
    batch_size = _Setting[int]()
    max_attempts = _Setting[int]()
    backoff = _Setting[Backoff]()
    holder = _Setting[str]()
    """Who this service is when it leases messages to deliver: unique to it."""
    lease = _Setting[dt.timedelta]()
    """How long a leased message is this service's to deliver; then another may take it."""
    claim_batch = _Setting[int]()
    """Messages leased at a time: the lease must outlast this many sends (10 s each at most
    with `WebhookSink`)."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        policy: Policy | None = None,
        subscribers: builtins.list[Subscriber] | None = None,
        batch_size: int = 1000,
        max_attempts: int = 50,
        backoff: Backoff | None = None,
        holder: str | None = None,
        lease: dt.timedelta = dt.timedelta(minutes=2),
        claim_batch: int = 10,
    ) -> None:
        self.context = Context(
            store,
            SystemClock() if clock is None else clock,
            Policy() if policy is None else policy,
            [log_event] if subscribers is None else subscribers,
            batch_size,
            max_attempts,
            Backoff() if backoff is None else backoff,
            new_holder() if holder is None else holder,
            lease,
            claim_batch,
        )
        """The settings, caches and shared steps of the use cases (`Operators` use it too)."""
        self.authentication = Authentication(self.context)
        self.requests = ClientRequests(self.context)
        self.outbox = OutboxDelivery(self.context, CallbackDelivery(self.context))
        self.background = BackgroundWork(self.context, self.outbox)

    def __repr__(self) -> str:
        return f"DeletionService({self.context!r})"

    # -- authentication (`Authentication`) ---------------------------------------------------

    def authenticate(self, app_id: str, secret: str) -> Caller:
        """The caller for AppId/AppSecret credentials; `AuthenticationFailed` otherwise."""
        return self.authentication.authenticate(app_id, secret)

    def caller_for(self, app_id: str) -> Caller:
        """The caller for an app already authenticated (by a token): it must still be active."""
        return self.authentication.caller_for(app_id)

    # -- client requests (`ClientRequests`) --------------------------------------------------

    def create(
        self,
        caller: Caller,
        account_id: str,
        raw_emails: object = (),
        sha256_emails: object = (),
        idempotency_key: str | None = None,
    ) -> DeletionTask:
        """`ClientRequests.create`: a pending task for the identifiers (raw emails hashed and
        dropped), or the original one for a retry with the same `idempotency_key`."""
        return self.requests.create(caller, account_id, raw_emails, sha256_emails, idempotency_key)

    def prepare_create(
        self,
        caller: Caller,
        account_id: str,
        raw_emails: object = (),
        sha256_emails: object = (),
        idempotency_key: str | None = None,
    ) -> PreparedCreate:
        """`ClientRequests.prepare_create`: `create`'s checks, identifiers and task, without
        the write (the idempotency key's bound task, when there is one, as `done`)."""
        return self.requests.prepare_create(
            caller, account_id, raw_emails, sha256_emails, idempotency_key
        )

    def finish_create(
        self, prepared: PreparedCreate, refused: IdempotencyKeyConflict | DuplicateTask | None
    ) -> DeletionTask:
        """`ClientRequests.finish_create`: the answer once the store took or refused the
        prepared task."""
        return self.requests.finish_create(prepared, refused)

    def get(self, caller: Caller, task_id: str) -> DeletionTask:
        """The task, up to date with the clock; `TaskNotFound` when the caller cannot see it."""
        return self.requests.get(caller, task_id)

    def list(
        self,
        caller: Caller,
        account_id: str | None = None,
        status: str | Status | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        summaries: bool = False,
    ) -> Page:
        """A page of the caller's tasks, newest first, filtered by account and status (with
        *summaries*, without each task's identifiers and history)."""
        return self.requests.list(caller, account_id, status, limit, cursor, summaries)

    def cancel(self, caller: Caller, task_id: str) -> DeletionTask:
        """Cancel a pending or ready task; idempotent for a cancelled one. `DeadlineExceeded`,
        and nothing stored, once the task is past `ready`."""
        return self.requests.cancel(caller, task_id)

    def cancel_many(self, caller: Caller, task_ids: Sequence[str]) -> builtins.list[Cancellation]:
        """`ClientRequests.cancel_many`: cancel each of 1 to `MAX_BULK` tasks as `cancel`
        would, and say, in order, what became of each."""
        return self.requests.cancel_many(caller, task_ids)

    # -- background work (`BackgroundWork`, `OutboxDelivery`) ---------------------------------

    def advance_due(self) -> int:
        """Store every transition that time has made due; returns the tasks moved."""
        return self.background.advance_due()

    def deliver(
        self,
        sinks: Mapping[str, Sink],
        limit: int = 100,
        callback_sender: CallbackSender | None = None,
    ) -> Deliveries:
        """`OutboxDelivery.deliver`: one round of the outbox, at least once, leased to this
        service (`holder`) while it sends."""
        return self.outbox.deliver(sinks, limit, callback_sender)

    def complete(self, task_id: str, by: str) -> DeletionTask:
        """Record that the deleter finished deleting the task's data (idempotent); not scoped
        to a caller. `NotActioned` for a task not handed off, `TaskNotFound` for no task."""
        return self.background.complete(task_id, by)

    def jobs(self, task_id: str) -> builtins.list[Job]:
        """What each destination owes the task (its jobs, by destination name); none on a store
        without destinations. Not scoped to a caller: for operators."""
        return self.background.jobs(task_id)

    def outcome(self, task: DeletionTask) -> str | None:
        """The one-word outcome a client sees for a completed *task*: `deleted` if any
        destination deleted, else `not_found` if any found nothing, else `exempt`; None until
        it is completed."""
        return self.background.outcome(task)

    def mark_overdue(self) -> int:
        """Store the overdue mark of every task actioned more than `action_window` ago and not
        completed; returns how many were marked."""
        return self.background.mark_overdue()

    def purge_settled(self) -> int:
        """Delete the identifier hashes of every task settled more than `retention` ago;
        returns how many were purged."""
        return self.background.purge_settled()

    def overdue(self, limit: int = DEFAULT_PAGE) -> builtins.list[DeletionTask]:
        """Tasks actioned more than `action_window` ago and not completed, oldest actioned
        first, across every account (caught up on read)."""
        return self.background.overdue(limit)

    def maintain(
        self,
        sinks: Mapping[str, Sink] | None = None,
        callback_sender: CallbackSender | None = None,
    ) -> dict[str, int]:
        """Everything time makes due, in order: transitions, overdue marks, purges, and (with
        *sinks* or a *callback_sender*) one delivery round."""
        return self.background.maintain(sinks, callback_sender)
