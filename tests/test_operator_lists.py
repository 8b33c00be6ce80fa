"""Operators page through every list of tasks: by status, held, completed and overdue, either
way round, by account, with a cursor that never stops at a page."""

from __future__ import annotations

import datetime as dt

import pytest

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    InvalidRequest,
    ManualClock,
    MemoryStore,
    Operators,
    Policy,
)
from deletion_requests._operators import LISTS

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


def _every_page(operators: Operators, kind: str, **kwargs: object) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = operators.tasks(kind, cursor=cursor, limit=3, **kwargs)
        seen += [task.task_id for task in page.tasks]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.fixture
def made() -> tuple[ManualClock, DeletionService, Operators, dict[str, list[str]]]:
    """Tasks of two accounts, an hour apart: some cancelled, some held, some completed."""
    clock = ManualClock(T0)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    for account in ("acct-1", "acct-2"):
        admin.allow_account(account)
    app, secret = admin.create_app(["acct-1", "acct-2"])
    service = DeletionService(store, clock, Policy(), subscribers=[])
    caller = service.authenticate(app.app_id, secret)
    operators = Operators(service)
    ids: dict[str, list[str]] = {"acct-1": [], "acct-2": []}
    for i in range(14):
        account = ("acct-1", "acct-2")[i % 2]
        ids[account].append(service.create(caller, account, raw_emails=["a@b.c"]).task_id)
        clock.advance(HOUR)
    return clock, service, operators, ids


def test_each_list_pages_every_task_once_newest_or_oldest_first(
    made: tuple[ManualClock, DeletionService, Operators, dict[str, list[str]]],
) -> None:
    clock, service, operators, ids = made
    everyone = [*ids["acct-1"], *ids["acct-2"]]
    order = sorted(everyone, key=lambda t: (service.store.get(t).creation_time, t))
    assert _every_page(operators, "pending") == order[::-1]
    assert _every_page(operators, "pending", oldest_first=True) == order
    assert _every_page(operators, "pending", account_id="acct-2") == ids["acct-2"][::-1]
    operators.hold(order[0], "alice", "legal hold")
    operators.cancel(order[1], "alice", "asked twice")
    assert _every_page(operators, "held") == [order[0]]
    assert _every_page(operators, "cancelled") == [order[1]]
    clock.set(T0 + 16 * DAY)  # past every hand-off: all but the held and cancelled are actioned
    assert _every_page(operators, "actioned", oldest_first=True) == order[2:]
    assert _every_page(operators, "ready") == [order[0]]
    assert _every_page(operators, "overdue") == []
    for task_id in order[2:6]:
        service.complete(task_id, "deleter")
    assert _every_page(operators, "completed", oldest_first=True) == order[2:6]
    assert operators.counts()["completed"] == 4
    clock.set(T0 + 16 * DAY + Policy().action_window)
    assert _every_page(operators, "overdue", oldest_first=True) == order[6:]
    assert _every_page(operators, "overdue", account_id="acct-1") == [
        t for t in order[6:][::-1] if t in ids["acct-1"]
    ]


def test_an_unknown_list_or_a_bad_cursor_is_refused(
    made: tuple[ManualClock, DeletionService, Operators, dict[str, list[str]]],
) -> None:
    operators = made[2]
    assert "completed" in LISTS
    with pytest.raises(InvalidRequest, match="list must be one of"):
        operators.tasks("everything")
    with pytest.raises(InvalidRequest, match="cursor is not valid"):
        operators.tasks("pending", cursor="nonsense")
    with pytest.raises(InvalidRequest, match="limit"):
        operators.tasks("pending", limit=0)
