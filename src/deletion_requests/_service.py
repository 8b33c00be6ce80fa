from __future__ import annotations

import builtins
import datetime as dt
import functools
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from . import _callbacks as callbacks
from . import _creating as creating
from . import _handoff as handoff
from . import _lifecycle as lifecycle
from ._access import Account, App, Caller, digest_secret, new_app_id, new_secret
from ._callbacks import Callback, CallbackSender
from ._clock import Clock, SystemClock
from ._creating import PreparedCreate
from ._cursor import decode_cursor, encode_cursor
from ._errors import (
    AuthenticationFailed,
    DeadlineExceeded,
    DuplicateTask,
    IdempotencyKeyConflict,
    InvalidRequest,
    StoreError,
    TaskNotFound,
    UnauthorizedAccount,
)
from ._events import LifecycleEvent, Subscriber, log_event
from ._handoff import Backoff, DeliveryFailed, Sink
from ._identifiers import collect_identifiers
from ._ids import new_hex_id
from ._operator_accounts import (
    OPERATOR_NAME,
    Operator,
    check_operator_name,
    hash_password,
    new_password,
    spend_a_check,
    verify_password,
)
from ._policy import Policy
from ._ports import Awaiting, Store, TaskQuery
from ._status import Status
from ._task import CALLBACK, DeletionTask, as_successor

logger = logging.getLogger("deletion_requests.service")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DUMMY_DIGEST = digest_secret("")
CALLBACK_CACHE = 5.0
"""Seconds the apps' callbacks are cached when the store keeps no access version."""
USE_PRECISION = dt.timedelta(minutes=1)
"""How exactly an app's last use is kept (`DeletionService` notes it at most this often)."""


