"""Core benchmark: in-memory use cases next to a bare `transitions` trigger and a dict table.

Run: uv run python -m benchmarks.core   (figures go into docs/performance.md by hand)
     uv run python -m benchmarks.core --only page --baseline REF   (a page against REF's core)

`--baseline REF` extracts REF's `src/` (`git archive`) into a temporary directory and times the
page case with that library in a second interpreter, rounds alternating with this checkout's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Any

import attrs
from transitions import Machine

from benchmarks._timing import median_seconds, per_op_us
from deletion_requests import (
    AccessAdmin,
    Caller,
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Policy,
    Status,
)
from deletion_requests import _codec as codec

# The page case also runs on a baseline's `src/` (`--baseline REF`): the names not in every
# baseline's `deletion_requests` come from the private modules that every baseline has.
from deletion_requests import _lifecycle as lifecycle
from deletion_requests._identifiers import hash_email
from deletion_requests._ids import new_task_uuid
from deletion_requests._task import CREATED
from deletion_requests.stores import Transition

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HASH = hash_email("someone@example.com")


class _Plain:
    state = "pending"


def bare_trigger(ops: int) -> None:
    """One transitions trigger per op on one shared machine (plus resetting the model)."""
    model = _Plain()
    machine = Machine(
        model=model,
        states=["pending", "cancelled"],
        transitions=[{"trigger": "cancel", "source": "pending", "dest": "cancelled"}],
        initial="pending",
        auto_transitions=False,
    )
    event = machine.events["cancel"]
    for _ in range(ops):
        model.state = "pending"
        event.trigger(model)


TABLE = {("pending", "cancel"): "cancelled", ("ready", "cancel"): "cancelled"}


def dict_table(ops: int) -> None:
    """A plain dict-table transition per op: look up, check, assign."""
    record = {"state": "pending"}
    for _ in range(ops):
        record["state"] = "pending"
        dest = TABLE.get((record["state"], "cancel"))
        if dest is None:
            raise AssertionError
        record["state"] = dest


def world(tasks: int) -> tuple[DeletionService, Caller, list[str], ManualClock]:
    clock = ManualClock(T0)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-1")
    app, secret = admin.create_app(["acct-1"])
    service = DeletionService(store, clock, subscribers=[])
    caller = service.authenticate(app.app_id, secret)
    ids = [service.create(caller, "acct-1", sha256_emails=[HASH]).task_id for _ in range(tasks)]
    return service, caller, ids, clock


def creates_per_second(ops: int) -> float:
    service, caller, _, _ = world(0)

    def run() -> None:
        for _ in range(ops):
            service.create(caller, "acct-1", sha256_emails=[HASH])

    return ops / median_seconds(run, 3)


def cancel_all(service: DeletionService, caller: Caller, ids: list[str]) -> None:
    for task_id in ids:
        service.cancel(caller, task_id)


def cancel_vs_trigger(ops: int, rounds: int = 7) -> tuple[float, float, float]:
    """Service cancels and bare triggers measured in alternation, round by round, so that the
    machine's slow and fast moments hit both alike. Returns median us of each and the median of
    the per-round ratios."""
    cancels, triggers, ratios = [], [], []
    for _ in range(rounds):
        service, caller, ids, _ = world(ops)
        cancel = median_seconds(partial(cancel_all, service, caller, ids), 1)
        trigger = median_seconds(lambda: bare_trigger(ops), 1)
        cancels.append(cancel / ops * 1e6)
        triggers.append(trigger / ops * 1e6)
        ratios.append(cancel / trigger)
    return statistics.median(cancels), statistics.median(triggers), statistics.median(ratios)


def advance_due_seconds(due: int, repeats: int = 3, days: int = 20) -> float:
    """`advance_due` over *due* tasks *days* old: 13 days is one step each, 20 days two."""
    samples = []
    for _ in range(repeats):
        service, _, _, clock = world(due)
        clock.advance(dt.timedelta(days=days))
        samples.append(median_seconds(service.advance_due, 1))
        assert service.advance_due() == 0
    samples.sort()
    return samples[len(samples) // 2]


def bytes_per_task(count: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    store = MemoryStore()
    for i in range(count):
        store.add(
            DeletionTask(
                task_id=str(new_task_uuid(T0 + dt.timedelta(seconds=i))),
                account_id="acct-1",
                status=Status.PENDING,
                creation_time=T0 + dt.timedelta(seconds=i),
                identifiers=frozenset({hash_email(f"user{i}@example.com")}),
                history=(  # the creation, as every task created now has
                    Transition(
                        Status.PENDING,
                        Status.PENDING,
                        T0 + dt.timedelta(seconds=i),
                        "app_1",
                        CREATED,
                    ),
                ),
                created_by="app_bench",
            )
        )
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del store
    return grown / count


PAGE = 100
_FIELDS = tuple(field.name for field in attrs.fields(DeletionTask))
PAGE_NOW = T0 + dt.timedelta(days=40)


def page_rows(size: int = PAGE) -> list[tuple[Any, ...]]:
    """The typed fields of *size* summaries, in `DeletionTask`'s order, as a store decodes them
    from its rows (no identifiers, no history), created over the 40 days before `PAGE_NOW` and
    stored up to date with it: pending, ready, actioned (overdue marked where due), one in ten
    cancelled, so that nothing is due, as in a listing that `advance_due` keeps current."""
    policy = Policy()
    rows = []
    for i in range(size):
        created = PAGE_NOW - dt.timedelta(days=40) * (i + 0.5) / size
        task = DeletionTask(
            task_id=str(new_task_uuid(created)),
            account_id="acct-1",
            status=Status.PENDING,
            creation_time=created,
            identifiers=frozenset(),
            created_by="app_bench",
        )
        if i % 10 == 3:
            task = lifecycle.cancel(task, created + dt.timedelta(days=1), policy, "app_bench")
        task = lifecycle.catch_up(task, PAGE_NOW, policy)
        rows.append(tuple(getattr(task, name) for name in _FIELDS))
    return rows


def _init(row: tuple[Any, ...]) -> DeletionTask:
    """The attrs initialiser of a row, by keyword, as the stores call it."""
    (tid, acct, status, created, ids, ready, actioned, cancelled, by, version) = row[:10]
    history, outbox, completed, overdue, purged, held, *due = row[10:]  # no due time before REF's
    return DeletionTask(
        task_id=tid,
        account_id=acct,
        status=status,
        creation_time=created,
        identifiers=ids,
        ready_time=ready,
        actioned_time=actioned,
        cancelled_time=cancelled,
        created_by=by,
        version=version,
        history=history,
        outbox=outbox,
        completed_time=completed,
        overdue_time=overdue,
        purged_time=purged,
        held_time=held,
        **({"due_time": due[0]} if due else {}),
    )


def page_us(rounds: int = 200) -> dict[str, float]:
    """Median us of a page of `PAGE` summaries: building them from typed fields (the store's
    constructor: a `TaskSummary` of its fields where the library has one, else
    `DeletionTask.from_fields`, else the attrs initialiser), catching each up (`catch_up`, or
    `catch_up_summary` of a summary), and the JSON array (`tasks_to_api_json`, or
    `summaries_to_api_json`)."""
    rows = page_rows()
    policy = Policy()
    try:
        summary = importlib.import_module("deletion_requests._summary")
    except ImportError:
        summary = None
    make: Any
    render: Any
    if summary is not None:
        fields = [_FIELDS.index(name) for name in summary.TaskSummary._fields]
        rows = [tuple(row[i] for i in fields) for row in rows]
        make, catch_up = (lambda row: summary.TaskSummary(*row)), summary.catch_up_summary
        render = codec.summaries_to_api_json
    else:
        build = getattr(DeletionTask, "from_fields", None)
        make = (lambda row: build(*row)) if build is not None else _init
        catch_up = lifecycle.catch_up
        render = codec.tasks_to_api_json
    tasks = [make(row) for row in rows]
    now = PAGE_NOW
    parts = {
        "build": lambda: [make(row) for row in rows],
        "catch_up": lambda: [catch_up(task, now, policy) for task in tasks],
        "render": lambda: render(tasks),
        "page": lambda: render([catch_up(make(row), now, policy) for row in rows]),
    }
    return {name: median_seconds(run, rounds) * 1e6 for name, run in parts.items()}


def baseline_page_us(ref: str, rounds: int) -> dict[str, float]:
    """`page_us` with REF's library: its `src/` from `git archive`, in a second interpreter."""
    with tempfile.TemporaryDirectory() as directory:
        archive = Path(directory) / "src.tar"
        with archive.open("wb") as out:
            subprocess.run(["git", "archive", ref, "src"], stdout=out, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(directory, filter="data")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([f"{directory}/src", os.getcwd()])}
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.core", "--page-json", "--rounds", str(rounds)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def page_against(ref: str | None, rounds: int, alternations: int = 3) -> None:
    """Print the page figures, and with *ref* REF's beside them, rounds alternating."""
    mine: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(alternations if ref else 1):
        mine.append(page_us(rounds))
        if ref:
            theirs.append(baseline_page_us(ref, rounds))
    for name in mine[0]:
        now = statistics.median(m[name] for m in mine)
        line = f"page of {PAGE}: {name:9s} {now:8.1f} us"
        if ref:
            before = statistics.median(t[name] for t in theirs)
            line += f"   {ref}: {before:8.1f} us   ratio {now / before:.2f}x"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--only", choices=["page"], help="run only this case")
    parser.add_argument("--baseline", metavar="REF", help="time the page against REF's core")
    parser.add_argument("--rounds", type=int, default=200, help="timed runs of each page part")
    parser.add_argument("--page-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.page_json:
        print(json.dumps(page_us(args.rounds)))
        return
    page_against(args.baseline, args.rounds)
    if args.only == "page":
        return

    cancel, trigger, ratio = cancel_vs_trigger(args.ops)
    table = per_op_us(dict_table, args.ops)
    creates = creates_per_second(args.ops)
    advance_one = advance_due_seconds(args.due, days=13)
    advance = advance_due_seconds(args.due, days=20)
    size = bytes_per_task(20_000)
    print(f"bare transitions trigger      {trigger:8.2f} us")
    print(f"dict-table transition         {table:8.2f} us")
    print(f"service cancel (MemoryStore)  {cancel:8.2f} us  = {ratio:.2f}x bare trigger")
    print(f"service creates               {creates:8.0f} /s")
    print(f"service cancels               {1e6 / cancel:8.0f} /s")
    print(f"advance_due, {args.due} due, 1 step  {advance_one:8.2f} s")
    print(
        f"advance_due, {args.due} due, 2 steps {advance:8.2f} s  ({args.due / advance:.0f} tasks/s)"
    )
    print(f"MemoryStore bytes per task    {size:8.0f} B (one identifier)")


if __name__ == "__main__":
    main()
