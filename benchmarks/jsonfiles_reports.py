"""Reports on the JSON files store: the time a pull destination's report takes, in process, at
a small and a large number of tasks with jobs, and their ratio (a report whose cost does not
grow with the store stays near 1x).

Run: uv run python -m benchmarks.jsonfiles_reports [--small 300] [--large 3000] [--reports 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from deletion_requests_jsonfiles import JsonFilesStore

from deletion_requests import (
    DeletionService,
    Destination,
    DestinationWork,
    ManualClock,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
)
from deletion_requests._access import digest_secret
from deletion_requests.testing import make_task

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def report_times(root: Path, count: int, reports: int) -> list[float]:
    """Seconds each of *reports* single reports took on a JSON files store at *root* holding
    *count* tasks actioned with a job each; the store is opened anew before the reports, and
    the jobs claimed first, as a deleter does."""
    clock = ManualClock(T0 + Policy().cancel_period + dt.timedelta(hours=1))
    with JsonFilesStore(root) as store:
        work = DestinationWork(DeletionService(store, clock, subscribers=[]))
        work.add(Destination("crm", Mode.PULL, T0, credential_digest=digest_secret("c")))
        for _ in range(count):
            store.add(make_task(creation_time=T0))
        assert work.advance_due() == count
    with JsonFilesStore(root) as store:
        work = DestinationWork(DeletionService(store, clock, subscribers=[]))
        claimed = work.claim("crm", reports)
        timings = []
        for one in claimed:
            start = time.perf_counter()
            work.report("crm", one.job.job_id, Outcome(OutcomeKind.DELETED))
            timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--reports", type=int, default=100)
    args = parser.parse_args()
    medians = {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for count in (args.small, args.large):
            timings = report_times(Path(tmp) / f"store{count}", count, args.reports)
            medians[count] = statistics.median(timings)
            print(
                f"jsonfiles report at {count} tasks with jobs: median "
                f"{medians[count] * 1e3:.2f} ms, p90 "
                f"{statistics.quantiles(timings, n=10)[-1] * 1e3:.2f} ms ({len(timings)} reports)"
            )
    print(f"large against small: {medians[args.large] / medians[args.small]:.2f}x")


if __name__ == "__main__":
    main()
