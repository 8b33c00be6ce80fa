"""What the use cases share: their settings, the caches of access and callbacks, and the steps
every one of them takes (authorisation, the visible-task lookup, the compare-and-set change,
owing callbacks, publishing events). Each use-case class holds one `Context`; so does the
`DeletionService` that composes them, and `Operators`."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
from collections.abc import Callable, Mapping

import attrs

from . import _callbacks as callbacks
from . import _lifecycle as lifecycle
from ._access import App, Caller
from ._callbacks import Callback
from ._clock import Clock
from ._destinations import Destination
from ._errors import (
    AuthenticationFailed,
    InvalidRequest,
    StoreError,
    TaskNotFound,
    UnauthorizedAccount,
)
from ._events import LifecycleEvent, Subscriber
from ._handoff import Backoff
from ._ids import new_hex_id
from ._lanes import Lanes
from ._policy import Policy
from ._ports import Store
from ._task import DeletionTask, as_successor

logger = logging.getLogger("deletion_requests.service")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
CALLBACK_CACHE = dt.timedelta(seconds=5)
"""How long, by the service's clock, the apps' callbacks are cached when the store keeps no
access version."""
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def new_holder() -> str:
    """A delivering service's name for its leases: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_hex_id()[:8]}"


def may_try(backoff: Backoff, task: DeletionTask, kind: str, now: dt.datetime) -> bool:
    """Whether *task*'s *kind* message may be tried at *now*: it is not backing off."""
    retry = backoff.next_attempt(task, kind)
    return retry is None or retry <= now


@attrs.define
class Deliveries:
    """What one `DeletionService.deliver` round did."""

    delivered: int = 0
    failed: int = 0
    waiting: int = 0
    """Messages still owed after the round, of the kinds it delivered (the whole backlog:
    backing off, behind a failure of their sink, beyond the limit, or leased to another
    server); for status callbacks, the tasks still owing one (up to 1,000)."""
    reported: int = 0
    """Outcomes that push destinations reported in their answers."""
    opened: list[Destination] = attrs.field(factory=list)
    """The push destinations whose breakers this round opened (each now paused)."""

    def add(self, other: Deliveries) -> None:
        """Count *other*'s deliveries into these."""
        self.delivered += other.delivered
        self.failed += other.failed
        self.waiting += other.waiting
        self.reported += other.reported
        self.opened += other.opened


def check_account_id(account_id: object, field: str = "accountId") -> str:
    if not isinstance(account_id, str):
        raise InvalidRequest(f"{field} must be a string")
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise InvalidRequest(
            f"{field} must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"
        )
    return account_id


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _UUID.fullmatch(task_id):
        raise InvalidRequest("taskId must be a UUID like 3bc2e8b0-88ee-400c-8696-44897bc95cd3")
    return task_id.lower()


def authorise(caller: Caller, account_id: str) -> None:
    """`UnauthorizedAccount` unless *caller* may act for *account_id*."""
    if account_id not in caller.accounts:
        raise UnauthorizedAccount(
            f"account {account_id} is not authorised for data deletion requests "
            "(it is not allow-listed, or not granted to this app)"
        )


def seen_by(caller: Caller, task_id: str, task: DeletionTask | None) -> DeletionTask:
    """*task* (the store's answer for *task_id*), when *caller* may see it; `TaskNotFound`
    otherwise."""
    if task is None or task.account_id not in caller.accounts:
        raise TaskNotFound(task_id)
    return task


def active(caller: Caller | None) -> Caller:
    """*caller*, or `AuthenticationFailed` for an app unknown or revoked (None)."""
    if caller is None:
        raise AuthenticationFailed("the app is unknown or has been revoked")
    return caller


