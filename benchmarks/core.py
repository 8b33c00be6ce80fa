"""Core benchmark: in-memory use cases next to a bare `transitions` trigger and a dict table.

Run: uv run python -m benchmarks.core   (figures go into docs/performance.md by hand)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import tracemalloc
from functools import partial

from transitions import Machine

from benchmarks._timing import median_seconds, per_op_us
from deletion_requests import (
    AccessAdmin,
    Caller,
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Status,
    hash_email,
    new_task_uuid,
)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=100_000)
    args = parser.parse_args()

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
