"""A delivery round sends to each endpoint independently: a sink, a callback URL or a push
destination that does not answer holds back only its own messages."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from deletion_requests import (
    HANDOFF,
    AccessAdmin,
    DeletionService,
    DeletionTask,
    Destination,
    DestinationWork,
    Job,
    ManualClock,
    MemoryStore,
    Mode,
    Outcome,
    Policy,
)
from deletion_requests._lanes import Lanes
from deletion_requests.stores import Callback
from deletion_requests.wire import new_signing_secret

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SECRET = new_signing_secret()
BOUND = 20.0
"""How long the test waits for what must happen before it calls it hung."""


class Held:
    """An endpoint that holds every attempt until `release` (a receiver that never answers)."""

    name = "held"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.attempts = 0

    def hold(self) -> None:
        self.attempts += 1
        self.entered.set()
        assert self.released.wait(BOUND), "the test never released the held endpoint"

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        self.hold()
        return False

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        self.hold()


class Counted:
    """An endpoint that takes everything and says when it has taken *expected* messages."""

    name = "counted"

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.taken: list[str] = []
        self.lock = threading.Lock()
        self.all_taken = threading.Event()

    def take(self, what: str) -> None:
        with self.lock:
            self.taken.append(what)
            if len(self.taken) >= self.expected:
                self.all_taken.set()

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        self.take(task.task_id)
        return False

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        self.take(f"{callback.url} {event_id}")


class ByUrl:
    """A callback sender that hands each callback to the endpoint its URL names."""

    name = "by-url"

    def __init__(self, endpoints: dict[str, Held | Counted]) -> None:
        self.endpoints = endpoints

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        self.endpoints[callback.url].send(callback, event_id, body)


class World:
    """Tasks of two apps, each app with its own callback URL, all of them handed off."""

    def __init__(self, tasks: int = 3, store: MemoryStore | None = None) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore() if store is None else store
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-1")
        self.service = DeletionService(self.store, self.clock, Policy(), subscribers=[])
        self.task_ids: list[str] = []
        for url in ("https://a.example/hooks", "https://b.example/hooks"):
            app, secret = admin.create_app(["acct-1"])
            admin.set_callback(app.app_id, url)
            caller = self.service.authenticate(app.app_id, secret)
            for n in range(tasks):
                email = [f"p{n}@{app.app_id}.example"]
                task = self.service.create(caller, "acct-1", raw_emails=email)
                self.task_ids.append(task.task_id)
        self.clock.advance(15 * DAY)
        self.service.advance_due()


def in_background(call: object) -> threading.Thread:
    worker = threading.Thread(target=call, daemon=True)  # type: ignore[arg-type]
    worker.start()
    return worker


def test_a_held_hand_off_does_not_hold_back_two_callback_receivers() -> None:
    world = World()
    handoff = Held()
    a, b = Counted(expected=6), Counted(expected=6)  # each task: ready, then actioned
    sender = ByUrl({"https://a.example/hooks": a, "https://b.example/hooks": b})
    worker = in_background(lambda: world.service.deliver({HANDOFF: handoff}, 100, sender))
    try:
        assert handoff.entered.wait(BOUND)
        assert a.all_taken.wait(BOUND), f"receiver a took {len(a.taken)} of 6"
        assert b.all_taken.wait(BOUND), f"receiver b took {len(b.taken)} of 6"
        assert handoff.attempts == 1  # still holding its first attempt
    finally:
        handoff.released.set()
        worker.join(BOUND)
    assert not worker.is_alive()


def test_a_held_callback_receiver_does_not_hold_back_the_other_or_the_hand_off() -> None:
    world = World()
    handoff, b = Counted(expected=6), Counted(expected=6)
    a = Held()
    sender = ByUrl({"https://a.example/hooks": a, "https://b.example/hooks": b})
    worker = in_background(lambda: world.service.deliver({HANDOFF: handoff}, 100, sender))
    try:
        assert handoff.all_taken.wait(BOUND), f"the hand-off took {len(handoff.taken)} of 6"
        assert b.all_taken.wait(BOUND), f"receiver b took {len(b.taken)} of 6"
    finally:
        a.released.set()
        worker.join(BOUND)
    assert a.attempts == 6  # released, a took its own: ready, then actioned, for each task
    assert sorted(handoff.taken) == sorted(world.task_ids)


def test_the_round_reports_every_group_and_leaves_no_lease() -> None:
    world = World()
    handoff, a, b = Counted(6), Counted(6), Counted(6)
    sender = ByUrl({"https://a.example/hooks": a, "https://b.example/hooks": b})
    report = world.service.deliver({HANDOFF: handoff}, 100, sender)
    assert (report.delivered, report.failed, report.waiting) == (18, 0, 0)
    again = world.service.deliver({HANDOFF: handoff}, 100, sender)
    assert (again.delivered, again.failed) == (0, 0)


def test_one_lane_sends_the_groups_in_turn() -> None:
    world = World(tasks=1)
    world.service.lanes = Lanes(1)
    order: list[str] = []

    class Noting:
        name = "noting"

        def deliver(self, task: DeletionTask, body: bytes) -> bool:
            order.append("handoff")
            return False

        def send(self, callback: Callback, event_id: str, body: bytes) -> None:
            order.append(callback.url)

    world.service.deliver({HANDOFF: Noting()}, 100, Noting())
    assert order[:2] == ["handoff"] * 2
    first, second = order[2], order[4]  # the apps' groups, in the order their tasks are due
    assert order[2:] == [first] * 2 + [second] * 2
    assert {first, second} == {"https://a.example/hooks", "https://b.example/hooks"}


def test_no_send_starts_once_half_of_its_lease_has_gone() -> None:
    """The lease on a batch outlasts every attempt taking at most half of it: the rest of the
    batch is leased again first."""
    world = World()
    world.service.lease = dt.timedelta(seconds=10)
    claims: list[tuple[dt.datetime, dt.datetime]] = []
    claim = world.store.claim

    def noted_claim(kind, task_ids, holder, now, until):  # type: ignore[no-untyped-def]
        claims.append((now, until))
        return claim(kind, task_ids, holder, now, until)

    world.store.claim = noted_claim  # type: ignore[method-assign]
    sent: list[dt.datetime] = []

    class Slow:
        name = "slow"

        def deliver(self, task: DeletionTask, body: bytes) -> bool:
            sent.append(world.clock.now())
            world.clock.advance(dt.timedelta(seconds=3))
            return False

    report = world.service.deliver({HANDOFF: Slow()}, 100)
    assert report.delivered == 6
    for started in sent:
        lease = max((c for c in claims if c[0] <= started), key=lambda c: c[0])
        assert started + dt.timedelta(seconds=5) <= lease[1]
    assert len(claims) == 3  # two sends a lease


class HeldJobs:
    """A push sender whose destination `held` holds every job until released."""

    def __init__(self) -> None:
        self.slow = Held()
        self.fast: list[str] = []
        self.all_fast = threading.Event()

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None:
        if destination.name == "held":
            self.slow.hold()
        else:
            self.fast.append(job.job_id)
            if len(self.fast) == 6:
                self.all_fast.set()
        return None


def test_a_held_push_destination_does_not_hold_back_another() -> None:
    store = MemoryStore()
    work = DestinationWork(DeletionService(store, ManualClock(T0)))
    for name in ("held", "quick"):  # the held one first, as destinations are listed
        work.add(Destination(name, Mode.PUSH, T0, f"https://{name}.example/", SECRET))
    world = World(store=store)
    sender = HeldJobs()
    worker = in_background(lambda: world.service.deliver({}, 100, job_sender=sender))
    try:
        assert sender.slow.entered.wait(BOUND)
        assert sender.all_fast.wait(BOUND), f"the quick destination took {len(sender.fast)} of 6"
        assert sender.slow.attempts == 1
    finally:
        sender.slow.released.set()
        worker.join(BOUND)
    assert not worker.is_alive()


def test_lanes_raise_a_groups_error_once_every_group_is_over() -> None:
    lanes = Lanes(2)
    finished = threading.Event()

    def fails() -> int:
        raise RuntimeError("group failed")

    def finishes() -> int:
        assert finished.wait(0) is False
        finished.set()
        return 1

    try:
        with pytest.raises(RuntimeError, match="group failed"):
            lanes.run([fails, finishes])
        assert finished.is_set()
        assert lanes.run([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    finally:
        lanes.close()


def test_a_run_inside_a_lane_runs_in_that_lane() -> None:
    lanes = Lanes(2)
    try:
        inner = [lambda: threading.current_thread().name] * 2

        def nested() -> list[str]:
            return [threading.current_thread().name, *lanes.run(inner)]

        for names in lanes.run([nested, nested]):
            assert len(set(names)) == 1  # no lane waits for another: no deadlock at width 2
    finally:
        lanes.close()


def test_lanes_need_a_width() -> None:
    with pytest.raises(ValueError, match="width of 1 or more"):
        Lanes(0)
