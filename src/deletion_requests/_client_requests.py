"""Use cases of client apps: create, get, list, cancel and bulk-cancel deletion tasks, each
scoped to the caller's accounts."""

from __future__ import annotations

import builtins
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

import attrs

from . import _creating as creating
from . import _lifecycle as lifecycle
from ._access import Caller
from ._context import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Context,
    authorise,
    check_account_id,
    check_task_id,
    seen_by,
)
from ._creating import PreparedCreate
from ._cursor import decode_cursor, encode_cursor
from ._errors import (
    DeadlineExceeded,
    DuplicateTask,
    IdempotencyKeyConflict,
    InvalidRequest,
    StoreError,
    TaskNotFound,
)
from ._identifiers import collect_identifiers, idempotency_digest
from ._policy import Policy, status_bounds
from ._ports import TaskQuery
from ._status import Status
from ._summary import TaskSummary, catch_up_summary
from ._task import DeletionTask, as_successor

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


Shown = TypeVar("Shown", DeletionTask, TaskSummary)


@attrs.frozen
class Page(Generic[Shown]):
    """One page of a listing, of whole tasks or of their summaries; `next_cursor` is None on
    the last page."""

    tasks: tuple[Shown, ...]
    next_cursor: str | None


@attrs.frozen
class Listing:
    """A listing's store queries, and how their answers make its page."""

    queries: tuple[TaskQuery, ...]
    limit: int
    now: dt.datetime
    policy: Policy

    def page(self, found: Iterable[Sequence[DeletionTask]]) -> Page[DeletionTask]:
        """The page of the queries' answers (*found*, one list a query, in order): newest
        first, caught up with the clock at the listing's moment."""
        return self._page(found, lifecycle.catch_up)

    def summary_page(self, found: Iterable[Sequence[TaskSummary]]) -> Page[TaskSummary]:
        """`page` of the queries' summaries (`TaskRecords.list_summaries`): the summaries of
        the tasks `page` shows."""
        return self._page(found, catch_up_summary)

    def _page(
        self,
        found: Iterable[Sequence[Shown]],
        caught_up: Callable[[Shown, dt.datetime, Policy], Shown],
    ) -> Page[Shown]:
        answers = builtins.list(found)
        if len(answers) == 1:  # one query's answer is in the store's order: newest first
            tasks: Sequence[Shown] = answers[0]
        else:
            tasks = sorted(
                itertools.chain.from_iterable(answers),
                key=lambda task: (task.creation_time, task.task_id),
                reverse=True,
            )
        now, policy = self.now, self.policy
        shown = tuple([caught_up(task, now, policy) for task in tasks[: self.limit]])
        next_cursor = None
        if len(tasks) > self.limit:
            last = shown[-1]
            next_cursor = encode_cursor((last.creation_time, last.task_id))
        return Page(tasks=shown, next_cursor=next_cursor)


@attrs.frozen
class Getting:
    """A `get`'s read (`read_id`, the task id as the store keeps it), and its answer."""

    caller: Caller
    task_id: str
    read_id: str
    context: Context

    def answer(self, task: DeletionTask | None) -> DeletionTask:
        """The task the store answered (*task*), up to date with the clock; `TaskNotFound`
        when there is none or the caller cannot see it."""
        return self.context.caught_up(seen_by(self.caller, self.task_id, task))