@attrs.define
class Context:
    """The settings of a `DeletionService` (its defaults are the service's) and the steps its
    use cases share.

    Changes are stored by compare-and-set and retried from a fresh read when another writer
    got there first; every stored change owes the callbacks it calls for and is published to
    the `subscribers`.
    """

    store: Store
    clock: Clock
    policy: Policy
    subscribers: list[Subscriber]
    batch_size: int
    max_attempts: int
    backoff: Backoff
    holder: str
    lease: dt.timedelta
    claim_batch: int
    lanes: Lanes = attrs.field(factory=Lanes)
    _access_cache: dict[str, tuple[int, App, Caller | None]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _callback_cache: tuple[object, dt.datetime, dict[str, Callback]] | None = attrs.field(
        default=None, init=False, repr=False
    )

    def caught_up(self, task: DeletionTask, now: dt.datetime | None = None) -> DeletionTask:
        """*task* as the clock sees it (at *now*, or the clock's now)."""
        return lifecycle.catch_up(task, self.clock.now() if now is None else now, self.policy)

    # -- access and callbacks, cached --------------------------------------------------------

    def app(self, app_id: str) -> tuple[App | None, Caller | None]:
        """The app and its caller (None for a revoked app), read from the store or, while the
        store's `access_version` is unchanged, from the cache: revocations are seen at once."""
        version = self.store.access_version()
        cached = self.cached_app(app_id, version)
        if cached is not None:
            return cached
        return self.remember_app(app_id, version, self.store.app_access(app_id))

    def cached_app(
        self, app_id: str, version: int | None
    ) -> tuple[App | None, Caller | None] | None:
        """`app`'s answer from the cache when it was read at access *version* (the store's
        `access_version`, read before), else None: the app must be read."""
        if version is None:
            return None
        cached = self._access_cache.get(app_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        return None

    def remember_app(
        self,
        app_id: str,
        version: int | None,
        access: tuple[App, frozenset[str]] | None,
    ) -> tuple[App | None, Caller | None]:
        """`app`'s answer from *access* (the store's `app_access`, read after the access
        *version*), cached under that version."""
        if access is None:
            return None, None
        app, allowed = access
        caller = None if app.revoked else Caller(app.app_id, allowed)
        if version is not None:
            if len(self._access_cache) >= 10_000:
                self._access_cache.clear()
            self._access_cache[app_id] = (version, app, caller)
        return app, caller

    def callbacks(self) -> dict[str, Callback]:
        """Every app's callback, cached while the store's `access_version` stays (or, for a
        store that keeps no version, for `CALLBACK_CACHE` by the clock)."""
        version = self.store.access_version()
        cached = self._callback_cache
        if (
            cached is not None
            and cached[0] == version
            and (version is not None or self._recent(cached[1]))
        ):
            return cached[2]
        found = self.store.callbacks()
        self._callback_cache = (version, self.clock.now(), found)
        return found

    def _recent(self, moment: dt.datetime) -> bool:
        """Less than `CALLBACK_CACHE` ago (a clock set back makes nothing recent)."""
        return dt.timedelta(0) <= self.clock.now() - moment < CALLBACK_CACHE

    def owe(
        self, old: DeletionTask, new: DeletionTask, apps: Mapping[str, Callback] | None = None
    ) -> DeletionTask:
        """*new*, owing the callbacks its changes since *old* call for, when the app that
        created the task has a callback URL (in *apps*, read once for a batch, or now)."""
        if new is old or not callbacks.client_events(old, new):
            return new
        if new.created_by not in (self.callbacks() if apps is None else apps):
            return new
        return callbacks.owe(old, new)

    # -- reading and changing tasks ----------------------------------------------------------

    def visible(self, caller: Caller, task_id: str) -> DeletionTask:
        """The stored task, when *caller* may see it; `TaskNotFound` otherwise."""
        return seen_by(caller, task_id, self.store.get(check_task_id(task_id)))

    def any_task(self, task_id: str) -> DeletionTask:
        """The stored task, whichever account holds it; `TaskNotFound` when there is none."""
        task = self.store.get(check_task_id(task_id))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def change(
        self,
        caller: Caller | None,
        task_id: str,
        change: Callable[[DeletionTask, dt.datetime], DeletionTask],
    ) -> DeletionTask:
        """Apply *change* (which catches the task up itself) by compare-and-set, re-reading
        and retrying when another writer won. Without a *caller* (operators, the deliverer),
        any task may be changed."""
        for _ in range(self.max_attempts):
            stored = self.visible(caller, task_id) if caller else self.any_task(task_id)
            new = change(stored, self.clock.now())
            if new is stored:
                return stored
            new = as_successor(stored, self.owe(stored, new))
            if not self.store.update([new]):
                self.publish(stored, new)
                return new
        raise StoreError(f"task {task_id} kept changing; gave up after {self.max_attempts} tries")

    def settle(
        self,
        task_id: str,
        kind: str,
        outcome: Callable[[DeletionTask, dt.datetime], DeletionTask],
    ) -> None:
        """Record a delivery outcome, unless another process already settled that message."""
        self.change(None, task_id, lambda t, at: outcome(t, at) if kind in t.outbox else t)

    def publish(self, old: DeletionTask, new: DeletionTask) -> None:
        """Tell the subscribers of each transition *new* gained over *old*; a subscriber that
        raises is logged, and the others are still told."""
        if not self.subscribers:
            return
        for step in lifecycle.new_transitions(old, new):
            event = LifecycleEvent(
                new.task_id, new.account_id, step.dest, step.at, step.by, step.event
            )
            for subscriber in self.subscribers:
                try:
                    subscriber(event)
                except Exception:
                    logger.exception("subscriber %r failed on task %s", subscriber, new.task_id)
