"""Crash and race drills that run a store in separate processes. Every store's tests use them.

- `crash_drill(url, rounds)`: a child adds tasks in a loop and is killed with SIGKILL at a random
  moment, `rounds` times; after each kill every acknowledged task must be present and intact,
  and no task may be partial.
- `race_drill(url, ...)`: processes cancel tasks at the last instant while others run
  `advance_due` at the deadline; every task must end cancelled or actioned, never both, with
  each transition announced by exactly one process.
- `open_together(url, count)`: `count` threads open the store at once (so a store that creates
  or migrates its schema on open does it while others do too); every open must succeed.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import attrs

from deletion_requests._access import Account, App, Caller
from deletion_requests._clock import ManualClock
from deletion_requests._errors import DeadlineExceeded
from deletion_requests._events import LifecycleEvent
from deletion_requests._identifiers import hash_email
from deletion_requests._open import open_store
from deletion_requests._policy import Policy
from deletion_requests._ports import TaskQuery
from deletion_requests._service import DeletionService
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
ACCOUNTS = ("acct-1", "acct-2", "acct-3")


def drill_task(index: int) -> DeletionTask:
    """The task a crash child adds as its *index*-th: rebuilt by the checker to compare."""
    return DeletionTask(
        task_id=str(uuid.UUID(int=index, version=4)),
        account_id=ACCOUNTS[index % 3],
        status=Status.PENDING,
        creation_time=T0 + dt.timedelta(seconds=index),
        identifiers=frozenset(hash_email(f"user{index}.{n}@example.com") for n in range(20)),
        created_by="app_drill",
    )


def _crash_child(url: str, first: int) -> None:
    store = open_store(url)
    index = first
    while True:
        task = drill_task(index)
        store.add(task, ("app_drill", f"key-{index}"))
        sys.stdout.write(f"{index}\n")
        sys.stdout.flush()
        index += 1


def crash_drill(url: str, rounds: int = 15, seed: int | None = None) -> int:
    """Kill a writing child `rounds` times; check the store after each kill. Returns the number
    of acknowledged adds."""
    rng = random.Random(seed)
    acknowledged: list[int] = []
    first = 0
    for _ in range(rounds):
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deletion_requests.testing._processes",
                "crash",
                url,
                str(first),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(child.stdout, selectors.EVENT_READ)
        # let it get going, then kill it at a random moment
        deadline = time.monotonic() + 20
        buffer = b""
        while b"\n" not in buffer and time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                chunk = os.read(child.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffer += chunk
        if b"\n" not in buffer:
            child.kill()
            _, err = child.communicate()
            raise AssertionError(f"crash child wrote nothing: {err.decode(errors='replace')}")
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        buffer += rest
        lines = buffer.split(b"\n")
        done = [int(line) for line in lines[:-1]]  # the last piece may be a partial line
        acknowledged.extend(done)
        first = (done[-1] + 1) if done else first
        # the next child may collide with an add that completed without acknowledgement
        first += 1
        check_after_crash(url, acknowledged, done)
    return len(acknowledged)


def check_after_crash(url: str, acknowledged: list[int], latest: list[int]) -> None:
    """Every acknowledged task is present and intact, no task is partial, and the idempotency
    keys of the latest round's adds are bound."""
    with open_store(url) as store:
        everything = store.list_tasks(TaskQuery(accounts=frozenset(ACCOUNTS), limit=1_000_000))
        present = set()
        for task in everything:
            index = uuid.UUID(task.task_id).int & ((1 << 48) - 1)
            assert task == drill_task(index), f"task {task.task_id} is partial or damaged"
            present.add(index)
        lost = set(acknowledged) - present
        assert not lost, f"acknowledged tasks lost: {sorted(lost)[:10]}"
        for index in latest:
            found = store.find_by_idempotency_key("app_drill", f"key-{index}")
            assert found == drill_task(index), f"idempotency key of task {index} lost"


# -- races --------------------------------------------------------------------------------------


def _race_worker(
    url: str, role: str, task_ids: list[str], now: str, start: Any, results: Any
) -> None:
    store = open_store(url)
    events: list[LifecycleEvent] = []
    clock = ManualClock(dt.datetime.fromisoformat(now))
    service = DeletionService(store, clock, Policy(), subscribers=[events.append], batch_size=25)
    caller = Caller("app_race", frozenset(ACCOUNTS))
    won: list[str] = []
    start.wait()
    if role == "cancel":
        for task_id in task_ids:
            try:
                service.cancel(caller, task_id)
                won.append(task_id)
            except DeadlineExceeded:
                pass
    else:
        service.advance_due()
    store.close()
    results.put(
        {
            "role": role,
            "won": won,
            "events": [(e.task_id, e.status.value) for e in events],
        }
    )


def race_drill(url: str, tasks: int = 200, cancellers: int = 2, advancers: int = 2) -> None:
    """Cancellers (clock one microsecond before the deadline) race advancers (clock at the
    deadline) over the same tasks, in separate processes."""
    with open_store(url) as store:
        store.allow_account(Account("acct-1", T0))
        store.add_app(App("app_race", "0" * 64, frozenset(ACCOUNTS), T0))
        ids = []
        for index in range(tasks):
            task = attrs.evolve(drill_task(10_000_000 + index), created_by="app_race")
            store.add(task)
            ids.append(task.task_id)
    deadline = T0 + dt.timedelta(seconds=10_000_000) + Policy().cancel_period
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    workers = []
    for n in range(cancellers):
        shuffled = ids[:]
        random.Random(n).shuffle(shuffled)
        now = (deadline - dt.timedelta(microseconds=1)).isoformat()
        workers.append(("cancel", shuffled, now))
    for _ in range(advancers):
        workers.append(("advance", [], (deadline + dt.timedelta(seconds=tasks)).isoformat()))
    processes = [
        context.Process(target=_race_worker, args=(url, role, chunk, now, start, results))
        for role, chunk, now in workers
    ]
    for process in processes:
        process.start()
    time.sleep(1.0)  # let every worker import and open the store
    start.set()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0, f"race worker exited with {process.exitcode}"

    cancelled_by = [set(o["won"]) for o in outcomes if o["role"] == "cancel"]
    announced = [tuple(e) for o in outcomes for e in o["events"]]
    assert len(announced) == len(set(announced)), "a transition was announced twice"
    with open_store(url) as store:
        for task_id in ids:
            found = store.get(task_id)
            assert found is not None, f"task {task_id} lost"
            task = found
            assert task.status in (Status.CANCELLED, Status.ACTIONED), task
            assert not (task.cancelled_time and task.actioned_time), f"{task_id} is both"
            if task.status is Status.CANCELLED:
                assert any(task_id in won for won in cancelled_by)
                assert (task_id, "cancelled") in announced
            else:
                assert (task_id, "actioned") in announced
                assert (task_id, "cancelled") not in announced


def open_together(url: str, count: int = 8) -> None:
    """Open and close *count* stores on *url* at the same moment, one thread each; raises the
    first error any of them met. The caller then checks the schema was set up once."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            barrier.wait(timeout=60)
            open_store(url).close()
        except BaseException as exc:  # noqa: BLE001 (collected and raised below)
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _main(argv: list[str]) -> None:
    if argv[0] == "crash":
        _crash_child(argv[1], int(argv[2]))
    else:
        raise SystemExit(f"unknown drill {argv[0]!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
