"""Destinations benchmark: one day's batch handed off to five destinations next to one, claims
by pull workers over HTTP (reported one by one, and in batch reports), and the console's
pages at scale, in one run.

Run: uv run python -m benchmarks.destinations [--tasks 30000] [--claims 6000] [--big 1000000]
     [--page-tasks 200] [--only handoff|claims|pages] [--store sqlite|postgres]
     [--baseline REF]
With --baseline, each claims case also runs REF's `serve` (built in a git worktree) on the
same owed jobs, in the same run, and prints the ratio.
(several minutes at full size; PostgreSQL at $DELETION_REQUESTS_TEST_POSTGRES or the local one)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from deletion_requests_http.testing import serving
from deletion_requests_postgres import PostgresStore

from benchmarks._drive import QUIET
from benchmarks._populate import T0, make_task, populate
from benchmarks.http import baseline_python, drop_schemas, remove_worktree, store_url
from deletion_requests import (
    AccessAdmin,
    DeletionService,
    Destination,
    DestinationWork,
    ManualClock,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
    open_store,
)
from deletion_requests._access import digest_secret
from deletion_requests._destinations import jobs_for
from deletion_requests._lifecycle import catch_up
from deletion_requests.wire import new_credential, new_signing_secret

AGE = dt.timedelta(days=20)
"""How old the youngest task of a batch is: old enough to be actioned by one advance."""
CLAIM = 1000
"""Jobs a pull worker claims at a time."""


def destinations(count: int) -> list[Destination]:
    """*count* push destinations (nothing is sent: the benchmark times the writes)."""
    return [
        Destination(
            f"dest-{n}", Mode.PUSH, T0, f"https://dest-{n}.example/jobs", new_signing_secret()
        )
        for n in range(count)
    ]


def load_postgres(url: str, count: int) -> None:
    """*count* pending tasks, one a second from T0, added 1,000 a statement."""
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        for start in range(0, count, 1000):
            tasks = [make_task(i) for i in range(start, min(count, start + 1000))]
            assert store.add_batch([(task, None) for task in tasks]) == [None] * len(tasks)


def bytes_written() -> int:
    """The bytes this process has passed to write calls (`wchar` of /proc/self/io; 0 where
    there is none): on SQLite, the WAL frames and checkpoints of its commits."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def handoff_seconds(url: str, count: int, fanout: int) -> tuple[float, float, int]:
    """Seconds of the one `advance_due` that actions *count* due tasks of a store at *url*
    (loaded beforehand) and writes their jobs for *fanout* destinations, and of the
    `job_counts` (what the destinations page and the metrics read) that follows; and the bytes
    this process wrote during the advance."""
    with open_store(url) as store:
        clock = ManualClock(T0 + dt.timedelta(seconds=count) + AGE)
        service = DeletionService(store, clock, subscribers=[])
        work = DestinationWork(service)
        for destination in destinations(fanout):
            work.add(destination)
        written = bytes_written()
        start = time.perf_counter()
        moved = work.advance_due()
        elapsed = time.perf_counter() - start
        written = bytes_written() - written
        assert moved == count, moved
        start = time.perf_counter()
        counts = work.store.job_counts()
        counting = time.perf_counter() - start
        jobs = sum(c.owed for c in counts.values())
        assert jobs == count * fanout, jobs
    return elapsed, counting, written


def handoff(directory: Path, count: int, kinds: list[str], rounds: int) -> dict[str, float]:
    """Median seconds of the hand-off of *count* tasks to 5 destinations and to 1, per store
    kind, interleaved round by round; prints each and their ratio. The ratios, by kind."""
    ratios = {}

    def listed(runs: list[float]) -> str:
        return ", ".join(f"{r:.2f}" for r in runs)

    for kind in kinds:
        runs: dict[int, list[float]] = {1: [], 5: []}
        counting: list[float] = []
        written: dict[int, list[int]] = {1: [], 5: []}
        for n in range(rounds):
            for fanout in (1, 5):
                if kind == "sqlite":
                    path = directory / f"handoff-{fanout}-{n}.db"
                    populate(path, count, accounts=1)
                    seconds = handoff_seconds(f"sqlite:///{path}", count, fanout)
                else:
                    url = store_url("postgres", f"handoff{fanout}", directory)
                    try:
                        load_postgres(url, count)
                        seconds = handoff_seconds(url, count, fanout)
                    finally:
                        drop_schemas([url])
                runs[fanout].append(seconds[0])
                written[fanout].append(seconds[2])
                if fanout == 5:
                    counting.append(seconds[1])
        one, five = (statistics.median(runs[f]) for f in (1, 5))
        ratios[kind] = five / one
        print(
            f"{kind} hand-off of {count} tasks: 1 destination {one:.2f}s "
            f"({count / one:.0f} jobs/s), 5 destinations {five:.2f}s ({5 * count / five:.0f} "
            f"jobs/s): {five / one:.2f}x (medians of {rounds}; runs 1: "
            f"{listed(runs[1])}; 5: {listed(runs[5])})"
        )
        print(
            f"{kind} job counts of {5 * count} jobs: {statistics.median(counting) * 1e3:.1f} ms "
            f"(median of {rounds}; runs: {', '.join(f'{c * 1e3:.1f}' for c in counting)} ms)"
        )
        if kind == "sqlite":
            one, five = (statistics.median(written[f]) / 2**20 for f in (1, 5))
            print(f"sqlite hand-off wrote {one:.1f} MiB (1 destination), {five:.1f} MiB (5)")
    return ratios