@attrs.define
class ClientRequests:
    """What a client app asks of its accounts' tasks. The status of a task is brought up to
    date with the clock before it is shown or changed."""

    context: Context

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
            self.context.store.add(prepared.task, prepared.key)
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
        with an `idempotency_key`, the read of the task it is bound to (then `done`): the
        same as `prepare_new`, then `replayed` with the store's `find_by_idempotency_key`."""
        prepared = self.prepare_new(caller, account_id, raw_emails, sha256_emails, idempotency_key)
        if prepared.key is None:
            return prepared
        return self.replayed(prepared, self.context.store.find_by_idempotency_key(*prepared.key))

    def prepare_new(
        self,
        caller: Caller,
        account_id: str,
        raw_emails: object = (),
        sha256_emails: object = (),
        idempotency_key: str | None = None,
    ) -> PreparedCreate:
        """`prepare_create` without the read of the task its key is bound to: reads nothing
        from the store but, with an `idempotency_key`, the store's idempotency secret (once
        per store object)."""
        account_id = check_account_id(account_id)
        authorise(caller, account_id)
        identifiers = collect_identifiers(raw_emails, sha256_emails)
        key = creating.idempotency_scope(caller, idempotency_key)
        if key is not None:
            # The store binds a keyed digest, never the key as sent (it may be an address).
            key = (key[0], idempotency_digest(self.context.store, key[0], key[1]))
        now = self.context.clock.now()
        task = creating.pending_task(caller, account_id, identifiers, now, self.context.policy)
        return PreparedCreate(account_id, identifiers, task, key)

    def replayed(self, prepared: PreparedCreate, existing: DeletionTask | None) -> PreparedCreate:
        """*prepared*, answered (`done`) by *existing*, the task its key is bound to (the
        store's `find_by_idempotency_key`), when there is one; `InvalidRequest` when that
        task was created by a different request."""
        if existing is None:
            return prepared
        return attrs.evolve(prepared, done=self._replay(existing, prepared))

    def finish_create(
        self, prepared: PreparedCreate, refused: IdempotencyKeyConflict | DuplicateTask | None
    ) -> DeletionTask:
        """The answer to a create whose task was stored (*refused* None) or refused by the
        store: a key that a racing create bound first answers with that create's task."""
        if refused is None:
            return prepared.task
        if isinstance(refused, DuplicateTask):
            raise refused
        bound = self.context.store.get(refused.task_id)
        if bound is None:  # pragma: no cover (a store that binds keys to nothing is broken)
            raise StoreError(f"idempotency key bound to missing task {refused.task_id}")
        return self._replay(bound, prepared)

    def _replay(self, existing: DeletionTask, prepared: PreparedCreate) -> DeletionTask:
        creating.check_same_request(existing, prepared.account_id, prepared.identifiers)
        return self.context.caught_up(existing)

    def get(self, caller: Caller, task_id: str) -> DeletionTask:
        """The task, up to date with the clock; `TaskNotFound` when the caller cannot see it."""
        getting = self.getting(caller, task_id)
        return getting.answer(self.context.store.get(getting.read_id))

    def getting(self, caller: Caller, task_id: str) -> Getting:
        """`get` without its read: the id to read (`InvalidRequest` for one that is not a
        task id), and how the store's answer makes the task."""
        return Getting(caller, task_id, check_task_id(task_id), self.context)

    def list(
        self,
        caller: Caller,
        account_id: str | None = None,
        status: str | Status | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[DeletionTask]:
        """A page of the caller's tasks, newest first, filtered by account and status.

        A status is a function of the creation time, the cancel and the hold, so a status
        filter is a union of store queries on those (`status_bounds`): a held task is never
        actioned, and stays `ready` past the hand-off moment until it is released."""
        listing = self.listing(caller, account_id, status, limit, cursor)
        return listing.page([self.context.store.list_tasks(query) for query in listing.queries])

    def list_summaries(
        self,
        caller: Caller,
        account_id: str | None = None,
        status: str | Status | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[TaskSummary]:
        """`list`, the page's tasks as their summaries (the store's `list_summaries`): what a
        page that shows only the tasks' own fields needs."""
        listing = self.listing(caller, account_id, status, limit, cursor)
        store = self.context.store
        return listing.summary_page([store.list_summaries(query) for query in listing.queries])

    def listing(
        self,
        caller: Caller,
        account_id: str | None = None,
        status: str | Status | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Listing:
        """`list` without its reads: the checks, and the store queries whose answers
        `Listing.page` makes the page of."""
        if account_id is not None:
            authorise(caller, check_account_id(account_id))
            accounts = frozenset({account_id})
        else:
            accounts = caller.accounts
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        wanted = _status(status)
        now = self.context.clock.now()
        before = None if cursor is None else decode_cursor(cursor)
        queries: builtins.list[TaskQuery] = []
        if accounts:
            bounds = (
                [{}] if wanted is None else status_bounds(wanted, *self.context.policy.cutoffs(now))
            )
            queries = [
                TaskQuery(accounts=accounts, before=before, limit=limit + 1, **bound)
                for bound in bounds
            ]
        return Listing(tuple(queries), limit, now, self.context.policy)

    def cancel(self, caller: Caller, task_id: str) -> DeletionTask:
        """Cancel a pending or ready task; idempotent for a cancelled one.

        Raises `DeadlineExceeded`, and stores nothing, once the task is past `ready`.
        """
        policy = self.context.policy
        return self.context.change(
            caller,
            task_id,
            lambda task, now: lifecycle.cancel(task, now, policy, by=caller.app_id),
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
        ids = [check_task_id(task_id) for task_id in task_ids]
        context = self.context
        now = context.clock.now()
        apps = context.callbacks()
        outcome: dict[str, str] = {}
        writes: builtins.list[tuple[DeletionTask, DeletionTask]] = []
        for task_id in dict.fromkeys(ids):
            task = context.store.get(task_id)
            if task is None or task.account_id not in caller.accounts:
                outcome[task_id] = NOT_FOUND
            elif task.cancelled_time is not None:
                outcome[task_id] = ALREADY_CANCELLED
            else:
                try:
                    new = lifecycle.cancel(task, now, context.policy, by=caller.app_id)
                except DeadlineExceeded:
                    outcome[task_id] = DEADLINE_EXCEEDED
                else:
                    writes.append((task, as_successor(task, context.owe(task, new, apps))))
        rejected = context.store.update([new for _, new in writes]) if writes else frozenset()
        for old, new in writes:
            if new.task_id in rejected:
                outcome[new.task_id] = self._cancel_alone(caller, new.task_id)
            else:
                context.publish(old, new)
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
            before = self.context.visible(caller, task_id)
            if before.cancelled_time is not None:
                return ALREADY_CANCELLED
            self.cancel(caller, task_id)
        except TaskNotFound:
            return NOT_FOUND
        except DeadlineExceeded:
            return DEADLINE_EXCEEDED
        return CANCELLED


def _status(status: str | Status | None) -> Status | None:
    """The status a listing is filtered by; `InvalidRequest` naming the statuses there are."""
    if status is None:
        return None
    try:
        return Status(status)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise InvalidRequest(f"status must be one of {names}") from None
