"""The contract of a page of a listing through a store: its summaries (`list_summaries`) are
the summaries of the tasks `list_tasks` reads, and a page of them is the page of the whole
tasks, to the byte. Part of `StoreContract`."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletion_requests._access import Caller
from deletion_requests._clock import ManualClock
from deletion_requests._codec import summaries_to_api_json, tasks_to_api_json
from deletion_requests._errors import DeadlineExceeded, DecisionRefused
from deletion_requests._lifecycle import hold, release
from deletion_requests._ports import Store, TaskQuery
from deletion_requests._service import DeletionService
from deletion_requests._status import Status
from deletion_requests._summary import TaskSummary
from deletion_requests._task import DeletionTask

from ._case import POLICY, T0, PortContract
from ._strategies import aware_datetimes, tasks

SUMMARY_FIELDS = TaskSummary._fields
WINDOW = 3 * POLICY.cancel_period
"""Tasks are created within this of T0, and the clock reads within it of them."""
PAGE_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one store, new accounts an example
        HealthCheck.too_slow,
        HealthCheck.differing_executors,  # each store's subclass runs these same tests
    ],
)


@st.composite
def stored_tasks(draw: st.DrawFn, accounts: tuple[str, str]) -> list[DeletionTask]:
    """Up to 8 tasks of *accounts* in any reachable state (held and released now and then),
    each with an id of its own."""
    found = []
    moments = aware_datetimes(T0 - WINDOW, T0 + WINDOW)
    for _ in range(draw(st.integers(1, 8))):
        task = draw(tasks(POLICY, st.sampled_from(accounts), moments))
        if task.status in (Status.PENDING, Status.READY) and draw(st.booleans()):
            at = max((task.creation_time, *(step.at for step in task.history))) + draw(
                st.timedeltas(dt.timedelta(0), POLICY.cancel_period)
            )
            try:
                task = hold(task, at, POLICY, "operator:ann", "audit")
                if draw(st.booleans()):
                    later = at + draw(st.timedeltas(dt.timedelta(0), 2 * POLICY.cancel_period))
                    task = release(task, later, POLICY, "operator:ann")
            except (DeadlineExceeded, DecisionRefused):
                pass  # past its hand-off, or not holdable: kept as it was
        found.append(attrs.evolve(task, task_id=str(uuid.uuid4())))
    return found


@st.composite
def queries(
    draw: st.DrawFn, accounts: tuple[str, str], stored: list[DeletionTask]
) -> list[TaskQuery]:
    """Three queries of one or both *accounts*, with any filters, a cursor at one of
    *stored*, either order and a small limit."""
    cursors = [(task.creation_time, task.task_id) for task in stored]
    queries = []
    for _ in range(3):
        bounds: dict[str, object] = {}
        for name in ("cancelled", "held", "completed"):
            bounds[name] = draw(st.sampled_from([None, True, False]))
        if draw(st.booleans()):
            bounds["created_after"] = draw(aware_datetimes(T0 - WINDOW, T0 + WINDOW))
        if draw(st.booleans()):
            bounds["before"] = draw(st.sampled_from(cursors))
        queries.append(
            TaskQuery(
                accounts=frozenset(accounts[: draw(st.integers(1, 2))]),
                limit=draw(st.integers(1, 9)),
                oldest_first=draw(st.booleans()) and "before" not in bounds,
                **bounds,  # type: ignore[arg-type]
            )
        )
    return queries


def _fresh_accounts() -> tuple[str, str]:
    """Two accounts no earlier example used, so that each example lists its own tasks."""
    tag = uuid.uuid4().hex[:12]
    return (f"acct-{tag}-a", f"acct-{tag}-b")


class PageCases(PortContract[Store]):
    """A page's summaries through the store; part of `StoreContract`."""

    @PAGE_SETTINGS
    @given(data=st.data())
    def test_summaries_are_the_summaries_of_the_listed_tasks(
        self, store: Store, data: st.DataObject
    ) -> None:
        """For tasks in every state and any query, `list_summaries` answers the summaries of
        what `list_tasks` answers, in its order, each value of the type the task holds, and
        the same JSON."""
        accounts = _fresh_accounts()
        stored = data.draw(stored_tasks(accounts))
        for task in stored:
            store.add(task)
        for query in data.draw(queries(accounts, stored)):
            whole = store.list_tasks(query)
            summaries = store.list_summaries(query)
            assert summaries == [TaskSummary.of(task) for task in whole], query
            for summary, task in zip(summaries, whole, strict=True):
                assert type(summary) is TaskSummary
                for name in SUMMARY_FIELDS:
                    value, expected = getattr(summary, name), getattr(task, name)
                    assert type(value) is type(expected), name
                    if isinstance(value, dt.datetime):
                        assert value.tzinfo is expected.tzinfo, name
            assert summaries_to_api_json(summaries) == tasks_to_api_json(whole)

    @PAGE_SETTINGS
    @given(data=st.data())
    def test_a_page_of_summaries_is_the_page_of_the_tasks(
        self, store: Store, data: st.DataObject
    ) -> None:
        """At any moment, for any status filter, the client's page of summaries is the page
        of the whole tasks caught up: the same JSON to the byte, the same cursor."""
        accounts = _fresh_accounts()
        stored = data.draw(stored_tasks(accounts))
        for task in stored:
            store.add(task)
        now = data.draw(aware_datetimes(T0 - WINDOW, T0 + 2 * WINDOW))
        service = DeletionService(store, ManualClock(now), POLICY, subscribers=[])
        caller = Caller("app_a", frozenset(accounts))
        account = data.draw(st.sampled_from([None, *accounts]))
        status = data.draw(st.sampled_from([None, *(status.value for status in Status)]))
        limit = data.draw(st.integers(1, 9))
        cursor = None
        for _ in range(3):
            whole = service.list(caller, account, status, limit, cursor)
            page = service.list_summaries(caller, account, status, limit, cursor)
            assert summaries_to_api_json(page.tasks) == tasks_to_api_json(whole.tasks)
            assert page.tasks == tuple(TaskSummary.of(task) for task in whole.tasks)
            assert page.next_cursor == whole.next_cursor
            cursor = page.next_cursor
            if cursor is None:
                break
