from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from deletion_requests_jsonfiles import JsonFilesStore

from deletion_requests import Destination, JobState, Mode, OutcomeKind, Policy
from deletion_requests import _handoff as handoff
from deletion_requests._lifecycle import catch_up
from deletion_requests._task import as_successor
from deletion_requests.stores import DEFAULT_DESTINATION, job_id_for
from deletion_requests.testing import DestinationsContract, make_task

POLICY = Policy()


class TestJsonFilesDestinations(DestinationsContract):
    def create_store(self, directory: Path) -> JsonFilesStore:
        return JsonFilesStore(directory / "store")


def test_tasks_handed_off_before_destinations_keep_their_state(tmp_path: Path) -> None:
    root = tmp_path / "store"
    tasks = [make_task() for _ in range(3)]
    later = tasks[0].creation_time + POLICY.cancel_period
    with JsonFilesStore(root) as store:
        for task in tasks:
            store.add(task)
        owing, sent, done = (catch_up(t, later, POLICY) for t in tasks)
        sent = handoff.delivered(sent, "handoff", later, "w", False)
        done = handoff.complete(done, later + dt.timedelta(hours=1), "deleter")
        changed = [as_successor(o, n) for o, n in zip(tasks, (owing, sent, done), strict=True)]
        assert store.update(changed) == frozenset()
    shutil.rmtree(root / "jobs")  # as a store written before destinations has it
    shutil.rmtree(root / "destinations")
    with JsonFilesStore(root) as store:
        states = (JobState.OWED, JobState.DELIVERED, JobState.FINAL)
        for task, state in zip(tasks, states, strict=True):
            (job,) = store.task_jobs(task.task_id)
            assert job.job_id == job_id_for(task.task_id, DEFAULT_DESTINATION)
            assert job.state is state
        (final,) = store.task_jobs(tasks[2].task_id)
        assert final.outcome is not None
        assert final.outcome.kind is OutcomeKind.DELETED


def test_destinations_written_before_the_breaker_read_as_paused_by_an_operator(
    tmp_path: Path,
) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with JsonFilesStore(tmp_path) as store:
        store.add_destination(
            Destination("crm", Mode.PUSH, now, "https://crm.example/", "whsec_x", paused=True)
        )
    (path,) = (tmp_path / "destinations").glob("*.json")
    document = json.loads(path.read_text())
    for key in ("changed_by", "changed_time", "failures", "failing_since", "last_error"):
        del document[key]
    path.write_text(json.dumps(document))
    with JsonFilesStore(tmp_path) as store:
        crm = store.get_destination("crm")
    assert crm is not None
    assert crm.paused
    assert not crm.paused_by_breaker
    assert (crm.changed_by, crm.failures, crm.failing_since, crm.last_error) == (None, 0, None, "")


def test_tasks_stored_before_due_dates_are_due_30_days_after_creation(tmp_path: Path) -> None:
    root = tmp_path / "store"
    task = make_task()
    with JsonFilesStore(root) as store:
        store.add(task)
    (path,) = (root / "tasks").glob("*.json")
    document = json.loads(path.read_text())
    del document["due_time"]  # as a store written before due dates has it
    path.write_text(json.dumps(document))
    with JsonFilesStore(root) as store:
        stored = store.get(task.task_id)
    assert stored is not None
    assert stored.due_time == task.creation_time + dt.timedelta(days=30)
