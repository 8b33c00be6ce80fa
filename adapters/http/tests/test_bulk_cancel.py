"""`POST /data/deletion-requests/cancellations`: one result per id, in order, each decided as a
DELETE of it would be."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
from deletion_requests_http import TokenIssuer, create_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Policy,
    Status,
)
from deletion_requests._lifecycle import cancel
from deletion_requests.wire import MAX_BULK, hash_email

from .conftest import KEY, T0, basic

BULK = "/data/deletion-requests/cancellations"
TASKS = "/data/deletion-requests"
DAY = dt.timedelta(days=1)


class Site:
    """Two apps (A on acct-a, B on acct-b) over a store holding *tasks*, at *now*."""

    def __init__(self, tasks: list[DeletionTask], now: dt.datetime) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        for account in ("acct-a", "acct-b"):
            admin.allow_account(account)
        (a, secret_a), (b, secret_b) = admin.create_app(["acct-a"]), admin.create_app(["acct-b"])
        self.app_a = a.app_id
        self.a, self.b = basic(a.app_id, secret_a), basic(b.app_id, secret_b)
        for task in tasks:
            self.store.add(task)
        self.clock.set(now)
        service = DeletionService(self.store, self.clock, Policy(), subscribers=[])
        self.client = TestClient(create_app(service, TokenIssuer(KEY, self.clock)))

    def bulk(self, task_ids: list[str]) -> list[tuple[str, str]]:
        answer = self.client.post(BULK, json={"taskIds": task_ids}, headers=self.a)
        assert answer.status_code == 200, answer.text
        return [(r["taskId"], r["status"]) for r in answer.json()["results"]]

    def one_by_one(self, task_ids: list[str]) -> list[tuple[str, str]]:
        """What DELETEs of each id in turn say, in the bulk's words."""
        results = []
        for task_id in task_ids:
            before = self.client.get(f"{TASKS}/{task_id}", headers=self.a)
            answer = self.client.delete(f"{TASKS}/{task_id}", headers=self.a)
            if answer.status_code == 404:
                status = "not_found"
            elif answer.status_code == 410:
                status = "deadline_exceeded"
            else:
                assert answer.status_code == 200, answer.text
                was = before.json()["status"]
                status = "already_cancelled" if was == "cancelled" else "cancelled"
            results.append((task_id.lower(), status))
        return results

    def states(self) -> dict[str, tuple[str, object]]:
        return {
            t.task_id: (t.status.value, t.cancelled_time)
            for t in (self.store.get(i) for i in list(self.store._tasks))
            if t is not None
        }


def task(
    account: str, age: dt.timedelta, now: dt.datetime, cancelled: bool = False
) -> DeletionTask:
    made = DeletionTask(
        task_id=str(uuid.uuid4()),
        account_id=account,
        status=Status.PENDING,
        creation_time=now - age,
        identifiers=frozenset({hash_email("someone@example.com")}),
        created_by="app_seed",
    )
    if cancelled:
        made = cancel(made, made.creation_time + dt.timedelta(hours=1), Policy(), by="app_seed")
    return made


def test_every_outcome_in_one_request_in_order() -> None:
    now = T0 + 100 * DAY
    pending = task("acct-a", 1 * DAY, now)
    ready = task("acct-a", 13 * DAY, now)
    actioned = task("acct-a", 16 * DAY, now)
    done = task("acct-a", 2 * DAY, now, cancelled=True)
    foreign = task("acct-b", 1 * DAY, now)
    unknown = str(uuid.uuid4())
    site = Site([pending, ready, actioned, done, foreign], now)
    ids = [pending.task_id, ready.task_id, actioned.task_id, done.task_id, unknown]
    ids += [foreign.task_id, pending.task_id.upper()]
    assert site.bulk(ids) == [
        (pending.task_id, "cancelled"),
        (ready.task_id, "cancelled"),
        (actioned.task_id, "deadline_exceeded"),
        (done.task_id, "already_cancelled"),
        (unknown, "not_found"),
        (foreign.task_id, "not_found"),
        (pending.task_id, "already_cancelled"),  # a second DELETE would find it cancelled
    ]
    assert site.store.get(foreign.task_id).cancelled_time is None  # type: ignore[union-attr]
    assert site.store.get(actioned.task_id).cancelled_time is None  # type: ignore[union-attr]
    shown = site.client.get(f"{TASKS}/{ready.task_id}", headers=site.a).json()
    assert shown["status"] == "cancelled"
    assert shown["history"][-1]["by"] == site.app_a


