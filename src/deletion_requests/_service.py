from __future__ import annotations

import builtins
import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from . import _lifecycle as lifecycle
from ._access import Account, App, Caller, digest_secret, new_app_id, new_secret
from ._clock import Clock, SystemClock
from ._cursor import decode_cursor, encode_cursor
from ._errors import (
    AuthenticationFailed,
    IdempotencyKeyConflict,
    InvalidRequest,
    StoreError,
    TaskNotFound,
    UnauthorizedAccount,
)
from ._events import LifecycleEvent, Subscriber, log_event
from ._identifiers import collect_identifiers
from ._policy import Policy
from ._ports import Store, TaskQuery
from ._status import Status
from ._task import DeletionTask

logger = logging.getLogger("deletion_requests.service")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_KEY_LENGTH = 255
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DUMMY_DIGEST = digest_secret("")


@attrs.frozen
class Page:
    """One page of a listing; `next_cursor` is None on the last page."""

    tasks: tuple[DeletionTask, ...]
    next_cursor: str | None


def check_account_id(account_id: object, field: str = "accountId") -> str:
    if not isinstance(account_id, str):
        raise InvalidRequest(f"{field} must be a string")
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise InvalidRequest(
            f"{field} must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"
        )
    return account_id


def _check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _UUID.fullmatch(task_id):
        raise InvalidRequest("taskId must be a UUID like 3bc2e8b0-88ee-400c-8696-44897bc95cd3")
    return task_id.lower()


