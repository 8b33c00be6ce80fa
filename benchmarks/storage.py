"""Storage benchmark: the SQLite and JSON-file stores next to raw sqlite3, in one run.

Run: uv run python -m benchmarks.storage [--big 1000000]
     [--only add|batch|list|advance|jsonfiles|console]
(several minutes at full size)
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deletion_requests_jsonfiles import JsonFilesStore
from deletion_requests_sqlite import SqliteStore

from benchmarks._populate import ACCOUNT, T0, make_task, populate, to_us
from benchmarks._timing import median_seconds
from deletion_requests import DeletionService, DeletionTask, ManualClock
from deletion_requests.stores import TaskQuery

# The SQLite store's tasks table, for the raw sqlite3 baseline that writes the same rows.
TASK_COLUMNS = (
    "task_id, account_id, status, creation_us, ready_us, actioned_us, cancelled_us, "
    "created_by, version, outbox, completed_us, overdue_us, purged_us, due_us"
)
# -- add: the store vs raw sqlite3 ----------------------------------------------------------------


def raw_values(task: DeletionTask) -> tuple[object, ...]:
    """The values of a new task's row that are not NULL or empty: the raw baselines write
    these, and nothing the store derives."""
    return (
        task.task_id,
        task.account_id,
        task.status.value,
        to_us(task.creation_time),
        task.created_by,
        task.version,
        to_us(task.due_time),
    )


def raw_add(conn: sqlite3.Connection, task: DeletionTask) -> None:
    """The same rows the store writes, in the same kind of transaction, with nothing else."""
    conn.execute("BEGIN IMMEDIATE")
    cursor = conn.execute(
        f"INSERT INTO tasks ({TASK_COLUMNS}) "  # noqa: S608 (fixed column names)
        "VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, ?, '', NULL, NULL, NULL, ?)",
        raw_values(task),
    )
    conn.executemany(
        "INSERT INTO task_identifiers (task, hash) VALUES (?, ?)",
        [(cursor.lastrowid, value) for value in task.identifiers],
    )
    conn.execute("COMMIT")


def raw_connection(path: Path, synchronous: str) -> sqlite3.Connection:
    """The baselines' connection: WAL and *synchronous*, as the store has, and nothing else."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def add_ratio(directory: Path, ops: int, rounds: int, synchronous: str) -> tuple[float, float]:
    """Median adds/s through the store, and the median per-round ratio store/raw."""
    store = SqliteStore(directory / f"store-{synchronous}.db", synchronous=synchronous)  # type: ignore[arg-type]
    SqliteStore(directory / f"raw-{synchronous}.db").close()  # same schema for the baseline
    conn = raw_connection(directory / f"raw-{synchronous}.db", synchronous)
    rates, ratios = [], []
    counter = 0
    for _ in range(rounds):
        tasks = [make_task(counter + i) for i in range(ops)]
        raws = [make_task(counter + i) for i in range(ops)]
        counter += ops
        start = time.perf_counter()
        for task in tasks:
            store.add(task)
        store_s = time.perf_counter() - start
        start = time.perf_counter()
        for task in raws:
            raw_add(conn, task)
        raw_s = time.perf_counter() - start
        rates.append(ops / store_s)
        ratios.append(raw_s / store_s)
    store.close()
    conn.close()
    return statistics.median(rates), statistics.median(ratios)


# -- batched adds into a store that already holds many tasks (the server's create path) --


