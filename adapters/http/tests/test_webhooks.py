"""The webhook sink, against a loopback receiver that checks every signature."""

from __future__ import annotations

import datetime as dt

import pytest
from deletion_requests_http import WebhookSink

from deletion_requests import (
    HANDOFF,
    AccessAdmin,
    Caller,
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Status,
)
from deletion_requests.testing import WebhookReceiver

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
SECRET = b"a-webhook-secret-of-enough-bytes"


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-a")
        app, _ = admin.create_app(["acct-a"])
        self.caller = Caller(app.app_id, frozenset({"acct-a"}))
        self.service = DeletionService(self.store, self.clock)

    def actioned_task(self) -> DeletionTask:
        """A task created now and handed off 15 days later (the clock ends there)."""
        task = self.service.create(self.caller, "acct-a", raw_emails=["person@example.com"])
        self.clock.advance(dt.timedelta(days=15))
        self.service.advance_due()
        stored = self.store.get(task.task_id)
        assert stored is not None
        assert stored.status is Status.ACTIONED
        return stored


@pytest.fixture
def world() -> World:
    return World()


def events(task: DeletionTask) -> list[tuple[str, str]]:
    return [
        (step.event, step.detail)
        for step in task.history
        if step.event not in ("transition", "created")
    ]


def test_webhook_delivery_is_signed_retried_and_recorded(world: World) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, [500, 502], world.clock.now) as receiver:
        sink = WebhookSink(receiver.url, SECRET, name="handoff-webhook", now=world.clock.now)
        for _ in range(10):
            world.service.deliver({HANDOFF: sink})
            world.clock.advance(dt.timedelta(minutes=1))
    assert [body["taskId"] for body in receiver.acknowledged] == [task.task_id]
    assert receiver.refused == 0
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [
        ("handoff.failed", "HTTP 500"),
        ("handoff.failed", "HTTP 502"),
        ("handoff.delivered", ""),
    ]


def test_webhook_with_the_wrong_secret_is_refused_by_the_receiver(world: World) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, [], world.clock.now) as receiver:
        sink = WebhookSink(receiver.url, b"not-the-receivers-secret!", now=world.clock.now)
        world.service.deliver({HANDOFF: sink})
    assert receiver.refused == 1
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "HTTP 401")]


def test_an_unreachable_webhook_is_a_failed_attempt(world: World) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, [], world.clock.now) as receiver:
        url = receiver.url  # then closed: nothing listens on that port any more
    sink = WebhookSink(url, SECRET, timeout=2, now=world.clock.now)
    report = world.service.deliver({HANDOFF: sink})
    assert report.failed == 1
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "ConnectError")]


def test_a_redirect_is_not_followed(world: World) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, [302], world.clock.now) as receiver:
        world.service.deliver({HANDOFF: WebhookSink(receiver.url, SECRET, now=world.clock.now)})
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "HTTP 302")]


def test_a_secret_shorter_than_sixteen_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        WebhookSink("https://deleter.example/hook", b"abc")