def new_holder() -> str:
    """A delivering service's name for its leases: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_hex_id()[:8]}"


def _may_try(backoff: Backoff, task: DeletionTask, kind: str, now: dt.datetime) -> bool:
    retry = backoff.next_attempt(task, kind)
    return retry is None or retry <= now


CANCELLED = "cancelled"
ALREADY_CANCELLED = "already_cancelled"
DEADLINE_EXCEEDED = "deadline_exceeded"
NOT_FOUND = "not_found"
MAX_BULK = 1000
"""The most task ids one `cancel_many` takes."""


@attrs.frozen
class Cancellation:
    """What one bulk cancel did to one task: `CANCELLED`, `ALREADY_CANCELLED`,
    `DEADLINE_EXCEEDED` or `NOT_FOUND`."""

    task_id: str
    status: str


@attrs.define
class Deliveries:
    """What one `DeletionService.deliver` round did."""

    delivered: int = 0
    failed: int = 0
    waiting: int = 0
    """Messages still owed after the round, of the kinds it delivered (the whole backlog:
    backing off, behind a failure of their sink, beyond the limit, or leased to another
    server); for status callbacks, the tasks still owing one (up to 1,000)."""


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
    backoff: Backoff = attrs.field(factory=Backoff)
    holder: str = attrs.field(factory=new_holder)
    """Who this service is when it leases messages to deliver: unique to it."""
    lease: dt.timedelta = dt.timedelta(minutes=2)
    """How long a leased message is this service's to deliver; then another may take it."""
    claim_batch: int = 10
    """Messages leased at a time: the lease must outlast this many sends (10 s each at most
    with `WebhookSink`)."""
    _access_cache: dict[str, tuple[int, App, Caller | None]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _uses_noted: dict[str, dt.datetime] = attrs.field(factory=dict, init=False, repr=False)
    _callback_cache: tuple[object, float, dict[str, Callback]] | None = attrs.field(
        default=None, init=False, repr=False
    )

    # -- authentication -----------------------------------------------------------------------

    def authenticate(self, app_id: str, secret: str) -> Caller:
        """The caller for AppId/AppSecret credentials; `AuthenticationFailed` otherwise."""
        app, caller = self._app(app_id)
        if app is None:
            digest_secret(secret) == _DUMMY_DIGEST  # noqa: B015 (same work as a real check)
            raise AuthenticationFailed("invalid AppId or AppSecret")
        if not app.verify(secret):
            raise AuthenticationFailed("invalid AppId or AppSecret")
        return self._note_use(self._active(caller))

    def caller_for(self, app_id: str) -> Caller:
        """The caller for an app already authenticated (by a token): it must still be active."""
        return self._note_use(self._active(self._app(app_id)[1]))

    def _note_use(self, caller: Caller) -> Caller:
        """Store that the app was used, at most once a `USE_PRECISION` for each app in this
        process: operators see when each app was last used, to that precision. A failed write
        is logged and does not fail the request."""
        now = self.clock.now()
        noted = self._uses_noted.get(caller.app_id)
        if noted is not None and now - noted < USE_PRECISION and now >= noted:
            return caller
        if len(self._uses_noted) >= 10_000:
            self._uses_noted.clear()
        self._uses_noted[caller.app_id] = now
        try:
            self.store.record_app_use(caller.app_id, now)
        except StoreError as exc:
            logger.warning("could not note the use of app %s: %s", caller.app_id, exc)
        return caller

    def _app(self, app_id: str) -> tuple[App | None, Caller | None]:
        """The app and its caller (None for a revoked app), read from the store or, while the
        store's `access_version` is unchanged, from the cache: revocations are seen at once."""
        version = self.store.access_version()
        if version is not None:
            cached = self._access_cache.get(app_id)
            if cached is not None and cached[0] == version:
                return cached[1], cached[2]
        access = self.store.app_access(app_id)
        if access is None:
            return None, None
        app, allowed = access
        caller = None if app.revoked else Caller(app.app_id, allowed)
        if version is not None:
            if len(self._access_cache) >= 10_000:
                self._access_cache.clear()
            self._access_cache[app_id] = (version, app, caller)
        return app, caller

    @staticmethod
    def _active(caller: Caller | None) -> Caller:
        if caller is None:
            raise AuthenticationFailed("the app is unknown or has been revoked")
        return caller

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
        the key used with a different request is an `InvalidRequest`. The same as
        `prepare_create`, `store.add` of the prepared task, and `finish_create`.
        """
        prepared = self.prepare_create(
            caller, account_id, raw_emails, sha256_emails, idempotency_key
        )
        if prepared.done is not None:
            return prepared.done
        try:
            self.store.add(prepared.task, prepared.key)
        except IdempotencyKeyConflict as exc:
            return self.finish_create(prepared, exc)
        return prepared.task

    def prepare_create(
        self,
        caller: Caller,
        account_id: str,
        raw_emails: object = (),
        sha256_emails: object = (),
        idempotency_key: str | None = None,
    ) -> PreparedCreate:
        """The first step of `create`: every check, the identifiers and the new task, and,
        with an `idempotency_key`, the read of the task it is bound to (then `done`)."""
        account_id = check_account_id(account_id)
        self._authorise(caller, account_id)
        identifiers = collect_identifiers(raw_emails, sha256_emails)
        key = creating.idempotency_scope(caller, idempotency_key)
        task = creating.pending_task(caller, account_id, identifiers, self.clock.now())
        prepared = PreparedCreate(account_id, identifiers, task, key)
        if key is not None:
            existing = self.store.find_by_idempotency_key(*key)
            if existing is not None:
                return attrs.evolve(prepared, done=self._replay(existing, prepared))
        return prepared

    def finish_create(
        self, prepared: PreparedCreate, refused: IdempotencyKeyConflict | DuplicateTask | None
    ) -> DeletionTask:
        """The answer to a create whose task was stored (*refused* None) or refused by the
        store: a key that a racing create bound first answers with that create's task."""
        if refused is None:
            return prepared.task
        if isinstance(refused, DuplicateTask):
            raise refused
        bound = self.store.get(refused.task_id)
        if bound is None:  # pragma: no cover (a store that binds keys to nothing is broken)
            raise StoreError(f"idempotency key bound to missing task {refused.task_id}")
        return self._replay(bound, prepared)

    def _replay(self, existing: DeletionTask, prepared: PreparedCreate) -> DeletionTask:
        creating.check_same_request(existing, prepared.account_id, prepared.identifiers)
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
        summaries: bool = False,
    ) -> Page:
        """A page of the caller's tasks, newest first, filtered by account and status. With
        *summaries*, the tasks may come without their identifiers and history (the store's
        `list_summaries`): what a page that shows only their own fields needs."""
        if account_id is not None:
            self._authorise(caller, check_account_id(account_id))
            accounts = frozenset({account_id})
        else:
            accounts = caller.accounts
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        now = self.clock.now()
        before = None if cursor is None else decode_cursor(cursor)
        found: builtins.list[DeletionTask] = []
        if accounts:
            for bounds in self._status_filter(status, now):
                query = TaskQuery(accounts=accounts, before=before, limit=limit + 1, **bounds)
                read = self.store.list_summaries if summaries else self.store.list_tasks
                found.extend(read(query))
            found.sort(key=lambda task: (task.creation_time, task.task_id), reverse=True)
        tasks = tuple(lifecycle.catch_up(t, now, self.policy) for t in found[:limit])
        next_cursor = None
        if len(found) > limit:
            last = tasks[-1]
            next_cursor = encode_cursor((last.creation_time, last.task_id))
        return Page(tasks=tasks, next_cursor=next_cursor)

    def _status_filter(
        self, status: str | Status | None, now: dt.datetime
    ) -> builtins.list[dict[str, Any]]:
        """Status as store queries (their union): a status is a function of the creation time,
        the cancel and the hold. A held task is never actioned: it stays `ready` past the
        hand-off moment, until it is released."""
        if status is None:
            return [{}]
        try:
            wanted = Status(status)
        except ValueError:
            names = ", ".join(s.value for s in Status)
            raise InvalidRequest(f"status must be one of {names}") from None
        ready_from = now - self.policy.pending_period
        actioned_from = now - self.policy.cancel_period
        filters: dict[Status, builtins.list[dict[str, Any]]] = {
            Status.PENDING: [{"cancelled": False, "created_after": ready_from}],
            Status.READY: [
                {
                    "cancelled": False,
                    "created_after": actioned_from,
                    "created_at_or_before": ready_from,
                },
                {"cancelled": False, "held": True, "created_at_or_before": actioned_from},
            ],
            Status.ACTIONED: [
                {"cancelled": False, "held": False, "created_at_or_before": actioned_from}
            ],
            Status.CANCELLED: [{"cancelled": True}],
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

    def cancel_many(self, caller: Caller, task_ids: Sequence[str]) -> builtins.list[Cancellation]:
        """Cancel each of *task_ids* (1 to `MAX_BULK`) as `cancel` would, and say, in order,
        what became of each: `cancelled`, `already_cancelled`, `deadline_exceeded`, or
        `not_found` (no such task, or another app's). `InvalidRequest` (nothing changed) only
        for a list that is empty, too long, or holds something that is not a task id.

        The tasks that can be cancelled are written together (compare-and-set each); one that
        another writer changed meanwhile is decided again on its own, as a lone cancel racing
        the hand-off would be."""
        if not 1 <= len(task_ids) <= MAX_BULK:
            raise InvalidRequest(f"taskIds must hold 1 to {MAX_BULK} task ids")
        ids = [_check_task_id(task_id) for task_id in task_ids]
        now = self.clock.now()
        apps = self._callbacks()
        outcome: dict[str, str] = {}
        writes: builtins.list[tuple[DeletionTask, DeletionTask]] = []
        for task_id in dict.fromkeys(ids):
            task = self.store.get(task_id)
            if task is None or task.account_id not in caller.accounts:
                outcome[task_id] = NOT_FOUND
            elif task.cancelled_time is not None:
                outcome[task_id] = ALREADY_CANCELLED
            else:
                try:
                    new = lifecycle.cancel(task, now, self.policy, by=caller.app_id)
                except DeadlineExceeded:
                    outcome[task_id] = DEADLINE_EXCEEDED
                else:
                    writes.append((task, as_successor(task, self._owe(task, new, apps))))
        rejected = self.store.update([new for _, new in writes]) if writes else frozenset()
        for old, new in writes:
            if new.task_id in rejected:
                outcome[new.task_id] = self._cancel_alone(caller, new.task_id)
            else:
                self._publish(old, new)
                outcome[new.task_id] = CANCELLED
        # An id given again is decided as a second DELETE of it would be: already cancelled.
        results, seen = [], set()
        for task_id in ids:
            status = outcome[task_id]
            if task_id in seen and status == CANCELLED:
                status = ALREADY_CANCELLED
            seen.add(task_id)
            results.append(Cancellation(task_id, status))
        return results

    def _cancel_alone(self, caller: Caller, task_id: str) -> str:
        try:
            before = self._visible(caller, task_id)
            if before.cancelled_time is not None:
                return ALREADY_CANCELLED
            self.cancel(caller, task_id)
        except TaskNotFound:
            return NOT_FOUND
        except DeadlineExceeded:
            return DEADLINE_EXCEEDED
        return CANCELLED

    def advance_due(self) -> int:
        """Store every transition that time has made due, in batches; returns the tasks moved.

        Only a speed-up and a trigger for events: reads already see the due state.
        """
        moved = 0
        idle_rounds = 0
        now = self.clock.now()
        while idle_rounds < 3:
            apps = self._callbacks()
            written = self.store.transition_due(
                now - self.policy.pending_period,
                now - self.policy.cancel_period,
                self.batch_size,
                functools.partial(self._advanced, now=now, apps=apps),
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

    # -- after the hand-off ---------------------------------------------------------------------

    def deliver(
        self,
        sinks: Mapping[str, Sink],
        limit: int = 100,
        callback_sender: CallbackSender | None = None,
    ) -> Deliveries:
        """One round of the outbox: for each kind with a sink (`"handoff"`, `"review"`), deliver
        up to *limit* owed messages, oldest task first, and record each outcome in the task;
        with *callback_sender*, the status callbacks of up to *limit* tasks too.

        At least once: a message leaves the outbox only after its sink took it, so a crash
        between the two delivers it again. Each message is leased to this service
        (`holder`) before it is sent, `claim_batch` at a time for `lease` (a lease ending
        unused is taken over), so several servers delivering one store send each message
        once while none of them crashes. A message that failed waits out `backoff`; the first
        failure of a sink ends that sink's round (the rest would most likely fail too).
        """
        report = Deliveries()
        for kind, sink in sinks.items():
            now = self.clock.now()
            # Look past the limit, so that messages backing off do not hold back newer ones.
            owed = self.store.awaiting(Awaiting(kind), now, max(limit, self.batch_size))
            due = [task for task in owed if _may_try(self.backoff, task, kind, now)][:limit]
            failed = False
            for start in range(0, len(due), self.claim_batch):
                batch = due[start : start + self.claim_batch]
                now = self.clock.now()
                ids = [task.task_id for task in batch]
                claimed = self.store.claim(kind, ids, self.holder, now, now + self.lease)
                for task in batch:
                    if task.task_id not in claimed:
                        continue
                    if not failed and self._deliver_one(kind, sink, task):
                        report.delivered += 1
                    elif not failed:
                        report.failed += 1
                        failed = True
                self.store.release(kind, sorted(claimed), self.holder)
                if failed:
                    break
            report.waiting += self.store.backlog(kind).count
        if callback_sender is not None:
            self._deliver_callbacks(callback_sender, limit, report)
        return report

    def _deliver_one(self, kind: str, sink: Sink, task: DeletionTask) -> bool:
        """Offer one message to *sink* and record the outcome; True when it was taken."""
        try:
            done = sink.deliver(task, handoff.message_body(task, kind, self.policy))
        except Exception as exc:  # noqa: BLE001 (any failure of a sink is an attempt's outcome)
            detail = exc.detail if isinstance(exc, DeliveryFailed) else type(exc).__name__
            logger.warning("delivery of %s for task %s failed: %s", kind, task.task_id, detail)
            self._settle(
                task.task_id,
                kind,
                lambda t, at: handoff.delivery_failed(t, kind, at, sink.name, detail),
            )
            return False
        self._settle(
            task.task_id, kind, lambda t, at: handoff.delivered(t, kind, at, sink.name, done)
        )
        return True

    def _settle(
        self,
        task_id: str,
        kind: str,
        outcome: Callable[[DeletionTask, dt.datetime], DeletionTask],
    ) -> None:
        """Record a delivery outcome, unless another process already settled that message."""
        self._change(None, task_id, lambda t, at: outcome(t, at) if kind in t.outbox else t)

    def complete(self, task_id: str, by: str) -> DeletionTask:
        """Record that the deleter finished deleting the task's data (idempotent).

        Not scoped to a caller: the deleter and operators call this, never a client app.
        Raises `NotActioned` for a task that was not handed off, `TaskNotFound` for no task.
        """
        return self._change(
            None,
            task_id,
            lambda task, now: handoff.complete(lifecycle.catch_up(task, now, self.policy), now, by),
        )

    def mark_overdue(self) -> int:
        """Store the overdue mark of every task actioned more than `action_window` ago and
        not completed; each mark is published once, as an `overdue` event."""
        now = self.clock.now()
        return self._sweep(
            Awaiting.OVERDUE,
            now - self.policy.action_window,
            lambda task: lifecycle.catch_up(task, now, self.policy),
        )

    def purge_settled(self) -> int:
        """Delete the identifier hashes of every task settled more than `retention` ago:
        completed, cancelled, or handed off and never reported complete (counted from the
        delivery). The tasks, their times and their histories stay."""
        now = self.clock.now()
        cutoff = now - self.policy.retention
        return sum(
            self._sweep(kind, cutoff, lambda task: handoff.purge(task, now, self.policy))
            for kind in (Awaiting.PURGE, Awaiting.PURGE_CANCELLED, Awaiting.PURGE_DELIVERED)
        )

    def overdue(self, limit: int = DEFAULT_PAGE) -> builtins.list[DeletionTask]:
        """Tasks actioned more than `action_window` ago and not completed, oldest actioned
        first, across every account (for operators). Caught up on read: a task stored
        `pending` or `ready` whose hand-off and action window have passed is among them before
        any `advance_due` has stored its transitions."""
        now = self.clock.now()
        cutoff = now - self.policy.action_window
        stored = self.store.awaiting(Awaiting.INCOMPLETE, cutoff, limit)
        # Not yet moved: created so long ago that catching up makes them actioned and overdue.
        created_by = cutoff - self.policy.cancel_period
        lagging = self.store.due(created_by, created_by, limit)
        found = {t.task_id: lifecycle.catch_up(t, now, self.policy) for t in [*stored, *lagging]}
        late = [task for task in found.values() if handoff.is_overdue(task, now, self.policy)]
        late.sort(key=lambda task: (task.actioned_time, task.task_id))
        return late[:limit]

    def maintain(
        self,
        sinks: Mapping[str, Sink] | None = None,
        callback_sender: CallbackSender | None = None,
    ) -> dict[str, int]:
        """Everything time makes due, in order: transitions, overdue marks, purges, and (with
        *sinks* or a *callback_sender*) one delivery round. What a server runs in the
        background."""
        done = {
            "moved": self.advance_due(),
            "overdue": self.mark_overdue(),
            "purged": self.purge_settled(),
        }
        if sinks or callback_sender:
            report = self.deliver(sinks or {}, callback_sender=callback_sender)
            done |= {"delivered": report.delivered, "failed": report.failed}
        return done

    # -- status callbacks ----------------------------------------------------------------------

    def _advanced(
        self, task: DeletionTask, now: dt.datetime, apps: Mapping[str, Callback]
    ) -> DeletionTask:
        """*task* caught up with *now*, owing the callbacks its moves call for."""
        return self._owe(task, lifecycle.catch_up(task, now, self.policy), apps)

    def _callbacks(self) -> dict[str, Callback]:
        """Every app's callback, cached while the store's `access_version` stays (or for
        `CALLBACK_CACHE` seconds, for a store that keeps no version)."""
        version = self.store.access_version()
        cached = self._callback_cache
        if (
            cached is not None
            and cached[0] == version
            and (version is not None or time.monotonic() - cached[1] < CALLBACK_CACHE)
        ):
            return cached[2]
        found = self.store.callbacks()
        self._callback_cache = (version, time.monotonic(), found)
        return found

    def _owe(
        self, old: DeletionTask, new: DeletionTask, apps: Mapping[str, Callback] | None = None
    ) -> DeletionTask:
        """*new*, owing the callbacks its changes since *old* call for, when the app that
        created the task has a callback URL (in *apps*, read once for a batch, or now)."""
        if new is old or not callbacks.client_events(old, new):
            return new
        if new.created_by not in (self._callbacks() if apps is None else apps):
            return new
        return callbacks.owe(old, new)

    def _deliver_callbacks(self, sender: CallbackSender, limit: int, report: Deliveries) -> None:
        """Up to *limit* tasks' owed callbacks, each task's in the order they happened; an app
        whose callback failed is skipped for the rest of the round."""
        now = self.clock.now()
        owed = self.store.awaiting(Awaiting.CALLBACK, now, max(limit, self.batch_size))
        due = [task for task in owed if _may_try(self.backoff, task, CALLBACK, now)][:limit]
        failing: set[str] = set()
        for task in due:
            if task.created_by in failing:
                continue
            for kind in callbacks.owed_entries(task):
                now = self.clock.now()
                if not self.store.claim(kind, [task.task_id], self.holder, now, now + self.lease):
                    break  # another server holds it: the later ones wait, in order
                try:
                    outcome = self._deliver_callback(sender, task, kind.split(".", 1)[1])
                finally:
                    self.store.release(kind, [task.task_id], self.holder)
                if outcome is False:
                    report.failed += 1
                    failing.add(task.created_by)
                    break
                report.delivered += outcome is True
        report.waiting += len(self.store.awaiting(Awaiting.CALLBACK, now, MAX_PAGE))

    def _deliver_callback(
        self, sender: CallbackSender, task: DeletionTask, event: str
    ) -> bool | None:
        """Send one callback and record the outcome: True sent, False failed, None dropped
        (the app has no callback URL any more, or is revoked)."""
        callback = self._callbacks().get(task.created_by)
        if callback is None:  # the cache may predate the registration: ask the store
            callback = self.store.callbacks().get(task.created_by)
        active = callback is not None and self._app(task.created_by)[1] is not None
        if callback is None or not active:
            reason = "no callback URL" if callback is None else "the app is revoked"
            self._settle(
                task.task_id,
                callbacks.entry(event),
                lambda t, at: callbacks.dropped(t, event, at, reason),
            )
            return None
        body = callbacks.callback_body(task, event)
        try:
            sender.send(callback, callbacks.event_id(task, event), body)
        except Exception as exc:  # noqa: BLE001 (any failure of a sender is an attempt's outcome)
            detail = exc.detail if isinstance(exc, DeliveryFailed) else type(exc).__name__
            logger.warning("callback %s for task %s failed: %s", event, task.task_id, detail)
            self._settle(
                task.task_id,
                callbacks.entry(event),
                lambda t, at: callbacks.failed(t, event, at, sender.name, detail),
            )
            return False
        self._settle(
            task.task_id,
            callbacks.entry(event),
            lambda t, at: callbacks.delivered(t, event, at, sender.name),
        )
        return True

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
        caller: Caller | None,
        task_id: str,
        change: Callable[[DeletionTask, dt.datetime], DeletionTask],
    ) -> DeletionTask:
        """Apply *change* (which catches the task up itself) by compare-and-set, re-reading
        and retrying when another writer won. Without a *caller* (operators, the deliverer),
        any task may be changed."""
        for _ in range(self.max_attempts):
            stored = self._visible(caller, task_id) if caller else self._any(task_id)
            new = change(stored, self.clock.now())
            if new is stored:
                return stored
            new = as_successor(stored, self._owe(stored, new))
            if not self.store.update([new]):
                self._publish(stored, new)
                return new
        raise StoreError(f"task {task_id} kept changing; gave up after {self.max_attempts} tries")

    def _any(self, task_id: str) -> DeletionTask:
        task = self.store.get(_check_task_id(task_id))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def _sweep(
        self, what: Awaiting, cutoff: dt.datetime, step: Callable[[DeletionTask], DeletionTask]
    ) -> int:
        """Store `step` of every task awaiting *what*, a batch at a time, until none is left
        (or a round writes nothing: the rest lost their compare-and-set to other writers)."""
        moved = 0
        while True:
            changes = [(t, step(t)) for t in self.store.awaiting(what, cutoff, self.batch_size)]
            apps = self._callbacks()
            changes = [
                (old, as_successor(old, self._owe(old, new, apps)))
                for old, new in changes
                if new is not old
            ]
            rejected = self.store.update([new for _, new in changes])
            written = [(old, new) for old, new in changes if new.task_id not in rejected]
            for old, new in written:
                self._publish(old, new)
            moved += len(written)
            if not written:
                return moved

    def _publish(self, old: DeletionTask, new: DeletionTask) -> None:
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
        """A new app granted *accounts*, which must be allow-listed; returns it and its
        secret, which is not kept."""
        if not accounts:
            raise InvalidRequest("an app needs at least one account")
        granted = frozenset(check_account_id(a, "account id") for a in accounts)
        unlisted = sorted(a for a in granted if self.store.get_account(a) is None)
        if unlisted:
            raise InvalidRequest(
                f"account(s) {', '.join(unlisted)} not allow-listed: allow them first"
            )
        secret = new_secret()
        app = App(new_app_id(), digest_secret(secret), granted, self.clock.now())
        self.store.add_app(app)
        return app, secret

    def revoke_app(self, app_id: str) -> bool:
        return self.store.revoke_app(app_id)

    def list_apps(self) -> builtins.list[App]:
        return self.store.list_apps()

    def set_callback(self, app_id: str, url: str, allow_http: bool = False) -> str:
        """Register *app_id*'s status callback URL with a new signing secret, and return the
        secret (shown once: the store keeps it to sign, and nothing shows it again).
        `InvalidRequest` for a bad URL or no such app."""
        callback = Callback(
            callbacks.check_callback_url(url, allow_http),
            callbacks.new_signing_secret(),
            self.clock.now(),
        )
        if not self.store.set_callback(app_id, callback):
            raise InvalidRequest(f"no app {app_id}")
        return callback.secret

    def rotate_callback_secret(self, app_id: str) -> str:
        """A new signing secret for *app_id*'s callback, at once; returns it.
        `InvalidRequest` when the app has no callback."""
        current = self.store.callbacks().get(app_id)
        if current is None:
            raise InvalidRequest(f"app {app_id} has no callback URL: set one first")
        return self.set_callback(app_id, current.url, allow_http=True)

    def remove_callback(self, app_id: str) -> bool:
        """No more callbacks for *app_id*: those still owed are dropped (and the history says
        so). False when the app had none."""
        if app_id not in self.store.callbacks():
            return False
        return self.store.set_callback(app_id, None)

    def callbacks(self) -> dict[str, Callback]:
        return self.store.callbacks()

    def app_last_used(self) -> dict[str, dt.datetime]:
        """When each app was last used (to within `USE_PRECISION`), for the apps used at all."""
        return self.store.app_last_used()

    def add_operator(self, name: str, password: str | None = None) -> tuple[Operator, str]:
        """A new operator for the console, and the password: *password*, or a generated one
        when None. Only its scrypt hash is stored. `InvalidRequest` for a bad name, a short
        password, or a name already taken."""
        name = check_operator_name(name)
        password = new_password() if password is None else password
        operator = Operator(name, hash_password(password), self.clock.now())
        if self.store.get_operator(name) is not None:
            raise InvalidRequest(f"there is already an operator named {name}")
        try:
            self.store.add_operator(operator)
        except StoreError:
            if self.store.get_operator(name) is not None:  # added meanwhile by another process
                raise InvalidRequest(f"there is already an operator named {name}") from None
            raise
        return operator, password

    def remove_operator(self, name: str) -> bool:
        """Remove an operator: their sessions end at their next request."""
        return self.store.remove_operator(name)

    def list_operators(self) -> builtins.list[Operator]:
        return self.store.list_operators()

    def sign_in(self, name: str, password: str) -> Operator | None:
        """The operator when *password* is theirs, else None. Takes as long (one scrypt) for
        a name that has no operator as for a wrong password."""
        operator = self.store.get_operator(name) if OPERATOR_NAME.fullmatch(name) else None
        if operator is None:
            spend_a_check(password)
            return None
        return operator if verify_password(password, operator.password_hash) else None
