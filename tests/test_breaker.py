"""The breaker of a push destination: one that keeps failing pauses itself, its jobs stay
owed, and an operator's resume closes it."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from deletion_requests import (
    AccessAdmin,
    Breaker,
    DeletionService,
    DeletionTask,
    DeliveryFailed,
    Destination,
    DestinationWork,
    Job,
    JobState,
    ManualClock,
    MemoryStore,
    Mode,
    Outcome,
    Policy,
)
from deletion_requests.wire import BREAKER, new_signing_secret

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
POLICY = Policy()
MINUTES_5 = dt.timedelta(minutes=5)


class Receiver:
    """A push destination's receiver that is up or down."""

    def __init__(self) -> None:
        self.down = True
        self.sent: list[str] = []

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None:
        self.sent.append(job.job_id)
        if self.down:
            raise DeliveryFailed("HTTP 503")
        return None


class World:
    def __init__(self, breaker: Breaker) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-a")
        app, secret = admin.create_app(["acct-a"])
        self.service = DeletionService(self.store, self.clock)
        self.caller = self.service.authenticate(app.app_id, secret)
        self.work = DestinationWork(self.service, breaker=breaker)
        self.work.add(
            Destination("crm", Mode.PUSH, T0, "https://crm.example/", new_signing_secret())
        )
        self.receiver = Receiver()

    def actioned(self) -> DeletionTask:
        task = self.service.create(self.caller, "acct-a", raw_emails=["a.person@example.com"])
        self.clock.advance(POLICY.cancel_period)
        assert self.work.advance_due() >= 1
        return task

    def rounds(self, count: int) -> list[tuple[Destination, ...]]:
        """*count* push rounds five minutes apart; what each opened."""
        opened = []
        for _ in range(count):
            opened.append(self.work.push_round(self.receiver).opened)
            self.clock.advance(MINUTES_5)
        return opened

    @property
    def crm(self) -> Destination:
        return self.work.get("crm")


def test_failures_in_a_row_over_the_window_open_the_breaker_and_jobs_stay_owed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(Breaker(failures=3, window=dt.timedelta(minutes=10)))
    task = world.actioned()
    with caplog.at_level(logging.WARNING, "deletion_requests.destinations"):
        first, second, third = world.rounds(3)
    assert first == second == ()  # three failures, but not yet ten minutes of them
    assert [d.name for d in third] == ["crm"]
    crm = world.crm
    assert crm.paused_by_breaker
    assert (crm.changed_by, crm.failures, crm.last_error) == (BREAKER, 3, "HTTP 503")
    assert crm.failing_since == T0 + POLICY.cancel_period
    (job,) = world.work.jobs(task.task_id)
    assert (job.state, job.outcome) == (JobState.OWED, None)
    (record,) = [r for r in caplog.records if "breaker" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert (record.destination, record.event, record.failures) == (  # type: ignore[attr-defined]
        "crm",
        "destination.breaker_opened",
        3,
    )
    sent = len(world.receiver.sent)
    world.rounds(3)
    assert len(world.receiver.sent) == sent  # a paused destination is sent nothing


def test_many_failures_in_less_than_the_window_do_not_open_it() -> None:
    world = World(Breaker(failures=3, window=dt.timedelta(hours=1)))
    for _ in range(5):
        world.actioned()
    # A round ends at the destination's first failure: five rounds, five minutes apart.
    assert world.rounds(5) == [()] * 5
    assert world.crm.failures == 5
    assert not world.crm.paused


def test_a_push_received_ends_the_row_of_failures() -> None:
    world = World(Breaker(failures=3, window=dt.timedelta(minutes=10)))
    world.actioned()
    world.rounds(2)
    assert world.crm.failures == 2
    world.receiver.down = False
    world.rounds(1)
    assert (world.crm.failures, world.crm.failing_since) == (0, None)
    assert world.crm.last_error == "HTTP 503"  # the last error stays, for operators
    assert not world.crm.paused


def test_an_operators_resume_closes_the_breaker_and_records_who() -> None:
    world = World(Breaker(failures=2, window=dt.timedelta(minutes=5)))
    task = world.actioned()
    world.rounds(2)
    assert world.crm.paused_by_breaker
    world.receiver.down = False
    resumed = world.work.set_paused("crm", False, "alice")
    assert (resumed.paused, resumed.changed_by, resumed.failures) == (False, "operator:alice", 0)
    assert resumed.changed_time == world.clock.now()
    world.clock.advance(dt.timedelta(hours=2))  # past the job's backoff
    world.rounds(1)
    (job,) = world.work.jobs(task.task_id)
    assert job.state is JobState.DELIVERED


def test_an_operators_pause_is_told_apart_from_the_breakers() -> None:
    world = World(Breaker())
    paused = world.work.set_paused("crm", True, "bob")
    assert paused.paused
    assert not paused.paused_by_breaker
    assert paused.changed_by == "operator:bob"


def test_a_breaker_needs_at_least_one_failure() -> None:
    with pytest.raises(ValueError, match="failures"):
        Breaker(failures=0)
