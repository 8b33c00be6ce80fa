"""`DeletionService`: the core's use cases behind one object. Each use case lives in a module
of its own (see docs/architecture.md, "The core"); this facade composes them over one shared
`Context` and keeps the names callers use."""

from __future__ import annotations

import builtins
import datetime as dt
import types
from collections.abc import Callable
from typing import Concatenate, Generic, ParamSpec, TypeVar, cast, overload

from ._access_admin import AccessAdmin
from ._authentication import USE_PRECISION, Authentication
from ._background_work import BackgroundWork
from ._callback_delivery import CallbackDelivery
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
from ._events import Subscriber, log_event
from ._handoff import Backoff
from ._lanes import DEFAULT_LANES, Lanes
from ._outbox_delivery import OutboxDelivery
from ._policy import Policy
from ._ports import Store

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
U = TypeVar("U")
R = TypeVar("R")
P = ParamSpec("P")


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


class _UseCase(Generic[U, P, R]):
    """A method of the service that is one of its use-case objects' (the attribute *part*):
    called on that object, with its parameters, answer and documentation. Read on the class,
    it is the use case's own function."""

    def __init__(self, part: str, method: Callable[Concatenate[U, P], R]) -> None:
        self.part = part
        self.method = method

    @overload
    def __get__(self, service: None, owner: type) -> Callable[Concatenate[U, P], R]: ...
    @overload
    def __get__(self, service: DeletionService, owner: type) -> Callable[P, R]: ...
    def __get__(
        self, service: DeletionService | None, owner: type
    ) -> Callable[Concatenate[U, P], R] | Callable[P, R]:
        if service is None:
            return self.method
        return cast("Callable[P, R]", types.MethodType(self.method, getattr(service, self.part)))


class DeletionService:
    """The use cases of deletion requests. Every client one is scoped to the caller's accounts.

    The status of a task is brought up to date with the clock (`catch_up`) before it is shown or
    changed, so correctness never depends on `advance_due` having run. Changes are stored by
    compare-and-set and retried from a fresh read when another writer got there first.

    The settings (`store`, `clock`, `policy`, `subscribers`, `batch_size`, `max_attempts`,
    `backoff`, `holder`, `lease`, `claim_batch`, `lanes`) are the `context`'s, shared by the
    use-case objects: setting one on the service sets it for all of them.
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
    """Messages leased at a time. No send starts once half of their lease has gone, so the
    lease outlasts every send that takes at most half of it."""
    lanes = _Setting[Lanes]()
    """Where a delivery round's groups run side by side: the work for each endpoint is one
    group, `lanes` (8 by default) of them at once."""

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
        lanes: int = DEFAULT_LANES,
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
            Lanes(lanes),
        )
        """The settings, caches and shared steps of the use cases (`Operators` use it too)."""
        self.authentication = Authentication(self.context)
        self.requests = ClientRequests(self.context)
        self.outbox = OutboxDelivery(self.context, CallbackDelivery(self.context))
        self.background = BackgroundWork(self.context, self.outbox)

    def __repr__(self) -> str:
        return f"DeletionService({self.context!r})"

    # -- authentication (`Authentication`) ---------------------------------------------------

    authenticate = _UseCase("authentication", Authentication.authenticate)
    caller_for = _UseCase("authentication", Authentication.caller_for)

    # -- client requests (`ClientRequests`) --------------------------------------------------

    create = _UseCase("requests", ClientRequests.create)
    prepare_create = _UseCase("requests", ClientRequests.prepare_create)
    finish_create = _UseCase("requests", ClientRequests.finish_create)
    get = _UseCase("requests", ClientRequests.get)
    list = _UseCase("requests", ClientRequests.list)
    list_summaries = _UseCase("requests", ClientRequests.list_summaries)
    cancel = _UseCase("requests", ClientRequests.cancel)
    cancel_many = _UseCase("requests", ClientRequests.cancel_many)

    # -- background work (`BackgroundWork`, `OutboxDelivery`) ---------------------------------

    advance_due = _UseCase("background", BackgroundWork.advance_due)
    deliver = _UseCase("outbox", OutboxDelivery.deliver)
    complete = _UseCase("background", BackgroundWork.complete)
    jobs = _UseCase("background", BackgroundWork.jobs)
    outcome = _UseCase("background", BackgroundWork.outcome)
    mark_overdue = _UseCase("background", BackgroundWork.mark_overdue)
    purge_settled = _UseCase("background", BackgroundWork.purge_settled)
    overdue = _UseCase("background", BackgroundWork.overdue)
    maintain = _UseCase("background", BackgroundWork.maintain)

    def close(self) -> None:
        """End the threads of the delivery `lanes` (the store stays open: it is the
        caller's). A later round starts them again."""
        self.context.lanes.close()