def raw_add_batch(conn: sqlite3.Connection, tasks: list[DeletionTask]) -> None:
    """The rows the store writes for a batch, in one transaction, with nothing else."""
    conn.execute("BEGIN IMMEDIATE")
    (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()
    conn.executemany(
        f"INSERT INTO tasks (id, {TASK_COLUMNS}) "  # noqa: S608 (fixed column names)
        "VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, '', NULL, NULL, NULL, ?)",
        [(row_id, *raw_values(task)) for row_id, task in enumerate(tasks, start=last + 1)],
    )
    conn.executemany(
        "INSERT INTO task_identifiers (task, hash) VALUES (?, ?)",
        [
            (row_id, value)
            for row_id, task in enumerate(tasks, start=last + 1)
            for value in task.identifiers
        ],
    )
    conn.execute("COMMIT")


def batch_cost(directory: Path, existing: int, size: int, batches: int, rounds: int) -> None:
    """Batches of *size* adds made at once from *size* threads into a store of *existing*
    tasks, as concurrent creates arrive at a server: CPU and wall time a task (every thread of
    this process), with raw sqlite3 writing the same rows into a copy of the same file as the
    baseline."""
    path = directory / f"batch-{existing}.db"
    populate(path, existing, accounts=1)
    raw_path = directory / f"batch-{existing}-raw.db"
    raw_path.write_bytes(path.read_bytes())
    store = SqliteStore(path)
    conn = raw_connection(raw_path, "FULL")
    counter = existing
    measured: dict[str, list[tuple[float, float]]] = {"store": [], "raw": []}
    pool = ThreadPoolExecutor(size)
    for _ in range(rounds):
        for name in ("store", "raw"):
            work = [
                [make_task(counter + size * b + i) for i in range(size)] for b in range(batches)
            ]
            counter += size * batches
            wall, cpu = time.perf_counter(), time.process_time()
            for batch in work:
                if name == "store":
                    list(pool.map(store.add, batch))
                else:
                    raw_add_batch(conn, batch)
            tasks = size * batches
            measured[name].append(
                (
                    (time.perf_counter() - wall) / tasks * 1e6,
                    (time.process_time() - cpu) / tasks * 1e6,
                )
            )
    pool.shutdown()
    store.close()
    written = existing + rounds * size * batches
    for side in (conn, sqlite3.connect(path)):  # each side wrote every row it was given
        assert side.execute("SELECT count(*) FROM tasks").fetchone() == (written,)
        side.close()
    for name, runs in measured.items():
        print(
            f"  {name:5}: {statistics.median(w for w, _ in runs):6.1f} us wall, "
            f"{statistics.median(c for _, c in runs):6.1f} us CPU a task (medians of {rounds})"
        )
    ratio = statistics.median(
        r[0] / s[0] for s, r in zip(measured["store"], measured["raw"], strict=True)
    )
    print(f"  store/raw throughput: {ratio:.2f}x (median of per-round ratios)")


# -- list pages at scale --


def page_latency(path: Path, count: int, samples: int, accounts: int = 10) -> list[float]:
    """Seconds per list page of 100 for one account, first pages and deep cursors alike."""
    store = SqliteStore(path)
    rng = random.Random(7)
    timings = []
    for sample in range(samples):
        before = None
        if sample % 2:
            depth = rng.randrange(101 * accounts, count)  # a full page remains below it
            before = (T0 + dt.timedelta(seconds=depth), "\uffff")
        account = f"acct-{sample % accounts}"
        query = TaskQuery(accounts=frozenset({account}), before=before, limit=100)
        start = time.perf_counter()
        found = store.list_tasks(query)
        timings.append(time.perf_counter() - start)
        assert len(found) == 100, len(found)
    store.close()
    return timings


# -- advance_due --


def advance_seconds(path: Path, due: int, age: dt.timedelta) -> float:
    """One `advance_due` over *due* tasks whose youngest is *age* old: 13 days moves each task
    one step (to ready), 20 days two steps (ready, then actioned)."""
    populate(path, due, accounts=1)
    store = SqliteStore(path)
    clock = ManualClock(T0 + dt.timedelta(seconds=due) + age)
    service = DeletionService(store, clock, subscribers=[])
    start = time.perf_counter()
    moved = service.advance_due()
    elapsed = time.perf_counter() - start
    assert moved == due, moved
    store.close()
    return elapsed


# -- JSON files --


def jsonfiles_rates(directory: Path, count: int) -> tuple[float, float]:
    store = JsonFilesStore(directory / f"json-{count}")
    tasks = [make_task(i) for i in range(count)]
    start = time.perf_counter()
    for task in tasks:
        store.add(task)
    adds = count / (time.perf_counter() - start)
    query = TaskQuery(accounts=frozenset({ACCOUNT}), limit=100)
    fresh = JsonFilesStore(directory / f"json-{count}")
    cold = median_seconds(lambda: JsonFilesStore(directory / f"json-{count}").list_tasks(query), 3)
    warm = median_seconds(lambda: fresh.list_tasks(query), 5)
    print(
        f"  jsonfiles at {count:>6}: {adds:8.0f} adds/s, list page: {1 / cold:6.1f}/s cold, "
        f"{1 / warm:6.1f}/s warm"
    )
    return adds, 1 / warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--adds", type=int, default=500)
    parser.add_argument("--existing", type=int, default=100_000)
    cases = ["add", "batch", "list", "advance", "jsonfiles", "console"]
    parser.add_argument("--only", choices=cases)
    args = parser.parse_args()
    wanted = {args.only} if args.only else set(cases)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        directory = Path(tmp)
        for synchronous in ("FULL", "NORMAL") if "add" in wanted else ():
            rate, ratio = add_ratio(directory, args.adds, 7, synchronous)
            print(
                f"sqlite add, synchronous={synchronous}: {rate:8.0f}/s, "
                f"{ratio:.2f}x raw sqlite3 (median of 7 rounds)"
            )

        if "batch" in wanted:
            print(f"sqlite add from 16 threads at once, into {args.existing} tasks, FULL:")
            batch_cost(directory, args.existing, 16, 300, 5)

        results = {}
        for count in (args.small, args.big) if "list" in wanted else ():
            path = directory / f"list-{count}.db"
            start = time.perf_counter()
            populate(path, count)
            print(f"populated {count} tasks in {time.perf_counter() - start:.1f}s")
            timings = page_latency(path, count, 2000)
            results[count] = statistics.median(timings)
            p99 = sorted(timings)[int(len(timings) * 0.99)]
            print(
                f"  list page of 100 at {count:>8}: median {results[count] * 1e3:.2f} ms, "
                f"p99 {p99 * 1e3:.2f} ms"
            )
        if results:
            print(
                f"  ratio {args.big} / {args.small}: {results[args.big] / results[args.small]:.2f}x"
            )

        advances = ((1, dt.timedelta(days=13)), (2, dt.timedelta(days=20)))
        for steps, age in advances if "advance" in wanted else ():
            runs = [
                advance_seconds(directory / f"advance-{steps}-{n}.db", args.due, age)
                for n in range(3)
            ]
            elapsed = statistics.median(runs)
            print(
                f"sqlite advance_due over {args.due} tasks due for {steps} step(s): "
                f"{elapsed:.2f}s median of 3 ({args.due / elapsed:.0f} tasks/s, "
                f"synchronous=FULL; runs {', '.join(f'{r:.2f}' for r in runs)})"
            )

        for count in (1_000, 10_000) if "jsonfiles" in wanted else ():
            jsonfiles_rates(directory, count)

        if "console" in wanted:
            from benchmarks.console_reads import console_costs

            costs = console_costs(directory / "console.db", args.big)
            print(f"console reads over {args.big} tasks (medians of 5):")
            one_pass = costs["raw sqlite3 count(*)"]
            for name, seconds in costs.items():
                print(f"  {name:<24} {seconds * 1e3:9.1f} ms  {seconds / one_pass:6.1f}x one pass")


if __name__ == "__main__":
    main()