def test_a_bad_body_is_refused_whole_and_changes_nothing() -> None:
    now = T0 + 10 * DAY
    pending = task("acct-a", DAY, now)
    site = Site([pending], now)
    cases = [
        ({"taskIds": []}, "1 to 1000"),
        ({"taskIds": [str(uuid.uuid4()) for _ in range(MAX_BULK + 1)]}, "1 to 1000"),
        ({"taskIds": [pending.task_id, "not-a-task-id"]}, "UUID"),
        ({"taskIds": [pending.task_id, 7]}, "list of task ids"),
        ({"taskIds": pending.task_id}, "list of task ids"),
        ({"ids": [pending.task_id]}, "taskIds"),
        ([pending.task_id], "taskIds"),
    ]
    for body, message in cases:
        answer = site.client.post(
            BULK, content=orjson.dumps(body), headers={**site.a, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (body, answer.text)
        assert message in answer.json()["error"]["message"]
    assert site.client.post(BULK, content=b"{", headers=site.a).status_code in (400, 415)
    as_text = site.client.post(BULK, content=b"x", headers={**site.a, "Content-Type": "text/plain"})
    assert as_text.status_code == 415
    assert site.client.post(BULK, json={"taskIds": [pending.task_id]}).status_code == 403
    assert site.store.get(pending.task_id).cancelled_time is None  # type: ignore[union-attr]


def test_a_thousand_ids_in_one_request() -> None:
    now = T0 + 10 * DAY
    tasks = [task("acct-a", DAY, now) for _ in range(MAX_BULK)]
    site = Site(tasks, now)
    results = site.bulk([t.task_id for t in tasks])
    assert [status for _, status in results] == ["cancelled"] * MAX_BULK


scenario = st.lists(
    st.tuples(
        st.sampled_from(["acct-a", "acct-b"]),
        st.integers(min_value=0, max_value=20 * 24),  # age in hours
        st.booleans(),  # cancelled before
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    tasks=scenario, picks=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=12)
)
def test_a_bulk_cancel_is_the_same_deletes_one_by_one(
    tasks: list[tuple[str, int, bool]], picks: list[int]
) -> None:
    now = T0 + 100 * DAY
    made = [
        task(account, dt.timedelta(hours=age), now, cancelled) for account, age, cancelled in tasks
    ]
    unknown = [str(uuid.uuid4()), str(uuid.uuid4())]
    pool = [t.task_id for t in made] + unknown
    ids = [pool[pick % len(pool)] for pick in picks]
    bulk, single = Site(made, now), Site(made, now)
    assert bulk.bulk(ids) == single.one_by_one(ids)
    assert bulk.states() == single.states()


def test_a_task_handed_off_between_the_read_and_the_write_is_deadline_exceeded() -> None:
    """The race with the hand-off: the advancer stores `actioned` after the bulk read the task
    as ready; the bulk's write loses the compare-and-set, and the task is decided again."""
    now = T0 + 100 * DAY
    ready = task("acct-a", 15 * DAY - dt.timedelta(seconds=1), now)
    other = task("acct-a", DAY, now)
    site = Site([ready, other], now)
    store = site.store
    original = store.update

    def advancer_first(tasks: list[DeletionTask]) -> frozenset[str]:
        store.update = original  # type: ignore[method-assign]
        site.clock.advance(dt.timedelta(seconds=2))  # the hand-off moment passes
        service = DeletionService(store, site.clock, Policy(), subscribers=[])
        assert service.advance_due() == 1
        return original(tasks)

    store.update = advancer_first  # type: ignore[method-assign]
    assert site.bulk([ready.task_id, other.task_id]) == [
        (ready.task_id, "deadline_exceeded"),
        (other.task_id, "cancelled"),
    ]
    handed_off = store.get(ready.task_id)
    assert handed_off is not None
    assert handed_off.status is Status.ACTIONED
    assert handed_off.cancelled_time is None
