"""The hand-off: outbox deliveries with retries, completion, overdue, purge, signatures."""

from __future__ import annotations

import datetime as dt
import itertools

import orjson
import pytest

from deletion_requests import (
    HANDOFF,
    REVIEW,
    AccessAdmin,
    CallableSink,
    Caller,
    DeletionService,
    DeletionTask,
    DeliveryFailed,
    LifecycleEvent,
    ManualClock,
    MemoryStore,
    NotActioned,
    Policy,
    Status,
    TaskNotFound,
)
from deletion_requests._handoff import Backoff
from deletion_requests.stores import Awaiting
from deletion_requests.wire import hash_email

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
SECRET = b"a-webhook-secret-of-enough-bytes"


class Flaky:
    """A sink that fails *failures* times, then takes every message; records what it saw."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[str] = []
        self.taken: list[bytes] = []

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        self.attempts.append(task.task_id)
        if len(self.attempts) <= self.failures:
            raise DeliveryFailed("HTTP 503")
        self.taken.append(body)
        return False


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-a")
        app, _ = admin.create_app(["acct-a"])
        self.caller = Caller(app.app_id, frozenset({"acct-a"}))
        self.events: list[LifecycleEvent] = []
        self.service = DeletionService(self.store, self.clock, subscribers=[self.events.append])

    def actioned_task(self) -> DeletionTask:
        return self.actioned_tasks(1)[0]

    def actioned_tasks(self, n: int) -> list[DeletionTask]:
        """*n* tasks created now and handed off 15 days later (the clock ends there)."""
        created = [
            self.service.create(self.caller, "acct-a", raw_emails=["person@example.com"])
            for _ in range(n)
        ]
        self.clock.advance(15 * DAY)
        self.service.advance_due()
        stored = [self.store.get(task.task_id) for task in created]
        assert all(t is not None and t.status is Status.ACTIONED for t in stored)
        return stored  # type: ignore[return-value]


@pytest.fixture
def world() -> World:
    return World()


def events(task: DeletionTask) -> list[tuple[str, str]]:
    """The history entries that are not transitions nor the creation."""
    return [
        (step.event, step.detail)
        for step in task.history
        if step.event not in ("transition", "created")
    ]


# -- the outbox -------------------------------------------------------------------------------


def test_transitions_put_review_then_handoff_in_the_outbox(world: World) -> None:
    task = world.service.create(world.caller, "acct-a", raw_emails=["a@b.c"])
    assert task.outbox == frozenset()
    world.clock.advance(12 * DAY)
    world.service.advance_due()
    assert world.store.get(task.task_id).outbox == {REVIEW}  # type: ignore[union-attr]
    world.clock.advance(3 * DAY)
    world.service.advance_due()
    assert world.store.get(task.task_id).outbox == {REVIEW, HANDOFF}  # type: ignore[union-attr]


def test_a_cancelled_task_withdraws_its_review_and_owes_no_hand_off(world: World) -> None:
    task = world.service.create(world.caller, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(13 * DAY)
    world.service.advance_due()
    cancelled = world.service.cancel(world.caller, task.task_id)
    assert cancelled.outbox == frozenset()
    world.clock.advance(30 * DAY)
    world.service.advance_due()
    assert world.store.awaiting(Awaiting.HANDOFF, world.clock.now(), 10) == []


def test_a_flaky_deleter_gets_the_task_once_after_n_recorded_failures(world: World) -> None:
    task = world.actioned_task()
    sink = Flaky(failures=3)
    for _ in range(20):
        world.service.deliver({HANDOFF: sink})
        world.clock.advance(dt.timedelta(minutes=5))  # past every backoff of 3 failures
    assert len(sink.taken) == 1
    assert len(sink.attempts) == 4
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "HTTP 503")] * 3 + [("handoff.delivered", "")]
    assert all(s.by == "flaky" for s in stored.history if s.event.startswith("handoff"))
    assert HANDOFF not in stored.outbox
    body = orjson.loads(sink.taken[0])
    assert body["type"] == "handoff"
    assert body["taskId"] == task.task_id
    assert body["identifiers"] == [hash_email("person@example.com")]
    assert body["completeBy"] == (stored.actioned_time + DAY * 15).isoformat()  # type: ignore[operator]
    assert stored.completed_time is None  # a webhook only accepted it


def test_backoff_waits_between_attempts_and_grows(world: World) -> None:
    task = world.actioned_task()
    sink = Flaky(failures=100)
    world.service.deliver({HANDOFF: sink})
    world.service.deliver({HANDOFF: sink})  # same instant: backing off, no attempt
    assert len(sink.attempts) == 1
    backoff = Backoff()
    waits = []
    for _ in range(6):
        stored = world.store.get(task.task_id)
        assert stored is not None
        retry = backoff.next_attempt(stored, HANDOFF)
        assert retry is not None
        assert retry > world.clock.now()
        waits.append(retry - world.clock.now())
        world.clock.set(retry)
        world.service.deliver({HANDOFF: sink})
    assert len(sink.attempts) == 7
    assert all(later > earlier for earlier, later in itertools.pairwise(waits))
    # the jitter is a function of the task and attempt: another process computes the same
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert backoff.next_attempt(stored, HANDOFF) == Backoff().next_attempt(stored, HANDOFF)


def test_a_failing_sink_ends_its_round(world: World) -> None:
    for _ in range(5):
        world.service.create(world.caller, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(15 * DAY)
    world.service.advance_due()
    report = world.service.deliver({HANDOFF: Flaky(failures=100)})
    assert (report.delivered, report.failed, report.waiting) == (0, 1, 5)  # all still owed


def test_messages_backing_off_do_not_hold_back_newer_ones(world: World) -> None:
    tasks = world.actioned_tasks(4)
    failing = Flaky(failures=1)
    world.service.deliver({HANDOFF: failing}, limit=1)  # the oldest fails, and backs off
    (first,) = failing.attempts
    sink = Flaky(failures=0)
    report = world.service.deliver({HANDOFF: sink}, limit=2)
    assert (report.delivered, report.waiting) == (2, 2)  # `first` waits, one over the limit
    assert first not in sink.attempts
    assert set(sink.attempts) <= {t.task_id for t in tasks}


def test_a_round_reports_the_whole_backlog_and_stops_at_its_limit(world: World) -> None:
    world.actioned_tasks(250)
    sink = Flaky(failures=0)
    report = world.service.deliver({HANDOFF: sink}, limit=100)
    assert (report.delivered, report.failed, report.waiting) == (100, 0, 150)
    assert world.store.backlog(HANDOFF).count == 150


def test_a_message_leased_to_another_server_is_left_to_it(world: World) -> None:
    tasks = world.actioned_tasks(3)
    now = world.clock.now()
    taken = world.store.claim(HANDOFF, [tasks[0].task_id], "another", now, now + HOUR)
    assert taken == {tasks[0].task_id}
    sink = Flaky(failures=0)
    report = world.service.deliver({HANDOFF: sink})
    assert (report.delivered, report.waiting) == (2, 1)
    assert tasks[0].task_id not in sink.attempts
    world.clock.advance(HOUR)  # the other server's lease ran out: taken over
    assert world.service.deliver({HANDOFF: sink}).delivered == 1
    assert sorted(sink.attempts) == sorted(t.task_id for t in tasks)


def test_an_embedded_deleter_completes_the_task_when_it_returns(world: World) -> None:
    task = world.actioned_task()
    deleted: list[frozenset[str]] = []
    report = world.service.deliver({HANDOFF: CallableSink(lambda t: deleted.append(t.identifiers))})
    assert report.delivered == 1
    assert deleted == [{hash_email("person@example.com")}]
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert stored.completed_time == world.clock.now()
    assert events(stored)[-2:] == [("handoff.delivered", ""), ("completed", "")]


def test_a_sink_exception_is_recorded_by_class_never_by_message(world: World) -> None:
    task = world.actioned_task()

    def leaky(t: DeletionTask) -> None:
        raise RuntimeError(f"cannot delete {sorted(t.identifiers)}")

    world.service.deliver({HANDOFF: CallableSink(leaky)})
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert events(stored) == [("handoff.failed", "RuntimeError")]


def test_review_alerts_go_through_the_outbox_too(world: World) -> None:
    task = world.service.create(world.caller, "acct-a", raw_emails=["a@b.c"])
    world.clock.advance(12 * DAY)
    world.service.advance_due()
    sink = Flaky(failures=1)
    world.service.deliver({REVIEW: sink})
    world.clock.advance(dt.timedelta(minutes=1))
    world.service.deliver({REVIEW: sink})
    body = orjson.loads(sink.taken[0])
    assert body == {
        "type": "review",
        "taskId": task.task_id,
        "accountId": "acct-a",
        "status": "ready",
        "creationTime": T0.isoformat(),
        "readyTime": (T0 + 12 * DAY).isoformat(),
        "handOffTime": (T0 + 15 * DAY).isoformat(),
    }  # ids and times only: operators do not need the hashes


def test_two_deliverers_record_one_delivery(world: World) -> None:
    """Another process settled the message between our read and our write: nothing doubled."""
    task = world.actioned_task()
    stale = world.store.get(task.task_id)
    assert stale is not None
    world.service.deliver({HANDOFF: Flaky(failures=0)})
    world.service.context.settle(  # what the slower process does after its own successful POST
        task.task_id, HANDOFF, lambda t, at: pytest.fail("settled twice")
    )
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert [e for e, _ in events(stored)] == ["handoff.delivered"]


# -- completion, overdue, purge ------------------------------------------------------------


def test_completion_is_idempotent_and_needs_an_actioned_task(world: World) -> None:
    young = world.service.create(world.caller, "acct-a", raw_emails=["a@b.c"])
    with pytest.raises(NotActioned, match="pending"):
        world.service.complete(young.task_id, by="operator")
    with pytest.raises(TaskNotFound):
        world.service.complete("3bc2e8b0-88ee-400c-8696-44897bc95cd3", by="operator")
    task = world.actioned_task()
    world.clock.advance(DAY)
    done = world.service.complete(task.task_id, by="deleter")
    assert done.completed_time == world.clock.now()
    assert HANDOFF not in done.outbox  # whoever completes it has it
    world.clock.advance(DAY)
    assert world.service.complete(task.task_id, by="deleter") == done
    assert [e.event for e in world.events][-1] == "completed"


def test_a_task_not_completed_within_the_window_is_overdue_once(world: World) -> None:
    late, on_time = world.actioned_tasks(2)
    world.service.complete(on_time.task_id, by="deleter")
    world.clock.advance(14 * DAY)
    assert world.service.mark_overdue() == 0
    assert world.service.overdue() == []
    world.clock.advance(DAY)
    assert world.service.mark_overdue() == 1
    assert world.service.mark_overdue() == 0
    overdue_events = [e for e in world.events if e.event == "overdue"]
    assert [(e.task_id, e.at) for e in overdue_events] == [
        (late.task_id, late.actioned_time + 15 * DAY)  # type: ignore[operator]
    ]
    assert [t.task_id for t in world.service.overdue()] == [late.task_id]
    shown = world.service.get(world.caller, late.task_id)
    assert shown.overdue_time == late.actioned_time + 15 * DAY  # type: ignore[operator]
    world.service.complete(late.task_id, by="deleter")
    assert world.service.overdue() == []


def test_reads_show_overdue_before_any_sweep(world: World) -> None:
    task = world.actioned_task()
    world.clock.advance(20 * DAY)
    assert world.service.get(world.caller, task.task_id).overdue_time is not None
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert stored.overdue_time is None


def test_purge_deletes_hashes_after_retention_and_keeps_the_audit_trail(world: World) -> None:
    task = world.actioned_task()
    world.service.deliver({HANDOFF: CallableSink(lambda t: None)})
    completed = world.store.get(task.task_id)
    assert completed is not None
    assert completed.completed_time is not None
    world.clock.advance(30 * DAY - dt.timedelta(seconds=1))
    assert world.service.purge_settled() == 0
    world.clock.advance(dt.timedelta(seconds=1))
    assert world.service.purge_settled() == 1
    assert world.service.purge_settled() == 0
    purged = world.store.get(task.task_id)
    assert purged is not None
    assert purged.identifiers == frozenset()
    assert purged.purged_time == world.clock.now()
    assert purged.history[: len(completed.history)] == completed.history
    assert events(purged)[-1] == ("purged", "")
    assert (purged.status, purged.creation_time, purged.actioned_time) == (
        completed.status,
        completed.creation_time,
        completed.actioned_time,
    )


def test_retention_is_configurable(world: World) -> None:
    world.service.policy = Policy(retention=DAY)
    task = world.actioned_task()
    world.service.complete(task.task_id, by="deleter")
    world.clock.advance(DAY)
    assert world.service.maintain()["purged"] == 1


def test_deliveries_never_log_identifiers(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    world.actioned_task()
    world.service.deliver({HANDOFF: Flaky(failures=1)})
    world.clock.advance(dt.timedelta(minutes=1))
    world.service.deliver({HANDOFF: Flaky(failures=0)})
    assert "person@example.com" not in caplog.text
    assert hash_email("person@example.com") not in caplog.text
