"""Status callbacks in the core: owed with the change that calls for them, sent in order, at
least once, to the app that created the task only, and recorded in its history."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    DeliveryFailed,
    InvalidRequest,
    ManualClock,
    MemoryStore,
    Operators,
    Policy,
)
from deletion_requests._context import CALLBACK_CACHE
from deletion_requests.stores import Callback
from deletion_requests.wire import check_callback_url

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, object]]] = []
        self.failures = 0

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryFailed("HTTP 503")
        self.sent.append((callback.url, event_id, orjson.loads(body)))

    def events(self) -> list[tuple[str, str]]:
        return [(body["eventType"], body["task"]["taskId"]) for _, _, body in self.sent]  # type: ignore[index]


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        self.admin = AccessAdmin(self.store, self.clock)
        self.admin.allow_account("acct-1")
        (a, secret_a), (b, secret_b) = (self.admin.create_app(["acct-1"]) for _ in range(2))
        self.app_a, self.app_b = a.app_id, b.app_id
        self.secret = self.admin.set_callback(a.app_id, "https://client.example/hooks")
        self.service = DeletionService(self.store, self.clock, Policy(), subscribers=[])
        self.a = self.service.authenticate(a.app_id, secret_a)
        self.b = self.service.authenticate(b.app_id, secret_b)
        self.sender = Recorder()

    def create(self, caller: object) -> str:
        return self.service.create(caller, "acct-1", raw_emails=["p@example.com"]).task_id  # type: ignore[arg-type]

    def round(self) -> None:
        self.service.advance_due()
        self.service.deliver({}, callback_sender=self.sender)


@pytest.fixture
def world() -> World:
    return World()


def test_an_app_hears_ready_at_twelve_days_and_actioned_at_fifteen(world: World) -> None:
    task_id = world.create(world.a)
    world.round()
    assert world.sender.events() == []  # creation is not a change the app is told of
    world.clock.advance(12 * DAY)
    world.round()
    assert world.sender.events() == [("ready", task_id)]
    world.clock.advance(3 * DAY)
    world.round()
    assert world.sender.events() == [("ready", task_id), ("actioned", task_id)]
    world.service.complete(task_id, by="deleter")
    world.round()
    url, event_id, body = world.sender.sent[-1]
    assert (url, event_id) == ("https://client.example/hooks", f"completed_{task_id}")
    assert body["eventType"] == "completed"
    assert body["eventId"] == event_id
    shown = body["task"]
    assert shown["status"] == "actioned"  # type: ignore[index]
    assert shown["outcome"] == "deleted"  # type: ignore[index]
    assert [body["task"]["outcome"] for _, _, body in world.sender.sent[:2]] == [None, None]  # type: ignore[index]
    assert "identifiers" not in shown  # type: ignore[operator]
    history = world.store.get(task_id).history  # type: ignore[union-attr]
    sent = [(s.event, s.detail) for s in history if s.event.startswith("callback.")]
    assert sent == [
        ("callback.delivered", "ready"),
        ("callback.delivered", "actioned"),
        ("callback.delivered", "completed"),
    ]


def test_a_cancel_by_the_client_or_an_operator_is_heard(world: World) -> None:
    by_client, by_operator = world.create(world.a), world.create(world.a)
    world.service.cancel(world.a, by_client)
    Operators(world.service).cancel(by_operator, "ana", "a duplicate")
    world.round()
    assert sorted(world.sender.events()) == sorted(
        [("cancelled", by_client), ("cancelled", by_operator)]
    )
    operator_view = world.sender.sent[-1][2]["task"]
    assert "a duplicate" not in orjson.dumps(operator_view).decode()  # the client's view


def test_nothing_for_another_apps_tasks(world: World) -> None:
    theirs = world.create(world.b)  # app B has no callback URL
    world.clock.advance(16 * DAY)
    world.round()
    assert world.sender.events() == []
    assert world.store.get(theirs).outbox == {"review", "handoff"}  # type: ignore[union-attr]


def test_a_failed_callback_backs_off_and_keeps_the_order(world: World) -> None:
    task_id = world.create(world.a)
    world.clock.advance(16 * DAY)  # ready and actioned, owed at once
    world.sender.failures = 1
    world.round()
    assert world.sender.events() == []
    world.round()  # backing off: not yet
    assert world.sender.events() == []
    world.clock.advance(dt.timedelta(minutes=5))
    world.round()
    assert world.sender.events() == [("ready", task_id), ("actioned", task_id)]
    failed = [s.detail for s in world.store.get(task_id).history if s.event == "callback.failed"]  # type: ignore[union-attr]
    assert failed == ["ready: HTTP 503"]


def test_callbacks_owed_when_the_url_goes_are_dropped_and_said_so(world: World) -> None:
    task_id = world.create(world.a)
    world.service.cancel(world.a, task_id)
    assert world.admin.remove_callback(world.app_a) is True
    world.round()
    assert world.sender.events() == []
    task = world.store.get(task_id)
    assert task is not None
    assert not task.outbox
    assert [(s.event, s.detail) for s in task.history][-1] == (
        "callback.dropped",
        "cancelled: no callback URL",
    )
    assert world.admin.remove_callback(world.app_a) is False


def test_the_secret_is_a_standard_one_and_rotates(world: World) -> None:
    assert world.secret.startswith("whsec_")
    rotated = world.admin.rotate_callback_secret(world.app_a)
    assert rotated != world.secret
    assert world.admin.callbacks()[world.app_a].secret == rotated
    with pytest.raises(InvalidRequest, match="no callback URL"):
        world.admin.rotate_callback_secret(world.app_b)
    with pytest.raises(InvalidRequest, match="no app"):
        world.admin.set_callback("app_nope", "https://x.example/")


@pytest.mark.parametrize(
    ("url", "allow_http", "message"),
    [
        ("http://client.example/hooks", False, "must be https://"),
        ("http://client.example/hooks", True, "loopback hosts only"),
        ("ftp://client.example/", False, "absolute https://"),
        ("/relative", False, "absolute https://"),
        ("https://", False, "absolute https://"),
    ],
)
def test_callback_urls_are_https_or_loopback_http_when_allowed(
    url: str, allow_http: bool, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check_callback_url(url, allow_http)


def test_loopback_http_is_allowed_only_when_asked() -> None:
    assert check_callback_url("http://127.0.0.1:9000/h", allow_http=True)
    assert check_callback_url("http://[::1]:9000/h", allow_http=True)
    assert check_callback_url("http://localhost/h", allow_http=True)
    assert check_callback_url("https://client.example/h")


class VersionlessStore(MemoryStore):
    """A store that keeps no access version, so callers cannot cache by it."""

    def access_version(self) -> int | None:
        return None


def test_without_an_access_version_callbacks_are_cached_for_a_while_by_the_clock() -> None:
    clock, store = ManualClock(T0), VersionlessStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-1")
    app, secret = admin.create_app(["acct-1"])
    service = DeletionService(store, clock, Policy(), subscribers=[])
    caller = service.authenticate(app.app_id, secret)

    def owes_a_callback() -> bool:
        task = service.cancel(caller, service.create(caller, "acct-1", ["p@example.com"]).task_id)
        return any(kind.startswith("callback.") for kind in task.outbox)

    assert not owes_a_callback()  # no callback yet; the answer is now cached
    admin.set_callback(app.app_id, "https://client.example/hooks")
    clock.advance(CALLBACK_CACHE - dt.timedelta(microseconds=1))
    assert not owes_a_callback()  # still the cached answer, however long that took
    clock.advance(dt.timedelta(microseconds=1))
    assert owes_a_callback()  # the service's clock says the cache is stale
