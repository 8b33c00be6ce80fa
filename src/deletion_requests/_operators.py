"""Use cases for operators: every account's tasks, as the clock sees them, and subjects."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterator
from typing import Any

import attrs

from . import _due_dates as due_dates
from . import _handoff as handoff
from . import _lifecycle as lifecycle
from ._access import Caller
from ._client_requests import Page
from ._context import DEFAULT_PAGE, MAX_PAGE, Context, check_account_id
from ._cursor import decode_cursor, encode_cursor
from ._decisions import OPERATOR, check_reason, operator_by
from ._errors import InvalidRequest
from ._identifiers import collect_identifiers
from ._ports import DayCount, TaskQuery
from ._service import DeletionService
from ._status import Status
from ._task import DeletionTask

_SLICE = dt.timedelta(hours=1)
LISTS = ("pending", "ready", "actioned", "completed", "cancelled", "held", "overdue")
"""The task lists `Operators.tasks` pages through."""


@attrs.define
class Operators:
    """What operators (the CLI, the console, an embedding service) do across accounts.

    Unlike `DeletionService`'s use cases, these are not scoped to an app: they see the tasks of
    every account that ever had one, revoked accounts included, since their tasks stay in the
    lifecycle. Every task is shown caught up with the clock, as the API shows it.
    """

    service: DeletionService

    @property
    def context(self) -> Context:
        """The service's settings and shared steps, which these use cases share with it."""
        return self.service.context

    def accounts(self) -> frozenset[str]:
        """Every account that may hold tasks: those allow-listed now, and those granted to any
        app, revoked ones included."""
        store = self.context.store
        granted = {account for app in store.list_apps() for account in app.accounts}
        return frozenset(granted | {account.account_id for account in store.list_accounts()})

    def show(self, task_id: str) -> DeletionTask:
        """One task, whichever account holds it; `TaskNotFound` when there is none."""
        return self.context.caught_up(self.context.any_task(task_id))

    def list(
        self,
        account_id: str | None = None,
        status: str | Status | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[DeletionTask]:
        """A page of every account's tasks (or *account_id*'s), newest first."""
        accounts = frozenset({account_id}) if account_id is not None else self.accounts()
        return self.service.list(
            Caller(OPERATOR, accounts),
            account_id=account_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    def find(
        self, email: str | None = None, sha256: str | None = None, limit: int = 1000
    ) -> builtins.list[DeletionTask]:
        """The tasks that hold a subject, oldest first: an email address (hashed as a create
        hashes it, and not kept) or a base64 SHA-256 of one."""
        if (email is None) == (sha256 is None):
            raise InvalidRequest("give an email address or a SHA-256 hash, not both")
        (identifier,) = collect_identifiers([email] if email else [], [sha256] if sha256 else [])
        found = self.context.store.find_by_identifier(identifier, limit)
        return [self._caught_up(task) for task in found]

    def export(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[DeletionTask]:
        """Every task created after *since* and at or before *until*, newest first, caught up,
        a page at a time (the store is read as it goes)."""
        query = TaskQuery(
            accounts=self.accounts(),
            created_after=since,
            created_at_or_before=until,
            limit=1000,
        )
        while True:
            page = self.context.store.list_tasks(query)
            for task in page:
                yield self._caught_up(task)
            if len(page) < query.limit:
                return
            last = page[-1]
            query = attrs.evolve(query, before=(last.creation_time, last.task_id))

    def cancel(self, task_id: str, operator: str, reason: str) -> DeletionTask:
        """An operator cancels a task, with a reason, under the guard a client's cancel has:
        only while it is pending or ready (`DeadlineExceeded` after). Recorded as
        `operator:<name>`; idempotent for a cancelled task."""
        by, why = operator_by(operator), check_reason(reason)
        policy = self.context.policy
        return self.context.change(
            None, task_id, lambda task, now: lifecycle.cancel(task, now, policy, by, why)
        )

    def hold(self, task_id: str, operator: str, reason: str) -> DeletionTask:
        """An operator puts a pending or ready task on hold, with a reason: it keeps its status
        and is not handed off until released (`DecisionRefused` for an actioned, cancelled or
        held task)."""
        by, why = operator_by(operator), check_reason(reason)
        policy = self.context.policy
        return self.context.change(
            None, task_id, lambda task, now: lifecycle.hold(task, now, policy, by, why)
        )

    def release(self, task_id: str, operator: str, reason: str = "") -> DeletionTask:
        """An operator ends a hold. A task whose hand-off moment passed while it was held is
        actioned now; any other keeps its times (`DecisionRefused` for a task not held)."""
        by = operator_by(operator)
        why = check_reason(reason) if reason.strip() else ""
        policy = self.context.policy
        return self.context.change(
            None, task_id, lambda task, now: lifecycle.release(task, now, policy, by, why)
        )

    def extend_due(self, task_id: str, operator: str, days: int, reason: str) -> DeletionTask:
        """An operator makes a task due *days* later, with a reason, up to the policy's
        `extension_limit` past its original due date. The app hears of it (a
        `deadline_extended` callback). `DecisionRefused`, saying why, for a completed or
        cancelled task, one past its due time, or an extension past the limit."""
        by, why = operator_by(operator), check_reason(reason)
        policy = self.context.policy
        days = due_dates.check_days(days, policy)
        return self.context.change(
            None,
            task_id,
            lambda task, now: due_dates.extend_due(task, now, policy, by, days, why),
        )

    def tasks(
        self,
        kind: str,
        account_id: str | None = None,
        oldest_first: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[DeletionTask]:
        """A page of one of the `LISTS`, every account's (or *account_id*'s), caught up: by
        status as the clock sees it (`actioned` includes completed tasks), `held` (on hold
        now, or when cancelled), `overdue` (handed off, past its due time and not
        completed). Newest created first, or oldest first, which is soonest hand-off (and
        soonest due) first for every task never held past its hand-off moment. The cursor
        continues the listing in the order it came from."""
        if kind not in LISTS:
            raise InvalidRequest(f"the list must be one of {', '.join(LISTS)}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if account_id is not None:
            accounts = frozenset({check_account_id(account_id, "account")})
        else:
            accounts = self.accounts()
        position = None if cursor is None else decode_cursor(cursor)
        now, policy = self.context.clock.now(), self.context.policy
        ready_from, actioned_from = now - policy.pending_period, now - policy.cancel_period
        filters: dict[str, builtins.list[dict[str, Any]]] = {
            "pending": [{"cancelled": False, "created_after": ready_from}],
            "ready": [
                {
                    "cancelled": False,
                    "created_after": actioned_from,
                    "created_at_or_before": ready_from,
                },
                {"cancelled": False, "held": True, "created_at_or_before": actioned_from},
            ],
            "actioned": [
                {"cancelled": False, "held": False, "created_at_or_before": actioned_from}
            ],
            "completed": [{"completed": True}],
            "cancelled": [{"cancelled": True}],
            "held": [{"held": True}],
            # A superset: every task is due at least `due_period` after its creation.
            "overdue": [
                {
                    "cancelled": False,
                    "held": False,
                    "completed": False,
                    "created_at_or_before": actioned_from - policy.action_window,
                }
            ],
        }
        found: builtins.list[DeletionTask] = []
        for bounds in filters[kind] if accounts else []:
            query = TaskQuery(
                accounts=accounts,
                limit=limit + 1,
                oldest_first=oldest_first,
                before=None if oldest_first else position,
                after=position if oldest_first else None,
                **bounds,
            )
            found.extend(self.context.store.list_tasks(query))
        found.sort(key=lambda task: (task.creation_time, task.task_id), reverse=not oldest_first)
        read = found[:limit]
        tasks = [self._caught_up(task) for task in read]
        if kind == "overdue":
            tasks = [task for task in tasks if handoff.is_overdue(task, now, policy)]
        next_cursor = None
        if len(found) > limit:
            next_cursor = encode_cursor((read[-1].creation_time, read[-1].task_id))
        return Page(tasks=tuple(tasks), next_cursor=next_cursor)

    def held(self, limit: int = DEFAULT_PAGE) -> builtins.list[DeletionTask]:
        """The tasks on hold, every account's, newest first."""
        query = TaskQuery(accounts=self.accounts(), held=True, cancelled=False, limit=limit)
        return [self._caught_up(task) for task in self.context.store.list_tasks(query)]

    def counts(self) -> dict[str, int]:
        """How many tasks there are by status, as the clock sees them, and how many are held,
        purged and completed (`Reports.count_tasks`). One pass over the tasks in the store."""
        context = self.context
        return context.store.count_tasks(*context.policy.cutoffs(context.clock.now()))

    def trend(self, days: int = 60) -> builtins.list[DayCount]:
        """Tasks created, cancelled, actioned, completed and marked overdue on each of the
        last *days* UTC days, today included, oldest first, with a zero count for a day that
        had none."""
        today = self.context.clock.now().date()
        first = today - dt.timedelta(days=days - 1)
        since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        found = {day.day: day for day in self.context.store.daily_counts(since)}
        return [
            found.get(first + dt.timedelta(days=i), DayCount(first + dt.timedelta(days=i)))
            for i in range(days)
        ]

    def ready(self, limit: int = DEFAULT_PAGE) -> builtins.list[DeletionTask]:
        """Up to *limit* of the tasks in their review window now (ready, held or not), soonest
        hand-off first: every account's tasks created between `cancel_period` and
        `pending_period` ago, not cancelled. Read an hour of creations at a time from the
        oldest, so that the soonest come first however many the window holds (exact while
        no hour holds more than *limit*)."""
        end, start = self.context.policy.cutoffs(self.context.clock.now())
        found: builtins.list[DeletionTask] = []
        accounts = self.accounts()
        while start < end and len(found) < limit:
            query = TaskQuery(
                accounts=accounts,
                cancelled=False,
                created_after=start,
                created_at_or_before=min(start + _SLICE, end),
                limit=limit,
            )
            hour = [self._caught_up(task) for task in self.context.store.list_tasks(query)]
            found += [task for task in reversed(hour) if task.status is Status.READY]
            start += _SLICE
        return found[:limit]

    def created_since(
        self, since: dt.datetime, limit: int = DEFAULT_PAGE
    ) -> builtins.list[DeletionTask]:
        """Every account's tasks created after *since*, newest first."""
        query = TaskQuery(accounts=self.accounts(), created_after=since, limit=limit)
        return [self._caught_up(task) for task in self.context.store.list_tasks(query)]

    def _caught_up(self, task: DeletionTask) -> DeletionTask:
        return self.context.caught_up(task)