# -- claims ----------------------------------------------------------------------------------


def pull_worker(
    base: str,
    credential: str,
    done: list[int],
    batch: bool = False,
    retried: list[int] | None = None,
) -> None:
    """Claim the warehouse's jobs `CLAIM` at a time over HTTP and report each as deleted (one
    by one, or with *batch* a claim's outcomes in one batch report), until a claim comes back
    empty; the count goes into *done*. A 503 is sent again after a moment, as a deleter
    should, and counted in *retried*."""
    headers = {"Authorization": f"Bearer {credential}"}
    reported = 0
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:

        def post(path: str, body: object) -> Any:
            while True:
                answer = http.post(path, json=body)
                if answer.status_code != 503:
                    answer.raise_for_status()
                    return answer.json()
                if retried is not None:
                    retried.append(1)
                time.sleep(0.05)

        while True:
            jobs = post("/destinations/warehouse/jobs/claim", {"limit": CLAIM})["data"]
            if not jobs:
                break
            if batch:
                items = [{"jobId": job["jobId"], "outcome": "deleted"} for job in jobs]
                answer = post("/destinations/warehouse/jobs/outcomes", {"outcomes": items})
                reported += len(answer["data"])
                continue
            for job in jobs:
                post(f"/destinations/warehouse/jobs/{job['jobId']}/outcome", {"outcome": "deleted"})
                reported += 1
    done.append(reported)


def owed_pull_jobs(url: str, count: int) -> str:
    """*count* tasks actioned with a job each for the pull destination `warehouse`; its
    credential."""
    credential = new_credential()
    load_postgres(url, count)
    with open_store(url) as store:
        service = DeletionService(
            store, ManualClock(T0 + dt.timedelta(seconds=count) + AGE), subscribers=[]
        )
        work = DestinationWork(service)
        work.add(
            Destination("warehouse", Mode.PULL, T0, credential_digest=digest_secret(credential))
        )
        assert work.advance_due() == count
    return credential


def claims_rate(
    directory: Path, count: int, workers: int, batch: bool = False, python: str = sys.executable
) -> float:
    """Jobs a second that *workers* pull workers claim and report over HTTP from one `serve`
    (run by *python*: this checkout's, or a baseline's) on PostgreSQL, *count* jobs owed;
    reported one by one, or with *batch* in batches."""
    url = store_url("postgres", f"claims{workers}{'b' if batch else ''}", directory)
    try:
        credential = owed_pull_jobs(url, count)
        log = directory / f"claims-{workers}{'-batch' if batch else ''}.log"
        options = ("--workers", "2", *QUIET, "--no-console")
        with serving(url, log, *options, timeout=120, python=python) as server:
            done: list[int] = []
            retried: list[int] = []
            threads = [
                threading.Thread(
                    target=pull_worker, args=(server.base_url, credential, done, batch, retried)
                )
                for _ in range(workers)
            ]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
        assert sum(done) == count, (done, count)
        if retried:
            print(f"  ({len(retried)} answers of 503 sent again, {python})")
        with open_store(url, create=False) as store:
            counts = DestinationWork(DeletionService(store, subscribers=[])).store.job_counts()
            assert counts["warehouse"].final == count
    finally:
        drop_schemas([url])
    return count / elapsed


def claims(directory: Path, count: int, rounds: int, baseline: str | None) -> None:
    """Print `claims_rate` for 1 and 3 workers, one by one and in batches; with a *baseline*
    python, *rounds* alternating rounds of both and the ratio of their medians."""
    for workers in (1, 3):
        for batch in (False, True):
            how = "in batch reports" if batch else "one by one"
            label = f"postgres pull claims of {CLAIM} over HTTP, {workers} worker(s), {count} jobs"
            if baseline is None:
                rate = claims_rate(directory, count, workers, batch)
                print(f"{label}: {rate:.0f} jobs/s claimed and reported {how}")
                continue
            ours, theirs = [], []
            for _ in range(rounds):
                ours.append(claims_rate(directory, count, workers, batch))
                theirs.append(claims_rate(directory, count, workers, batch, baseline))
            mine, base = statistics.median(ours), statistics.median(theirs)
            print(
                f"{label}, reported {how}: {mine:.0f} against {base:.0f} jobs/s "
                f"(median of {rounds}; {mine / base:.2f}x; rounds "
                f"{', '.join(f'{a:.0f}/{b:.0f}' for a, b in zip(ours, theirs, strict=True))})"
            )