@attrs.define
class DeletionService:
    """The use cases of deletion requests. Every one is scoped to the caller's accounts.

    The status of a task is brought up to date with the clock (`catch_up`) before it is shown or
    changed, so correctness never depends on `advance_due` having run. Changes are stored by
    compare-and-set and retried from a fresh read when another writer got there first.
    """

    store: Store
    clock: Clock = attrs.field(factory=SystemClock)
    policy: Policy = attrs.field(factory=Policy)
    subscribers: list[Subscriber] = attrs.field(factory=lambda: [log_event])
    batch_size: int = 1000
    max_attempts: int = 50

    # -- authentication -----------------------------------------------------------------------

    def authenticate(self, app_id: str, secret: str) -> Caller:
        """The caller for AppId/AppSecret credentials; `AuthenticationFailed` otherwise."""
        app = self.store.get_app(app_id)
        if app is None:
            digest_secret(secret) == _DUMMY_DIGEST  # noqa: B015 (same work as a real check)
            raise AuthenticationFailed("invalid AppId or AppSecret")
        if not app.verify(secret):
            raise AuthenticationFailed("invalid AppId or AppSecret")
        return self._caller(app)

    def caller_for(self, app_id: str) -> Caller:
        """The caller for an app already authenticated (by a token): it must still be active."""
        return self._caller(self.store.get_app(app_id))

    def _caller(self, app: App | None) -> Caller:
        if app is None or app.revoked:
            raise AuthenticationFailed("the app is unknown or has been revoked")
        allowed = {a for a in app.accounts if self.store.get_account(a) is not None}
        return Caller(app_id=app.app_id, accounts=frozenset(allowed))

    # -- use cases ----------------------------------------------------------------------------

    def create(
        self,
        caller: Caller,
        account_id: str,
        raw_emails: object = (),
        sha256_emails: object = (),
        idempotency_key: str | None = None,
    ) -> DeletionTask:
        """Create a pending task for the identifiers; raw emails are hashed here and dropped.

        With an `idempotency_key`, a retry of the same request returns the original task, and
        the key used with a different request is an `InvalidRequest`.
        """
        self._authorise(caller, check_account_id(account_id))
        identifiers = collect_identifiers(raw_emails, sha256_emails)
        key = None
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
                raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
            key = (caller.app_id, idempotency_key)
            existing = self.store.find_by_idempotency_key(*key)
            if existing is not None:
                return self._replay(existing, account_id, identifiers)
        task = DeletionTask(
            task_id=str(uuid.uuid4()),
            account_id=account_id,
            status=Status.PENDING,
            creation_time=self.clock.now(),
            identifiers=identifiers,
            created_by=caller.app_id,
        )
        try:
            self.store.add(task, key)
        except IdempotencyKeyConflict as conflict:
            existing = self.store.get(conflict.task_id)
            if existing is None:  # pragma: no cover (a store that binds keys to nothing is broken)
                raise StoreError(
                    f"idempotency key bound to missing task {conflict.task_id}"
                ) from conflict
            return self._replay(existing, account_id, identifiers)
        return task

    def _replay(
        self, existing: DeletionTask, account_id: str, identifiers: frozenset[str]
    ) -> DeletionTask:
        if existing.account_id != account_id or existing.identifiers != identifiers:
            raise InvalidRequest(
                "Idempotency-Key was already used for a different request; "
                "use a new key for a new request"
            )
        return lifecycle.catch_up(existing, self.clock.now(), self.policy)

    def get(self, caller: Caller, task_id: str) -> DeletionTask:
        """The task, up to date with the clock; `TaskNotFound` when the caller cannot see it."""
        return lifecycle.catch_up(self._visible(caller, task_id), self.clock.now(), self.policy)

    def list(
        self,
        caller: Caller,
        account_id: str | None = None,
        status: str | Status | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page:
        """A page of the caller's tasks, newest first, filtered by account and status."""
        if account_id is not None:
            self._authorise(caller, check_account_id(account_id))
            accounts = frozenset({account_id})
        else:
            accounts = caller.accounts
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        now = self.clock.now()
        query = TaskQuery(
            accounts=accounts,
            before=None if cursor is None else decode_cursor(cursor),
            limit=limit + 1,
            **self._status_filter(status, now),
        )
        found = self.store.list_tasks(query) if accounts else []
        tasks = tuple(lifecycle.catch_up(t, now, self.policy) for t in found[:limit])
        next_cursor = None
        if len(found) > limit:
            last = tasks[-1]
            next_cursor = encode_cursor((last.creation_time, last.task_id))
        return Page(tasks=tasks, next_cursor=next_cursor)

    def _status_filter(self, status: str | Status | None, now: dt.datetime) -> dict[str, Any]:
        """Status as creation-time bounds: a status is a function of (creation, cancelled, now)."""
        if status is None:
            return {}
        try:
            wanted = Status(status)
        except ValueError:
            names = ", ".join(s.value for s in Status)
            raise InvalidRequest(f"status must be one of {names}") from None
        ready_from = now - self.policy.pending_period
        actioned_from = now - self.policy.cancel_period
        filters: dict[Status, dict[str, Any]] = {
            Status.PENDING: {"cancelled": False, "created_after": ready_from},
            Status.READY: {
                "cancelled": False,
                "created_after": actioned_from,
                "created_at_or_before": ready_from,
            },
            Status.ACTIONED: {"cancelled": False, "created_at_or_before": actioned_from},
            Status.CANCELLED: {"cancelled": True},
        }
        return filters[wanted]

    def cancel(self, caller: Caller, task_id: str) -> DeletionTask:
        """Cancel a pending or ready task; idempotent for a cancelled one.

        Raises `DeadlineExceeded`, and stores nothing, once the task is past `ready`.
        """
        return self._change(
            caller,
            task_id,
            lambda task, now: lifecycle.cancel(task, now, self.policy, by=caller.app_id),
        )

    def advance_due(self) -> int:
        """Store every transition that time has made due, in batches; returns the tasks moved.

        Only a speed-up and a trigger for events: reads already see the due state.
        """
        moved = 0
        idle_rounds = 0
        now = self.clock.now()
        while idle_rounds < 3:
            written = self.store.transition_due(
                now - self.policy.pending_period,
                now - self.policy.cancel_period,
                self.batch_size,
                lambda task: lifecycle.catch_up(task, now, self.policy),
            )
            for old, new in written:
                self._publish(old, new)
            moved += len(written)
            if not written and not self.store.due(
                now - self.policy.pending_period, now - self.policy.cancel_period, 1
            ):
                break
            idle_rounds = 0 if written else idle_rounds + 1
        return moved

    # -- helpers ------------------------------------------------------------------------------

    def _authorise(self, caller: Caller, account_id: str) -> None:
        if account_id not in caller.accounts:
            raise UnauthorizedAccount(
                f"account {account_id} is not authorised for data deletion requests "
                "(it is not allow-listed, or not granted to this app)"
            )

    def _visible(self, caller: Caller, task_id: str) -> DeletionTask:
        task = self.store.get(_check_task_id(task_id))
        if task is None or task.account_id not in caller.accounts:
            raise TaskNotFound(task_id)
        return task

    def _change(
        self,
        caller: Caller,
        task_id: str,
        change: Callable[[DeletionTask, dt.datetime], DeletionTask],
    ) -> DeletionTask:
        """Apply *change* (which catches the task up itself) by compare-and-set, re-reading
        and retrying when another writer won."""
        for _ in range(self.max_attempts):
            stored = self._visible(caller, task_id)
            new = change(stored, self.clock.now())
            if new is stored:
                return stored
            if not self.store.update([new]):
                self._publish(stored, new)
                return new
        raise StoreError(f"task {task_id} kept changing; gave up after {self.max_attempts} tries")

    def _publish(self, old: DeletionTask, new: DeletionTask) -> None:
        if not self.subscribers:
            return
        for step in lifecycle.new_transitions(old, new):
            event = LifecycleEvent(new.task_id, new.account_id, step.dest, step.at, step.by)
            for subscriber in self.subscribers:
                try:
                    subscriber(event)
                except Exception:
                    logger.exception("subscriber %r failed on task %s", subscriber, new.task_id)


@attrs.define
class AccessAdmin:
    """Operator use cases: the allow-list and the apps."""

    store: Store
    clock: Clock = attrs.field(factory=SystemClock)

    def allow_account(self, account_id: str) -> Account:
        account = Account(check_account_id(account_id, "account id"), self.clock.now())
        return self.store.allow_account(account)

    def revoke_account(self, account_id: str) -> bool:
        return self.store.revoke_account(account_id)

    def list_accounts(self) -> builtins.list[Account]:
        return self.store.list_accounts()

    def create_app(self, accounts: Sequence[str]) -> tuple[App, str]:
        """A new app granted *accounts*; returns it and its secret, which is not kept."""
        if not accounts:
            raise InvalidRequest("an app needs at least one account")
        granted = frozenset(check_account_id(a, "account id") for a in accounts)
        secret = new_secret()
        app = App(new_app_id(), digest_secret(secret), granted, self.clock.now())
        self.store.add_app(app)
        return app, secret

    def revoke_app(self, app_id: str) -> bool:
        return self.store.revoke_app(app_id)

    def list_apps(self) -> builtins.list[App]:
        return self.store.list_apps()
