"""The webhook sink, against a loopback receiver that checks every signature."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt

import pytest
from deletion_requests_http import WebhookSink, new_webhook_secret, signed_headers, verify_signed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from deletion_requests.wire import SignatureInvalid

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
SECRET = "whsec_" + base64.b64encode(b"a-webhook-secret-of-enough-bytes").decode()


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
    with WebhookReceiver(SECRET, [500, 502]) as receiver:
        sink = WebhookSink(receiver.url, SECRET, HANDOFF, name="handoff-webhook")
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
    with WebhookReceiver(SECRET, []) as receiver:
        sink = WebhookSink(receiver.url, new_webhook_secret(), HANDOFF)
        world.service.deliver({HANDOFF: sink})
    assert receiver.refused == 1
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "HTTP 401")]


def test_an_unreachable_webhook_is_a_failed_attempt(world: World) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, []) as receiver:
        url = receiver.url  # then closed: nothing listens on that port any more
    sink = WebhookSink(url, SECRET, HANDOFF, timeout=2)
    report = world.service.deliver({HANDOFF: sink})
    assert report.failed == 1
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "ConnectError")]


def test_a_redirect_is_not_followed(world: World) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, [302]) as receiver:
        world.service.deliver({HANDOFF: WebhookSink(receiver.url, SECRET, HANDOFF)})
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "HTTP 302")]


def test_a_secret_that_is_not_a_standard_one_is_refused() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        WebhookSink("https://deleter.example/hook", "abc", HANDOFF)
    short = "whsec_" + base64.b64encode(b"fifteen bytes!!").decode()
    with pytest.raises(ValueError, match="16 bytes"):
        WebhookSink("https://deleter.example/hook", short, HANDOFF)


def test_a_delivery_carries_the_standard_headers_and_one_id_for_every_attempt(
    world: World,
) -> None:
    task = world.actioned_task()
    with WebhookReceiver(SECRET, [503]) as receiver:
        sink = WebhookSink(receiver.url, SECRET, HANDOFF)
        for _ in range(5):
            world.service.deliver({HANDOFF: sink})
            world.clock.advance(dt.timedelta(minutes=1))
    assert receiver.refused == 0
    assert receiver.ids == [f"handoff_{task.task_id}"] * 2  # the retry has the same id


def test_signatures_verify_and_refuse_tampering_replay_and_other_keys() -> None:
    body = b'{"taskId": "x"}'
    now = dt.datetime.now(dt.UTC)
    headers = signed_headers(SECRET, "handoff_x", body, now)
    assert headers["webhook-signature"].startswith("v1,")
    verify_signed(SECRET, headers, body)
    with pytest.raises(SignatureInvalid, match="signature"):
        verify_signed(SECRET, headers, body + b" ")
    with pytest.raises(SignatureInvalid, match="signature"):
        verify_signed(new_webhook_secret(), headers, body)
    with pytest.raises(SignatureInvalid, match="too old"):
        verify_signed(
            SECRET, signed_headers(SECRET, "m", body, now - dt.timedelta(minutes=6)), body
        )
    with pytest.raises(SignatureInvalid, match="webhook-signature"):
        verify_signed(SECRET, {}, body)
    moved = {**headers, "webhook-id": "handoff_y"}  # the id is signed too
    with pytest.raises(SignatureInvalid):
        verify_signed(SECRET, moved, body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]),
        st.text(max_size=80),
        max_size=3,
    )
)
def test_any_signature_headers_are_valid_or_refused_never_an_error(headers: dict[str, str]) -> None:
    with contextlib.suppress(SignatureInvalid):
        verify_signed(SECRET, headers, b"{}")
