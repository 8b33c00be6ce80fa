"""A change of several JSON documents is all or nothing across a crash: the writer is stopped at
the rename of one of its documents (what a kill leaves: that file synced under a temporary name,
the earlier ones in place), and whoever opens the store or takes its lock next finds the whole
change, or none of it when the stop came before the journal was in place."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deletion_requests_jsonfiles import JsonFilesStore
from deletion_requests_jsonfiles import _files as module

from deletion_requests import (
    DeletionService,
    Destination,
    DestinationWork,
    JobState,
    ManualClock,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
    StoreError,
)
from deletion_requests._access import digest_secret
from deletion_requests.testing import make_task
from deletion_requests.testing._power import LossyMount, fuse_unavailable

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DELETED = Outcome(OutcomeKind.DELETED)
JOURNAL = "journal.json"


class Crash(BaseException):
    """The writer stops here, as a kill would stop it."""


def work_on(store: JsonFilesStore) -> DestinationWork:
    clock = ManualClock(T0 + Policy().cancel_period + dt.timedelta(hours=1))
    return DestinationWork(DeletionService(store, clock, subscribers=[]))


def actioned(store: JsonFilesStore, names: tuple[str, ...]) -> str:
    """A task handed to destinations *names*, each with a job owed."""
    work = work_on(store)
    for name in names:
        work.add(Destination(name, Mode.PULL, T0, credential_digest=digest_secret(name)))
    task = make_task(creation_time=T0)
    store.add(task)
    assert work.advance_due() == 1
    return task.task_id


@pytest.fixture
def crash_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[Path], bool]], None]:
    """Stop the writer at the rename into place of the first file *where* accepts."""

    def arm(where: Callable[[Path], bool]) -> None:
        real = os.replace

        def replace(source: Any, target: Any) -> None:
            if where(Path(target)):
                monkeypatch.setattr(module.os, "replace", real)
                raise Crash
            real(source, target)

        monkeypatch.setattr(module.os, "replace", replace)

    return arm


def in_tasks(path: Path) -> bool:
    return path.parent.name == "tasks"


@pytest.mark.parametrize("next_holder", ["reopened", "same store"])
def test_a_skip_stopped_before_its_task_is_written_keeps_the_outcome_and_the_history_entry(
    tmp_path: Path, crash_at: Callable[[Callable[[Path], bool]], None], next_holder: str
) -> None:
    root = tmp_path / "store"
    store = JsonFilesStore(root)
    task_id = actioned(store, ("crm", "warehouse"))
    crash_at(in_tasks)  # the jobs document is in place; the task is not
    with pytest.raises(Crash):
        work_on(store).skip(task_id, "crm", "the CRM was retired", "ann")
    if next_holder == "reopened":
        store.close()
        store = JsonFilesStore(root)
    else:
        store.check()  # any call that takes the lock
    with store:
        crm = next(j for j in store.task_jobs(task_id) if j.destination == "crm")
        assert crm.outcome == Outcome(OutcomeKind.FAILED, "the CRM was retired")
        task = store.get(task_id)
        assert task is not None
        assert task.history[-1].event == "destination.skipped"
        assert task.history[-1].detail == "crm: the CRM was retired"
        assert task.completed_time is None
    assert not (root / JOURNAL).exists()


def test_a_skip_stopped_midway_is_whole_after_a_power_cut(
    tmp_path: Path, crash_at: Callable[[Callable[[Path], bool]], None]
) -> None:
    """On the lossy file system of the power-loss tests: what was not synced is gone."""
    reason = fuse_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with LossyMount(tmp_path / "disk", tmp_path / "disk.state", tmp_path / "fs.log") as mount:
        root = mount.mountpoint / "store"
        with JsonFilesStore(root) as store:
            task_id = actioned(store, ("crm", "warehouse"))
            crash_at(in_tasks)
            with pytest.raises(Crash):
                work_on(store).skip(task_id, "crm", "the CRM was retired", "ann")
        mount.power_cut()
        mount.start()
        with JsonFilesStore(root) as store:
            crm = next(j for j in store.task_jobs(task_id) if j.destination == "crm")
            assert crm.outcome == Outcome(OutcomeKind.FAILED, "the CRM was retired")
            task = store.get(task_id)
            assert task is not None
            assert task.history[-1].event == "destination.skipped"


def test_an_outcome_stopped_before_its_completion_is_written_completes_the_task(
    tmp_path: Path, crash_at: Callable[[Callable[[Path], bool]], None]
) -> None:
    root = tmp_path / "store"
    with JsonFilesStore(root) as store:
        task_id = actioned(store, ("crm",))
        (job,) = store.task_jobs(task_id)
        crash_at(in_tasks)
        with pytest.raises(Crash):
            work_on(store).report("crm", job.job_id, DELETED)
    with JsonFilesStore(root) as store:
        (job,) = store.task_jobs(task_id)
        assert job.state is JobState.FINAL
        assert job.outcome == DELETED
        task = store.get(task_id)
        assert task is not None
        assert task.completed_time is not None


def test_a_change_stopped_before_its_journal_is_in_place_leaves_nothing(
    tmp_path: Path, crash_at: Callable[[Callable[[Path], bool]], None]
) -> None:
    root = tmp_path / "store"
    with JsonFilesStore(root) as store:
        task_id = actioned(store, ("crm",))
        (job,) = store.task_jobs(task_id)
        before = store.get(task_id)
        crash_at(lambda path: path.name == JOURNAL)
        with pytest.raises(Crash):
            work_on(store).report("crm", job.job_id, DELETED)
    with JsonFilesStore(root) as store:
        assert store.task_jobs(task_id) == [job]
        assert store.get(task_id) == before
        # and the report, sent again, is recorded whole
        work_on(store).report("crm", job.job_id, DELETED)
        task = store.get(task_id)
        assert task is not None
        assert task.completed_time is not None


def test_an_advance_stopped_between_jobs_and_task_is_finished_on_open(
    tmp_path: Path, crash_at: Callable[[Callable[[Path], bool]], None]
) -> None:
    root = tmp_path / "store"
    with JsonFilesStore(root) as store:
        work = work_on(store)
        work.add(Destination("crm", Mode.PULL, T0, credential_digest=digest_secret("crm")))
        task = make_task(creation_time=T0)
        store.add(task)
        crash_at(in_tasks)
        with pytest.raises(Crash):
            work.advance_due()
    JsonFilesStore(root).close()
    # the file itself, not a read that catches up
    stored = json.loads((root / "tasks" / f"{task.task_id}.json").read_text())
    assert stored["status"] == "actioned"
    with JsonFilesStore(root) as store:
        assert [j.destination for j in store.task_jobs(task.task_id)] == ["crm"]


def test_a_damaged_journal_is_reported_by_name(tmp_path: Path) -> None:
    root = tmp_path / "store"
    JsonFilesStore(root).close()
    (root / JOURNAL).write_text('{"writes": [["../../elsewhere.json", {}]]}')
    with pytest.raises(StoreError, match=r"journal\.json names a file outside"):
        JsonFilesStore(root)
    (root / JOURNAL).write_text('{"no writes": []}')
    with pytest.raises(StoreError, match=r"journal\.json is not a valid journal"):
        JsonFilesStore(root)
