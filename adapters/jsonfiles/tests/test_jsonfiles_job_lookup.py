"""A report on JSON files finds its job's task without reading every task's jobs: from the jobs
the store has already read or written, and with one scan of `jobs/` for a job it has not seen
(one another process wrote). A job gone since is not found."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from deletion_requests_jsonfiles import JsonFilesStore
from deletion_requests_jsonfiles import _destinations as module

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
DELETED = Outcome(OutcomeKind.DELETED)


def work_on(store: JsonFilesStore) -> DestinationWork:
    clock = ManualClock(T0 + Policy().cancel_period + dt.timedelta(hours=1))
    return DestinationWork(DeletionService(store, clock, subscribers=[]))


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directories the store lists (`os.scandir`), as they are listed."""
    listed: list[str] = []
    real = os.scandir

    def counted(path: Any) -> Any:
        listed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(module.os, "scandir", counted)
    return listed


def test_reports_of_jobs_the_store_has_seen_list_no_directory(
    tmp_path: Path, scans: list[str]
) -> None:
    root = tmp_path / "store"
    with JsonFilesStore(root) as writer:
        work = work_on(writer)
        work.add(Destination("crm", Mode.PULL, T0, credential_digest=digest_secret("c")))
        tasks = [make_task(creation_time=T0) for _ in range(5)]
        for task in tasks:
            writer.add(task)
        assert work.advance_due() == 5
        job_ids = [work.jobs(task.task_id)[0].job_id for task in tasks]
    with JsonFilesStore(root) as reader:  # another process: it has seen none of these jobs
        work = work_on(reader)
        scans.clear()
        assert reader.get_job(job_ids[0]) is not None
        assert scans.count("jobs") == 1  # a job it has not seen: one scan finds its task
        scans.clear()
        work.report("crm", job_ids[0], DELETED)
        work.report_batch("crm", [(job_id, DELETED) for job_id in job_ids[1:]])
        assert scans.count("jobs") == 0  # the scan saw every job: no other is needed
        for task in tasks:
            stored = reader.get(task.task_id)
            assert stored is not None
            assert stored.completed_time is not None


def test_a_job_gone_since_it_was_seen_is_not_found(tmp_path: Path) -> None:
    with JsonFilesStore(tmp_path / "store") as store:
        work = work_on(store)
        work.add(Destination("crm", Mode.PULL, T0, credential_digest=digest_secret("c")))
        task = make_task(creation_time=T0)
        store.add(task)
        assert work.advance_due() == 1
        (job,) = work.jobs(task.task_id)
        work.report("crm", job.job_id, DELETED)
        assert store.get_job(job.job_id) is not None
        assert store.remove_destination("crm")
        assert store.get_job(job.job_id) is None