# -- pages -----------------------------------------------------------------------------------


@contextlib.contextmanager
def signed_in_console(path: Path, count: int, actioned: int) -> Iterator[tuple[Any, list[str]]]:
    """A console client signed in over *count* tasks at *path* (populated), with *actioned*
    of them (at least 200) actioned with jobs for 5 destinations, half of 200 reported by one;
    the client and those 200 tasks' ids."""
    from deletion_requests_http import TokenIssuer, create_app
    from deletion_requests_http.console import Console, ConsoleSettings
    from starlette.testclient import TestClient

    url = f"sqlite:///{path}"
    with open_store(url) as store:
        clock = ManualClock(T0 + dt.timedelta(seconds=count, days=1))
        service = DeletionService(store, clock, subscribers=[])
        work = DestinationWork(service)
        dests = destinations(5)
        for destination in dests:
            work.add(destination)
        with contextlib.closing(sqlite3.connect(path)) as raw:
            ids = [row[0] for row in raw.execute("SELECT task_id FROM tasks")]
        chosen = random.Random(11).sample(ids, min(max(200, actioned), len(ids)))
        for start in range(0, len(chosen), 1000):
            tasks = [store.get(task_id) for task_id in chosen[start : start + 1000]]
            _action(store, tasks, dests, clock)
        sampled = chosen[:200]
        for task_id in sampled[::2]:
            work.report("dest-0", work.jobs(task_id)[0].job_id, Outcome(OutcomeKind.DELETED))
        admin = AccessAdmin(store, clock)
        admin.add_operator("bench", "benchmark password")
        console = Console(service, admin, ConsoleSettings()).app()
        with TestClient(create_app(service, TokenIssuer("k" * 48, clock), console=console)) as c:
            page = c.get("/console/sign-in")
            token = page.text.split('name="csrf" value="')[1].split('"')[0]
            c.post(
                "/console/sign-in",
                data={"csrf": token, "name": "bench", "password": "benchmark password"},
            )
            assert c.get("/console/").status_code == 200
            yield c, sampled


def _action(store: Any, tasks: list[Any], dests: list[Destination], clock: ManualClock) -> None:
    """Action *tasks* (as an advance would, ahead of time) with their jobs, in one write."""
    policy = Policy()
    changes = []
    for task in tasks:
        moment = task.creation_time + policy.cancel_period
        actioned = catch_up(task, max(moment, clock.now()), policy)
        changes.append((actioned, jobs_for(actioned, dests, moment)))
    assert store.write_actioned(changes) == frozenset()


def latencies(fetch: Callable[[], httpx.Response], samples: int) -> list[float]:
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        response = fetch()
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return timings


def pages(directory: Path, count: int, samples: int, actioned: int) -> dict[str, list[float]]:
    """Seconds per console task page (a task with 5 jobs), queue page and destinations page (5
    destinations, *actioned* tasks' jobs) at *count* tasks."""
    path = directory / "pages.db"
    start = time.perf_counter()
    populate(path, count)
    print(f"populated {count} tasks in {time.perf_counter() - start:.1f}s")
    with signed_in_console(path, count, actioned) as (client, sampled):
        ids = iter(sampled * (samples // len(sampled) + 1))
        found = {
            "task page": latencies(lambda: client.get(f"/console/tasks/{next(ids)}"), samples),
            "queue page": latencies(lambda: client.get("/console/"), max(5, samples // 10)),
            "destinations page": latencies(
                lambda: client.get("/console/destinations"), max(5, samples // 10)
            ),
        }
    for name, timings in found.items():
        ordered = sorted(timings)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"  console {name} at {count} tasks, {5 * max(200, actioned)} jobs: "
            f"p50 {statistics.median(timings) * 1e3:.1f} ms, "
            f"p99 {p99 * 1e3:.1f} ms ({len(timings)} fetches)"
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--claims", type=int, default=6_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--page-tasks", type=int, default=200, help="tasks actioned (5 jobs each) for the pages"
    )
    parser.add_argument("--store", choices=["sqlite", "postgres"], help="the hand-off on one")
    cases = ["handoff", "claims", "pages"]
    parser.add_argument("--only", choices=cases)
    parser.add_argument("--baseline", help="claims: a git ref, the code before, in a worktree")
    args = parser.parse_args()
    wanted = {args.only} if args.only else set(cases)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        directory = Path(tmp)
        if "handoff" in wanted:
            kinds = [args.store] if args.store else ["sqlite", "postgres"]
            handoff(directory, args.tasks, kinds, args.rounds)
        if "claims" in wanted:
            baseline = baseline_python(args.baseline, directory) if args.baseline else None
            try:
                claims(directory, args.claims, args.rounds, baseline)
            finally:
                if args.baseline:
                    remove_worktree(directory / "baseline")
        if "pages" in wanted:
            pages(directory, args.big, args.samples, args.page_tasks)


if __name__ == "__main__":
    main()
