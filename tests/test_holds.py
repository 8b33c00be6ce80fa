"""Holds: an operator stops a request at review; it is never handed off until released."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deletion_requests import (
    AccessAdmin,
    Caller,
    DecisionRefused,
    DeletionService,
    ManualClock,
    MemoryStore,
    Operators,
    Policy,
    Status,
)
from deletion_requests.wire import task_detail_to_api, task_to_api

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
POLICY = Policy()


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        self.service = DeletionService(self.store, self.clock, POLICY, subscribers=[])
        self.caller = self.service.authenticate(app.app_id, secret)
        self.operators = Operators(self.service)

    def create(self) -> str:
        return self.service.create(self.caller, "acct-1", raw_emails=["a@b.c"]).task_id

    def status(self, task_id: str) -> Status:
        return self.service.get(self.caller, task_id).status

    def listed(self, status: Status) -> set[str]:
        page = self.service.list(self.caller, status=status, limit=1000)
        return {task.task_id for task in page.tasks}


@settings(max_examples=100)
@given(
    hold_at=st.timedeltas(min_value=dt.timedelta(0), max_value=15 * DAY - dt.timedelta(seconds=1)),
    steps=st.lists(
        st.tuples(st.timedeltas(min_value=dt.timedelta(0), max_value=20 * DAY), st.booleans()),
        max_size=6,
    ),
)
def test_a_held_task_is_never_actioned_whatever_the_clock_and_the_advance_do(
    hold_at: dt.timedelta, steps: list[tuple[dt.timedelta, bool]]
) -> None:
    world = World()
    task_id = world.create()
    world.clock.advance(hold_at)
    world.operators.hold(task_id, "ana", "legal hold")
    for delta, advance in steps:
        world.clock.advance(delta)
        if advance:
            world.service.maintain()
        status = world.status(task_id)
        assert status in (Status.PENDING, Status.READY)
        assert status is Status.READY or world.clock.now() < T0 + POLICY.pending_period
        assert task_id in world.listed(status)
        assert task_id not in world.listed(Status.ACTIONED)
        assert world.service.overdue() == []
        shown = task_to_api(world.service.get(world.caller, task_id))
        assert shown["heldTime"] == (T0 + hold_at).isoformat()
        assert shown["actionedTime"] is None


@settings(max_examples=100)
@given(
    hold_at=st.timedeltas(min_value=dt.timedelta(0), max_value=15 * DAY - dt.timedelta(seconds=1)),
    release_after=st.timedeltas(min_value=dt.timedelta(0), max_value=30 * DAY),
)
def test_release_actions_a_task_whose_moment_passed_and_leaves_the_others_alone(
    hold_at: dt.timedelta, release_after: dt.timedelta
) -> None:
    world = World()
    task_id = world.create()
    world.clock.advance(hold_at)
    world.operators.hold(task_id, "ana", "legal hold")
    world.clock.advance(release_after)
    released_at = world.clock.now()
    released = world.operators.release(task_id, "bo", "cleared")
    deadline = T0 + POLICY.cancel_period
    assert released.held_time is None
    if released_at >= deadline:
        assert released.status is Status.ACTIONED
        assert released.actioned_time == released_at  # actioned at the release
    else:
        assert released.status is not Status.ACTIONED
        assert released.actioned_time is None
        world.clock.set(deadline)
        world.service.advance_due()
        assert world.service.get(world.caller, task_id).actioned_time == deadline  # times stand


def test_decisions_never_change_a_terminal_task() -> None:
    world = World()
    actioned, cancelled, held = world.create(), world.create(), world.create()
    world.service.cancel(world.caller, cancelled)
    world.operators.hold(held, "ana", "legal hold")
    world.clock.advance(15 * DAY)
    world.service.advance_due()
    before = {task_id: world.store.get(task_id) for task_id in (actioned, cancelled, held)}
    for task_id in (actioned, cancelled):
        with pytest.raises(DecisionRefused, match="only a pending or ready task can be held"):
            world.operators.hold(task_id, "ana", "too late")
        with pytest.raises(DecisionRefused, match="not on hold"):
            world.operators.release(task_id, "ana")
    with pytest.raises(DecisionRefused, match="already on hold"):
        world.operators.hold(held, "ana", "twice")
    assert {task_id: world.store.get(task_id) for task_id in before} == before


def test_a_client_may_cancel_a_held_task_even_past_the_hand_off_moment() -> None:
    world = World()
    task_id = world.create()
    world.operators.hold(task_id, "ana", "legal hold")
    world.clock.advance(20 * DAY)
    assert world.service.cancel(world.caller, task_id).status is Status.CANCELLED
    with pytest.raises(DecisionRefused):
        world.operators.release(task_id, "ana")


def test_clients_see_that_an_operator_decided_but_not_who_or_why() -> None:
    world = World()
    task_id = world.create()
    world.operators.hold(task_id, "ana", "subject disputes the request")
    task = world.service.get(world.caller, task_id)
    client = task_detail_to_api(task)
    assert [(s["event"], s["by"], s["detail"]) for s in client["history"]] == [
        ("created", world.caller.app_id, None),
        ("held", "operator", None),
    ]
    operators = task_detail_to_api(task, for_operators=True)
    assert operators["history"][-1]["by"] == "operator:ana"
    assert operators["history"][-1]["detail"] == "subject disputes the request"


def test_held_tasks_are_listed_apart_for_operators() -> None:
    world = World()
    plain, held = world.create(), world.create()
    world.operators.hold(held, "ana", "legal hold")
    assert [task.task_id for task in world.operators.held()] == [held]
    assert plain not in {task.task_id for task in world.operators.held()}
    assert Caller  # the listing is every account's, not an app's
