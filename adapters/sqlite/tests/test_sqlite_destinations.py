from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from deletion_requests_sqlite import SqliteStore

from deletion_requests import Destination, JobState, Mode, OutcomeKind, Policy
from deletion_requests import _handoff as handoff
from deletion_requests._lifecycle import catch_up
from deletion_requests._task import as_successor
from deletion_requests.stores import DEFAULT_DESTINATION, job_id_for
from deletion_requests.testing import DestinationsContract, make_task

POLICY = Policy()


def back_to_schema_8(conn: sqlite3.Connection) -> None:
    """Take a file with no jobs back to schema 8's jobs: keyed by their id, no tallies."""
    conn.execute("DROP TABLE jobs")
    conn.execute("DROP TABLE job_tallies")
    conn.execute(
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, "
        "destination TEXT NOT NULL, created_us INTEGER NOT NULL, state TEXT NOT NULL, "
        "waits_for TEXT NOT NULL DEFAULT '', outcome TEXT, reason TEXT NOT NULL DEFAULT '', "
        "outcome_us INTEGER, attempts INTEGER NOT NULL DEFAULT 0, "
        "last_error TEXT NOT NULL DEFAULT '', holder TEXT, lease_us INTEGER)"
    )
    conn.execute("CREATE INDEX jobs_by_task ON jobs (task_id, destination)")
    conn.execute("CREATE INDEX jobs_open ON jobs (destination, created_us) WHERE outcome IS NULL")
    conn.execute("DELETE FROM schema_version WHERE version = 9")


class TestSqliteDestinations(DestinationsContract):
    def create_store(self, directory: Path) -> SqliteStore:
        return SqliteStore(directory / "tasks.db")


def test_tasks_handed_off_before_destinations_keep_their_state_as_default_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.db"
    tasks = [make_task() for _ in range(4)]
    with SqliteStore(path) as store:
        for task in tasks:
            store.add(task)
        later = tasks[0].creation_time + POLICY.cancel_period
        owing, delivered, done = (catch_up(t, later, POLICY) for t in tasks[:3])
        delivered = handoff.delivered(delivered, "handoff", later, "w", False)
        done = handoff.complete(done, later + dt.timedelta(hours=1), "deleter")
        changed = [
            as_successor(old, new)
            for old, new in zip(tasks, (owing, delivered, done), strict=False)
        ]
        assert store.update(changed) == frozenset()
        done = changed[2]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE jobs")
    conn.execute("DROP TABLE job_tallies")
    conn.execute("DROP TABLE destinations")
    conn.execute("DROP INDEX tasks_incomplete_by_due")
    conn.execute("ALTER TABLE tasks DROP COLUMN due_us")
    conn.execute("DELETE FROM schema_version WHERE version >= 6")
    conn.close()
    with SqliteStore(path) as store:
        jobs = {t.task_id: store.task_jobs(t.task_id) for t in tasks}
        assert jobs[tasks[3].task_id] == []  # still pending: no job yet
        for task, state in zip(
            tasks, (JobState.OWED, JobState.DELIVERED, JobState.FINAL), strict=False
        ):
            (job,) = jobs[task.task_id]
            assert job.job_id == job_id_for(task.task_id, DEFAULT_DESTINATION)
            assert (job.destination, job.state) == (DEFAULT_DESTINATION, state)
        (final,) = jobs[tasks[2].task_id]
        assert final.outcome is not None
        assert final.outcome.kind is OutcomeKind.DELETED
        assert final.outcome_time == done.completed_time
        assert store.get(tasks[2].task_id) == done


def test_destinations_paused_before_the_breaker_read_as_paused_by_an_operator(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.db"
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with SqliteStore(path) as store:
        store.add_destination(
            Destination("crm", Mode.PUSH, now, "https://crm.example/", "whsec_x", paused=True)
        )
    conn = sqlite3.connect(path, isolation_level=None)
    back_to_schema_8(conn)
    for column in ("changed_by", "changed_us", "failures", "failing_since_us", "last_error"):
        conn.execute(f"ALTER TABLE destinations DROP COLUMN {column}")
    conn.execute("DROP INDEX tasks_incomplete_by_due")  # and the due dates, which came after
    conn.execute("ALTER TABLE tasks DROP COLUMN due_us")
    conn.execute("DELETE FROM schema_version WHERE version >= 7")
    conn.close()
    with SqliteStore(path) as store:
        crm = store.get_destination("crm")
    assert crm is not None
    assert crm.paused
    assert not crm.paused_by_breaker
    assert (crm.changed_by, crm.failures, crm.failing_since, crm.last_error) == (None, 0, None, "")


def test_tasks_stored_before_due_dates_are_due_30_days_after_creation(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    tasks = [make_task(), make_task()]
    with SqliteStore(path) as store:
        for task in tasks:
            store.add(task)
    conn = sqlite3.connect(path, isolation_level=None)  # as schema 7 left the tasks
    back_to_schema_8(conn)
    conn.execute("DROP INDEX tasks_incomplete_by_due")
    conn.execute("ALTER TABLE tasks DROP COLUMN due_us")
    conn.execute("DELETE FROM schema_version WHERE version = 8")
    conn.close()
    with SqliteStore(path) as store:
        for task in tasks:
            stored = store.get(task.task_id)
            assert stored is not None
            assert stored.due_time == task.creation_time + dt.timedelta(days=30)
