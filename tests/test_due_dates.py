"""Due dates: every task is due 30 days after its creation, operators extend that within the
limit, and a task (and each of its open jobs) past it is overdue."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deletion_requests import (
    AccessAdmin,
    DecisionRefused,
    DeletionService,
    InvalidRequest,
    ManualClock,
    MemoryStore,
    Operators,
    Policy,
)
from deletion_requests._policy import DUE_PERIOD
from deletion_requests.stores import Callback
from deletion_requests.wire import task_detail_to_api, task_to_api

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
POLICY = Policy()


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        self.sent.append((event_id, orjson.loads(body)))


class World:
    def __init__(self, policy: Policy = POLICY) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        admin.set_callback(app.app_id, "https://client.example/hooks")
        self.service = DeletionService(self.store, self.clock, policy, subscribers=[])
        self.caller = self.service.authenticate(app.app_id, secret)
        self.operators = Operators(self.service)
        self.sender = Recorder()

    def create(self) -> str:
        return self.service.create(self.caller, "acct-1", raw_emails=["p@example.com"]).task_id

    def shown(self, task_id: str) -> dict[str, object]:
        return task_detail_to_api(self.service.get(self.caller, task_id))


def test_the_default_due_period_is_the_default_policys() -> None:
    assert POLICY.due_period == DUE_PERIOD == 30 * DAY
    assert Policy(action_window=DAY).due_period == 16 * DAY


def test_a_new_task_is_due_30_days_after_its_creation_and_the_api_shows_it() -> None:
    world = World()
    task_id = world.create()
    assert world.shown(task_id)["dueTime"] == (T0 + 30 * DAY).isoformat()
    listed = world.service.list(world.caller).tasks
    assert task_to_api(listed[0])["dueTime"] == (T0 + 30 * DAY).isoformat()


def test_a_policy_with_other_periods_is_due_after_their_sum() -> None:
    world = World(Policy(pending_period=DAY, review_period=DAY, action_window=DAY))
    assert world.shown(world.create())["dueTime"] == (T0 + 3 * DAY).isoformat()


def test_overdue_follows_the_due_time_not_the_hand_off() -> None:
    """A task held past its hand-off and released late has less time: it is overdue at its
    due time, not an action window after it was actioned."""
    world = World()
    task_id = world.create()
    world.clock.advance(13 * DAY)
    world.operators.hold(task_id, "ana", "check the account")
    world.clock.advance(12 * DAY)  # day 25
    world.operators.release(task_id, "ana", "checked")
    world.clock.set(T0 + 30 * DAY - dt.timedelta(seconds=1))
    assert world.service.overdue() == []
    assert world.shown(task_id)["overdue"] is False
    world.clock.set(T0 + 30 * DAY)
    assert [t.task_id for t in world.service.overdue()] == [task_id]
    assert world.service.mark_overdue() == 1
    assert world.shown(task_id)["overdue"] is True
    assert world.operators.tasks("overdue").tasks[0].task_id == task_id


def test_an_extension_moves_the_due_time_tells_the_app_and_is_in_the_history() -> None:
    world = World()
    task_id = world.create()
    world.clock.advance(20 * DAY)
    extended = world.operators.extend_due(task_id, "ana", 10, "the CRM export is slow")
    assert extended.due_time == T0 + 40 * DAY
    assert world.shown(task_id)["dueTime"] == (T0 + 40 * DAY).isoformat()
    step = extended.history[-1]
    assert (step.event, step.by, step.at) == ("deadline_extended", "operator:ana", T0 + 20 * DAY)
    assert step.detail == f"by 10 day(s) to {(T0 + 40 * DAY).isoformat()}: the CRM export is slow"
    # The app sees that an operator extended it, not who or why.
    client_step = world.shown(task_id)["history"][-1]  # type: ignore[index]
    assert (client_step["event"], client_step["by"], client_step["detail"]) == (
        "deadline_extended",
        "operator",
        None,
    )
    world.service.deliver({}, callback_sender=world.sender)
    told = [(e, b["eventType"], b["task"]["dueTime"]) for e, b in world.sender.sent]  # type: ignore[index]
    due = T0 + 40 * DAY
    event_id = f"deadline_extended_{task_id}_{int(due.timestamp())}"
    assert (event_id, "deadline_extended", due.isoformat()) in told
    # Not overdue at the old due time any more.
    world.clock.set(T0 + 35 * DAY)
    world.service.maintain()
    assert world.shown(task_id)["overdue"] is False
    world.clock.set(T0 + 40 * DAY)
    assert world.shown(task_id)["overdue"] is True


def test_a_second_extension_is_told_under_its_own_event_id() -> None:
    world = World()
    task_id = world.create()
    world.operators.extend_due(task_id, "ana", 5, "first")
    world.service.deliver({}, callback_sender=world.sender)
    world.operators.extend_due(task_id, "ana", 5, "second")
    world.service.deliver({}, callback_sender=world.sender)
    ids = [e for e, b in world.sender.sent if b["eventType"] == "deadline_extended"]
    assert len(ids) == len(set(ids)) == 2


def test_extensions_add_up_to_the_limit_and_one_past_it_is_refused_changing_nothing() -> None:
    world = World()
    task_id = world.create()
    world.operators.extend_due(task_id, "ana", 30, "slow system")
    world.operators.extend_due(task_id, "ana", 15, "slower still")
    before = world.service.get(world.caller, task_id)
    assert before.due_time == T0 + 75 * DAY == POLICY.latest_due(T0)
    with pytest.raises(DecisionRefused, match="at most 0 more day"):
        world.operators.extend_due(task_id, "ana", 1, "again")
    assert world.service.get(world.caller, task_id) == before


def test_an_extension_of_a_finished_or_late_task_is_refused_saying_why() -> None:
    world = World()
    cancelled = world.create()
    world.service.cancel(world.caller, cancelled)
    with pytest.raises(DecisionRefused, match="is cancelled"):
        world.operators.extend_due(cancelled, "ana", 1, "why not")
    done = world.create()
    world.clock.advance(16 * DAY)
    world.service.advance_due()
    world.service.complete(done, "deleter")
    with pytest.raises(DecisionRefused, match="is completed"):
        world.operators.extend_due(done, "ana", 1, "why not")
    late = world.create()
    world.clock.advance(30 * DAY)
    before = world.service.get(world.caller, late)
    with pytest.raises(DecisionRefused, match="extended before it passes"):
        world.operators.extend_due(late, "ana", 1, "too late")
    assert world.service.get(world.caller, late) == before


@pytest.mark.parametrize("days", [0, -3, True, 1.5, "2"])
def test_an_extension_is_a_whole_positive_number_of_days(days: object) -> None:
    world = World()
    task_id = world.create()
    with pytest.raises(InvalidRequest, match="whole number of days"):
        world.operators.extend_due(task_id, "ana", days, "reason")  # type: ignore[arg-type]


def test_an_extension_needs_a_reason() -> None:
    world = World()
    with pytest.raises(InvalidRequest, match="reason"):
        world.operators.extend_due(world.create(), "ana", 3, "  ")


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10 * 24), st.integers(1, 40)), max_size=6
    )
)
def test_the_due_time_is_never_before_creation_plus_30_days_nor_past_the_limit(
    steps: list[tuple[int, int]],
) -> None:
    world = World()
    task_id = world.create()
    for hours, days in steps:
        world.clock.advance(dt.timedelta(hours=hours))
        before = world.service.get(world.caller, task_id).due_time
        try:
            world.operators.extend_due(task_id, "ana", days, "more time")
        except DecisionRefused:
            assert world.service.get(world.caller, task_id).due_time == before
        else:
            assert world.service.get(world.caller, task_id).due_time == before + days * DAY
        due = world.service.get(world.caller, task_id).due_time
        assert T0 + 30 * DAY <= due <= T0 + 30 * DAY + POLICY.extension_limit


@pytest.mark.parametrize(
    ("days", "shown"),
    [(46, "46"), (10_000_000, "10000000"), (10**5000, "that many")],
    ids=["46", "ten-million", "5000-digits"],
)
def test_an_extension_longer_than_the_whole_limit_is_refused_before_any_date_arithmetic(
    days: int, shown: str
) -> None:
    world = World()
    task_id = world.create()
    with pytest.raises(DecisionRefused, match=f"at most 45 days .*, not {shown}$"):
        world.operators.extend_due(task_id, "ana", days, "much more time")
    assert world.service.get(world.caller, task_id).due_time == T0 + 30 * DAY
