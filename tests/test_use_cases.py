"""The core's use cases stay apart (none reaches into another's private members), and every
restatement of the timing rule agrees with the one reference, `status_at`."""

from __future__ import annotations

import ast
import datetime as dt
import pathlib

from hypothesis import given
from hypothesis import strategies as st

from deletion_requests import (
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Policy,
    Status,
)
from deletion_requests._policy import status_at, status_bounds
from deletion_requests.stores import TaskQuery, counted_status

CORE = pathlib.Path(__file__).parent.parent / "src" / "deletion_requests"
USE_CASE_MODULES = [
    "_service.py",
    "_context.py",
    "_authentication.py",
    "_client_requests.py",
    "_background_work.py",
    "_outbox_delivery.py",
    "_callback_delivery.py",
    "_access_admin.py",
    "_operators.py",
    "_destination_work.py",
    "_destination_push.py",
]
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
POLICY = Policy()


def foreign_private_uses(source: str) -> list[str]:
    """`x._name` where x is not `self` (nor `cls`): a reach into another object's privates."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        if private and not own:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_the_check_sees_a_reach_into_privates() -> None:
    assert foreign_private_uses("self.service._change(None)") == ["line 1: ._change"]
    assert foreign_private_uses("self._cache.get(k); obj.__class__") == []


def test_no_use_case_reaches_into_another_ones_privates() -> None:
    for name in USE_CASE_MODULES:
        assert foreign_private_uses((CORE / name).read_text()) == [], name


def test_every_use_case_module_is_under_400_lines() -> None:
    for name in [*USE_CASE_MODULES, "_lifecycle.py", "_policy.py"]:
        assert len((CORE / name).read_text().splitlines()) <= 400, name


def test_settings_set_on_the_service_are_its_use_cases() -> None:
    service = DeletionService(MemoryStore(), ManualClock(T0))
    service.lease = dt.timedelta(seconds=30)
    service.policy = Policy(retention=dt.timedelta(days=1))
    assert service.context.lease == dt.timedelta(seconds=30)
    assert service.outbox.context.lease == dt.timedelta(seconds=30)
    assert service.background.context.policy.retention == dt.timedelta(days=1)


ages = st.timedeltas(min_value=dt.timedelta(0), max_value=2 * POLICY.cancel_period)


def stored(age: dt.timedelta, status: Status, held: bool, cancelled: bool) -> DeletionTask:
    created = T0 - age
    return DeletionTask(
        task_id="3bc2e8b0-88ee-400c-8696-44897bc95cd3",
        account_id="acct-a",
        status=Status.CANCELLED if cancelled else status,
        creation_time=created,
        identifiers=frozenset(),
        ready_time=created + POLICY.pending_period if status is Status.READY else None,
        cancelled_time=created if cancelled else None,
        held_time=created if held else None,
    )


@given(age=ages, held=st.booleans(), cancelled=st.booleans())
def test_status_filters_find_the_tasks_of_their_status(
    age: dt.timedelta, held: bool, cancelled: bool
) -> None:
    task = stored(age, Status.PENDING, held and not cancelled, cancelled)
    expected = status_at(task.creation_time, task.cancelled_time, T0, POLICY, held)
    for status in Status:
        queries = [
            TaskQuery(accounts={"acct-a"}, **bounds)
            for bounds in status_bounds(status, *POLICY.cutoffs(T0))
        ]
        assert any(q.matches(task) for q in queries) == (status is expected), status


@given(age=ages, held=st.booleans(), ready=st.booleans())
def test_counted_status_is_the_status_at_the_cutoffs(
    age: dt.timedelta, held: bool, ready: bool
) -> None:
    if ready and age < POLICY.pending_period:
        age += POLICY.pending_period  # a task stored ready was created that long ago at least
    task = stored(age, Status.READY if ready else Status.PENDING, held, cancelled=False)
    counted = counted_status(task, *POLICY.cutoffs(T0))
    assert counted == status_at(task.creation_time, None, T0, POLICY, held)
