"""What operators see at review: the queue in hand-off order, counts, the daily trend, who
may sign in, and when each app was last used."""

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
    Status,
)
from deletion_requests.stores import DayCount
from deletion_requests.wire import verify_password

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


World = tuple[ManualClock, DeletionService, AccessAdmin, str, str]


@pytest.fixture
def world() -> World:
    clock = ManualClock(T0)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-1")
    app, secret = admin.create_app(["acct-1"])
    service = DeletionService(store, clock, Policy(), subscribers=[])
    return clock, service, admin, app.app_id, secret


def test_ready_queue_is_soonest_hand_off_first_and_counts_follow_the_clock(world: World) -> None:
    clock, service, _, app_id, secret = world
    caller = service.authenticate(app_id, secret)
    made = []
    for _ in range(4):
        made.append(service.create(caller, "acct-1", raw_emails=["a@b.c"]).task_id)
        clock.advance(HOUR)
    operators = Operators(service)
    operators.hold(made[2], "alice", "legal hold")
    service.cancel(caller, made[3])
    assert operators.ready() == []
    clock.set(T0 + 12 * DAY + 90 * dt.timedelta(minutes=1))  # the first two are ready
    assert [t.task_id for t in operators.ready()] == made[:2]
    clock.set(T0 + 13 * DAY)
    assert [t.task_id for t in operators.ready()] == made[:3]
    assert [t.task_id for t in operators.ready(limit=2)] == made[:2]
    assert operators.counts() == {
        "pending": 0,
        "ready": 3,
        "actioned": 0,
        "cancelled": 1,
        "held": 1,
        "purged": 0,
        "completed": 0,
    }
    clock.set(T0 + 16 * DAY)  # nobody ran advance_due: the counts still follow the clock
    assert operators.counts() == {
        "pending": 0,
        "ready": 1,
        "actioned": 2,
        "cancelled": 1,
        "held": 1,
        "purged": 0,
        "completed": 0,
    }
    assert [t.task_id for t in operators.ready()] == []  # the held one is past its window
    assert [t.task_id for t in operators.held()] == [made[2]]


def test_trend_has_a_row_for_every_day_of_the_window(world: World) -> None:
    clock, service, _, app_id, secret = world
    caller = service.authenticate(app_id, secret)
    first = service.create(caller, "acct-1", raw_emails=["a@b.c"]).task_id
    clock.advance(DAY)
    service.create(caller, "acct-1", raw_emails=["a@b.c"])
    service.cancel(caller, first)
    clock.set(T0 + 20 * DAY)
    service.advance_due()
    trend = Operators(service).trend(days=30)
    assert len(trend) == 30
    assert trend[-1].day == (T0 + 20 * DAY).date()
    assert trend[0].day == (T0 - 9 * DAY).date()
    busy = {d.day: d for d in trend if d != DayCount(d.day)}
    assert busy == {
        T0.date(): DayCount(T0.date(), created=1),
        (T0 + DAY).date(): DayCount((T0 + DAY).date(), created=1, cancelled=1),
        # actioned when its review ended (creation + 15 days), not when advance_due ran
        (T0 + 16 * DAY).date(): DayCount((T0 + 16 * DAY).date(), actioned=1),
    }


def test_operators_sign_in_with_their_password_only(world: World) -> None:
    _, _, admin, _, _ = world
    alice, password = admin.add_operator("alice")
    assert len(password) >= 16
    assert password not in alice.password_hash
    assert verify_password(password, alice.password_hash)
    assert admin.sign_in("alice", password) == alice
    assert admin.sign_in("alice", password + "x") is None
    assert admin.sign_in("bob", password) is None
    assert admin.sign_in("not a name!", password) is None
    with pytest.raises(InvalidRequest, match="already"):
        admin.add_operator("alice", "another long password")
    with pytest.raises(InvalidRequest, match="12"):
        admin.add_operator("carol", "short")
    with pytest.raises(InvalidRequest, match="name"):
        admin.add_operator("bad name", "a long enough password")
    bob, chosen = admin.add_operator("bob", "correct horse battery")
    assert chosen == "correct horse battery"
    assert [o.name for o in admin.list_operators()] == ["alice", "bob"]
    assert admin.remove_operator("alice") is True
    assert admin.sign_in("alice", password) is None
    assert admin.sign_in("bob", "correct horse battery") == bob


def test_an_app_use_is_noted_once_a_minute(world: World) -> None:
    clock, service, admin, app_id, secret = world
    assert admin.app_last_used() == {}
    service.authenticate(app_id, secret)
    assert admin.app_last_used() == {app_id: T0}
    clock.advance(dt.timedelta(seconds=30))
    service.caller_for(app_id)
    assert admin.app_last_used() == {app_id: T0}  # within the minute: not written again
    clock.advance(dt.timedelta(seconds=31))
    service.caller_for(app_id)
    assert admin.app_last_used() == {app_id: T0 + dt.timedelta(seconds=61)}


def test_created_since_lists_the_newest_first(world: World) -> None:
    clock, service, _, app_id, secret = world
    caller = service.authenticate(app_id, secret)
    old = service.create(caller, "acct-1", raw_emails=["a@b.c"]).task_id
    clock.advance(DAY)
    new = []
    for _ in range(2):
        new.append(service.create(caller, "acct-1", raw_emails=["a@b.c"]).task_id)
        clock.advance(HOUR)
    found = Operators(service).created_since(T0 + HOUR)
    assert [t.task_id for t in found] == new[::-1]
    assert old not in {t.task_id for t in found}
    assert all(t.status is Status.PENDING for t in found)
