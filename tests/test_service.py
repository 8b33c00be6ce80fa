from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid

import pytest

from deletion_requests import (
    AccessAdmin,
    AuthenticationFailed,
    DeadlineExceeded,
    DeletionService,
    DeletionTask,
    InvalidRequest,
    LifecycleEvent,
    ManualClock,
    MemoryStore,
    Policy,
    Status,
    TaskNotFound,
    UnauthorizedAccount,
)
from deletion_requests.stores import Account
from deletion_requests.wire import hash_email

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY = dt.timedelta(days=1)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        self.admin = AccessAdmin(self.store, self.clock)
        for account in ("acct-a", "acct-b", "acct-shared"):
            self.admin.allow_account(account)
        self.events: list[LifecycleEvent] = []
        self.service = DeletionService(self.store, self.clock, subscribers=[self.events.append])
        app_a, secret_a = self.admin.create_app(["acct-a", "acct-shared"])
        app_b, secret_b = self.admin.create_app(["acct-b"])
        self.secrets = {app_a.app_id: secret_a, app_b.app_id: secret_b}
        self.a = self.service.authenticate(app_a.app_id, secret_a)
        self.b = self.service.authenticate(app_b.app_id, secret_b)


@pytest.fixture
def world() -> World:
    return World()


def test_wrong_secret_unknown_app_and_revoked_app_fail_authentication(world: World) -> None:
    with pytest.raises(AuthenticationFailed):
        world.service.authenticate(world.a.app_id, "not-the-secret")
    with pytest.raises(AuthenticationFailed):
        world.service.authenticate("app_unknown", "whatever")
    world.admin.revoke_app(world.a.app_id)
    with pytest.raises(AuthenticationFailed):
        world.service.authenticate(world.a.app_id, world.secrets[world.a.app_id])
    with pytest.raises(AuthenticationFailed):
        world.service.caller_for(world.a.app_id)


def test_secret_is_stored_only_as_a_digest(world: World) -> None:
    for app in world.store.list_apps():
        assert world.secrets[app.app_id] not in repr(app)
        assert world.secrets[app.app_id] != app.secret_digest


def test_caller_accounts_are_granted_and_allow_listed(world: World) -> None:
    assert world.a.accounts == {"acct-a", "acct-shared"}
    world.admin.revoke_account("acct-shared")
    assert world.service.caller_for(world.a.app_id).accounts == {"acct-a"}


def test_create_requires_a_granted_allow_listed_account(world: World) -> None:
    with pytest.raises(UnauthorizedAccount, match="acct-b"):
        world.service.create(world.a, "acct-b", raw_emails=["a@b.c"])
    world.admin.revoke_account("acct-a")
    caller = world.service.caller_for(world.a.app_id)
    with pytest.raises(UnauthorizedAccount):
        world.service.create(caller, "acct-a", raw_emails=["a@b.c"])
    assert world.store.list_accounts()  # the others are untouched


def test_create_stores_hashes_only(world: World) -> None:
    task = world.service.create(world.a, "acct-a", raw_emails=[" Person@Example.com "])
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert stored.identifiers == {hash_email("person@example.com")}
    assert "person" not in repr(stored).lower()
    assert stored.status is Status.PENDING
    assert stored.creation_time == T0
    assert stored.created_by == world.a.app_id


