"""How many statements an outcome report costs on PostgreSQL, counted (never timed): a bound
that a change adding round trips to the report breaks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deletion_requests import (
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
from deletion_requests.testing import make_task

from .conftest import store_url

DELETED = Outcome(OutcomeKind.DELETED)


class Counter:
    """Every statement psycopg sends through a cursor (an `executemany` counts each of its
    parameter sets), while `counting`."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[str] = []

    def record(self, query: Any, times: int = 1) -> None:
        if self.on:
            self.statements.extend([str(query)[:60]] * times)


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Counter:
    counting = Counter()
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counting.record(query)
        return execute(self, query, *args, **kwargs)

    def counted_many(self: Any, query: Any, params: Any, *args: Any, **kwargs: Any) -> Any:
        params = list(params)
        counting.record(query, len(params))
        return executemany(self, query, params, *args, **kwargs)

    enter, exit_ = psycopg.Transaction.__enter__, psycopg.Transaction.__exit__

    def counted_enter(self: Any) -> Any:
        counting.record("BEGIN")
        return enter(self)

    def counted_exit(self: Any, *args: Any) -> Any:
        counting.record("COMMIT or ROLLBACK")
        return exit_(self, *args)

    monkeypatch.setattr(psycopg.Transaction, "__enter__", counted_enter)
    monkeypatch.setattr(psycopg.Transaction, "__exit__", counted_exit)
    monkeypatch.setattr(psycopg.Cursor, "execute", counted_execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", counted_many)
    return counting


def actioned(tmp_path: Path, tasks: int) -> tuple[DestinationWork, list[str]]:
    """A service on PostgreSQL with two pull destinations and *tasks* actioned tasks."""
    store = open_store(store_url(str(tmp_path)))
    start = make_task().creation_time
    clock = ManualClock(start)
    work = DestinationWork(DeletionService(store, clock))
    for name in ("crm", "warehouse"):
        work.add(Destination(name, Mode.PULL, start, credential_digest=digest_secret(name)))
    for _ in range(tasks):
        store.add(make_task(creation_time=start))
    clock.advance(Policy().cancel_period + dt.timedelta(minutes=1))
    work.advance_due()
    now = clock.now()
    claimed = work.store.claim_jobs("crm", "w", now, now + dt.timedelta(minutes=5), 100)
    return work, [j.job_id for j in claimed]


def counted(counter: Counter, work: Any) -> list[str]:
    counter.statements.clear()
    counter.on = True
    try:
        work()
    finally:
        counter.on = False
    return list(counter.statements)


def test_one_report_is_a_few_statements(tmp_path: Path, counter: Counter) -> None:
    """A report that does not complete its task: the pool's check, the transaction, the
    locked read of the task's jobs and one update. The last report of a task also reads the
    task (its row, identifiers and history) and writes it with its new history entries in one
    statement, whatever the length of its history."""
    work, jobs = actioned(tmp_path, 1)
    task_id = work.store.get_job(jobs[0]).task_id  # type: ignore[union-attr]
    crm = counted(counter, lambda: work.report("crm", jobs[0], DELETED))
    assert len(crm) <= 5, crm
    (warehouse,) = [j for j in work.jobs(task_id) if j.destination == "warehouse"]
    last = counted(counter, lambda: work.report("warehouse", warehouse.job_id, DELETED))
    assert len(last) <= 9, last


def test_a_batch_costs_the_statements_of_one_report(tmp_path: Path, counter: Counter) -> None:
    """Fifty outcomes, half of them completing their task, in as many statements as one
    completing report: the tasks they complete are read, and written, all at once."""
    work, jobs = actioned(tmp_path, 50)
    for job_id in jobs[:25]:
        (other,) = [
            j
            for j in work.jobs(work.store.get_job(job_id).task_id)  # type: ignore[union-attr]
            if j.destination == "warehouse"
        ]
        work.report("warehouse", other.job_id, DELETED)
    batch = counted(counter, lambda: work.report_batch("crm", [(j, DELETED) for j in jobs]))
    assert len(batch) <= 9, batch
    assert all(j.outcome == DELETED for job_id in jobs for j in [work.store.get_job(job_id)] if j)