@pytest.mark.parametrize(
    ("raw", "hashes", "message"),
    [
        ([], [], "at least one entry"),
        (["no-at-sign"], [], r"rawEmails\[0\] is not one email address"),
        (["ok@x.y", "a@@b"], [], r"rawEmails\[1\]"),
        (["@b.c"], [], r"rawEmails\[0\] is not an email address"),
        (["a b@c.d"], [], "whitespace"),
        (["x" * 250 + "@b.cd"], [], "longer than 254"),
        (
            [],
            ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
            "looks like hex",
        ),
        ([], ["not base64!"], r"sha256Emails\[0\] is not valid base64"),
        ([], ["AAAA"], "decodes to 3 bytes"),
        ([], ["-" * 43 + "="], "URL-safe"),
        ([1], [], r"rawEmails\[0\] must be a string"),
        ("a@b.c", [], "rawEmails must be a list"),
        (["a@b.c"] * 10_001, [], "at most 10000"),
    ],
)
def test_bad_identifiers_are_named_and_nothing_is_stored(
    world: World, raw: object, hashes: object, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        world.service.create(world.a, "acct-a", raw_emails=raw, sha256_emails=hashes)
    assert "@" not in raised.value.message.replace("'@'", "")  # never echoes an address
    assert world.service.list(world.a).tasks == ()


def test_duplicates_across_lists_merge(world: World) -> None:
    h = hash_email("a@b.c")
    task = world.service.create(
        world.a, "acct-a", raw_emails=["a@b.c", "A@B.C"], sha256_emails=[h, h]
    )
    assert task.identifiers == {h}


def test_ten_thousand_identifiers_are_accepted(world: World) -> None:
    raws = [f"user{i}@example.com" for i in range(10_000)]
    assert len(world.service.create(world.a, "acct-a", raw_emails=raws).identifiers) == 10_000


def test_bad_account_id_is_invalid(world: World) -> None:
    with pytest.raises(InvalidRequest, match="accountId"):
        world.service.create(world.a, "", raw_emails=["a@b.c"])
    with pytest.raises(InvalidRequest, match="accountId"):
        world.service.create(world.a, 42, raw_emails=["a@b.c"])  # type: ignore[arg-type]


def test_other_apps_cannot_see_or_cancel_a_task(world: World) -> None:
    task = world.service.create(world.a, "acct-a", raw_emails=["a@b.c"])
    with pytest.raises(TaskNotFound):
        world.service.get(world.b, task.task_id)
    with pytest.raises(TaskNotFound):
        world.service.cancel(world.b, task.task_id)
    assert world.service.list(world.b).tasks == ()
    with pytest.raises(UnauthorizedAccount):
        world.service.list(world.b, account_id="acct-a")
    assert world.service.get(world.a, task.task_id).status is Status.PENDING


def test_malformed_task_id_is_invalid_and_unknown_is_not_found(world: World) -> None:
    with pytest.raises(InvalidRequest, match="UUID"):
        world.service.get(world.a, "../etc/passwd")
    with pytest.raises(TaskNotFound):
        world.service.cancel(world.a, str(uuid.uuid4()))


def test_idempotency_key_returns_the_original_task(world: World) -> None:
    first = world.service.create(world.a, "acct-a", raw_emails=["a@b.c"], idempotency_key="k")
    world.clock.advance(DAY)
    again = world.service.create(world.a, "acct-a", raw_emails=["A@b.c"], idempotency_key="k")
    assert again == first
    other_app = world.service.create(world.b, "acct-b", raw_emails=["a@b.c"], idempotency_key="k")
    assert other_app.task_id != first.task_id
    with pytest.raises(InvalidRequest, match="different request"):
        world.service.create(world.a, "acct-a", raw_emails=["z@b.c"], idempotency_key="k")
    assert len(world.service.list(world.a).tasks) == 1


def test_listing_pages_newest_first_with_status_filter(world: World) -> None:
    ids = []
    for _ in range(7):
        ids.append(world.service.create(world.a, "acct-a", raw_emails=["a@b.c"]).task_id)
        world.clock.advance(DAY)
    world.service.create(world.b, "acct-b", raw_emails=["a@b.c"])
    world.clock.advance(6 * DAY)  # the oldest tasks are now ready (12 days)
    seen = []
    cursor = None
    while True:
        page = world.service.list(world.a, limit=3, cursor=cursor)
        seen.extend(t.task_id for t in page.tasks)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids[::-1]
    ready = world.service.list(world.a, status="ready").tasks
    assert [t.task_id for t in ready] == ids[:2][::-1]
    assert all(t.ready_time is not None for t in ready)
    assert [t.task_id for t in world.service.list(world.a, status="pending").tasks] == ids[2:][::-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"status": "PENDING!"}, "status must be one of"),
        ({"cursor": "garbage"}, "cursor is not valid"),
    ],
)
def test_bad_listing_arguments_are_invalid(
    world: World, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        world.service.list(world.a, **kwargs)  # type: ignore[arg-type]


def test_advance_due_stores_transitions_at_their_scheduled_times(world: World) -> None:
    task = world.service.create(world.a, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(40 * DAY)
    assert world.service.advance_due() == 1
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert stored.status is Status.ACTIONED
    assert stored.ready_time == T0 + 12 * DAY
    assert stored.actioned_time == T0 + 15 * DAY
    assert stored.overdue_time == T0 + 30 * DAY  # 40 days on, and nobody completed it
    assert [(e.status, e.event, e.at, e.by) for e in world.events] == [
        (Status.READY, "transition", T0 + 12 * DAY, "system"),
        (Status.ACTIONED, "transition", T0 + 15 * DAY, "system"),
        (Status.ACTIONED, "overdue", T0 + 30 * DAY, "system"),
    ]
    assert world.service.advance_due() == 0


def test_advance_due_works_in_batches(world: World) -> None:
    world.service.batch_size = 7
    for _ in range(50):
        world.service.create(world.a, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(12 * DAY)
    assert world.service.advance_due() == 50
    assert {t.status for t in world.service.list(world.a, limit=100).tasks} == {Status.READY}
    assert len(world.events) == 50


def test_cancel_after_deadline_is_refused_and_nothing_changes(world: World) -> None:
    task = world.service.create(world.a, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(15 * DAY)
    with pytest.raises(DeadlineExceeded, match="cannot be cancelled"):
        world.service.cancel(world.a, task.task_id)
    assert world.store.get(task.task_id) == task
    assert world.events == []


def test_cancel_of_a_lagging_ready_task_records_both_steps(world: World) -> None:
    task = world.service.create(world.a, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(13 * DAY)
    cancelled = world.service.cancel(world.a, task.task_id)
    assert [(h.source, h.dest, h.by) for h in cancelled.history] == [
        (Status.PENDING, Status.PENDING, world.a.app_id),  # created
        (Status.PENDING, Status.READY, "system"),
        (Status.READY, Status.CANCELLED, world.a.app_id),
    ]
    assert cancelled.version == 2
    assert [e.status for e in world.events] == [Status.READY, Status.CANCELLED]


def test_a_failing_subscriber_does_not_undo_the_transition(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: LifecycleEvent) -> None:
        raise RuntimeError("subscriber down")

    world.service.subscribers.insert(0, broken)
    task = world.service.create(world.a, "acct-a", raw_emails=["a@b.c"])
    with caplog.at_level(logging.ERROR):
        assert world.service.cancel(world.a, task.task_id).status is Status.CANCELLED
    assert "subscriber" in caplog.text
    assert [e.status for e in world.events] == [Status.CANCELLED]


def test_default_subscriber_logs_ids_but_no_identifiers(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(T0)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-a")
    app, secret = admin.create_app(["acct-a"])
    service = DeletionService(store, clock)
    caller = service.authenticate(app.app_id, secret)
    with caplog.at_level(logging.DEBUG):
        task = service.create(caller, "acct-a", raw_emails=["secret.person@example.com"])
        clock.advance(20 * DAY)
        service.advance_due()
    assert task.task_id in caplog.text
    assert "actioned" in caplog.text
    assert "secret.person" not in caplog.text
    assert next(iter(task.identifiers)) not in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize("repeat", range(5))
def test_cancel_racing_advance_due_has_exactly_one_winner(repeat: int) -> None:
    """Threads cancel at the last instant while others advance: every task ends cancelled or
    actioned, and each transition is announced once."""
    world = World()
    tasks = [world.service.create(world.a, "acct-a", raw_emails=["a@b.c"]) for _ in range(200)]
    world.clock.advance(15 * DAY - dt.timedelta(microseconds=1))
    barrier = threading.Barrier(4)
    outcomes: dict[str, str] = {}

    def canceller(chunk: list[str]) -> None:
        barrier.wait()
        for task_id in chunk:
            try:
                world.service.cancel(world.a, task_id)
                outcomes[task_id] = "cancelled"
            except DeadlineExceeded:
                outcomes[task_id] = "too late"

    def advancer() -> None:
        barrier.wait()
        world.clock.advance(dt.timedelta(microseconds=1))
        world.service.advance_due()

    ids = [t.task_id for t in tasks]
    threads = [
        threading.Thread(target=canceller, args=(ids[0::2],)),
        threading.Thread(target=canceller, args=(ids[1::2],)),
        threading.Thread(target=advancer),
        threading.Thread(target=advancer),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.service.advance_due()
    for task_id in ids:
        stored = world.store.get(task_id)
        assert stored is not None
        assert stored.status in (Status.CANCELLED, Status.ACTIONED)
        assert (stored.status is Status.CANCELLED) == (outcomes[task_id] == "cancelled")
        assert not (stored.cancelled_time and stored.actioned_time)
    announced = [(e.task_id, e.status) for e in world.events]
    assert len(announced) == len(set(announced))
    assert {e.task_id for e in world.events if e.status.is_final} == set(ids)


def test_policy_rejects_non_positive_periods() -> None:
    with pytest.raises(ValueError, match="pending_period must be positive"):
        Policy(pending_period=dt.timedelta(0))
    with pytest.raises(ValueError, match="action_window"):
        Policy(action_window=-DAY)


@pytest.mark.parametrize(
    "field", ["pending_period", "review_period", "action_window", "retention", "extension_limit"]
)
def test_policy_rejects_periods_past_a_hundred_years(field: str) -> None:
    """Longer ones overflow the date arithmetic of purges and due dates."""
    Policy(**{field: dt.timedelta(days=36525)})
    with pytest.raises(ValueError, match=f"{field} must be at most 36525 days"):
        Policy(**{field: dt.timedelta(days=36526)})


def test_naive_datetimes_are_refused_everywhere() -> None:
    naive = dt.datetime(2026, 1, 1)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(T0).set(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        DeletionTask("t", "a", "pending", naive, {"h"})
    with pytest.raises(ValueError, match="timezone-aware"):
        Account("a", naive)


def test_clock_converts_other_offsets_to_utc() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    clock = ManualClock(dt.datetime(2026, 1, 1, 9, tzinfo=tokyo))
    assert clock.now() == dt.datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.advance(DAY) == dt.datetime(2026, 1, 2, tzinfo=UTC)
