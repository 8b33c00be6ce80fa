"""The SQLite store's jobs: kept in creation order, found by their id through a short key, and
counted by tallies that always equal a count of the rows; a schema-8 file keeps every job."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import uuid
from pathlib import Path

import attrs
from deletion_requests_sqlite import SCHEMA_VERSION, SqliteStore
from deletion_requests_sqlite._job_rows import JOB_COLUMNS, job_row
from deletion_requests_sqlite._schema import MIGRATIONS
from sqlite_utils import Database

from deletion_requests import (
    DeletionTask,
    Destination,
    Job,
    JobState,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
    Status,
)
from deletion_requests import _handoff as handoff
from deletion_requests._destinations import jobs_for
from deletion_requests._job_changes import retried
from deletion_requests._lifecycle import catch_up
from deletion_requests._task import as_successor
from deletion_requests.stores import count_jobs

T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
POLICY = Policy()
MINUTE = dt.timedelta(minutes=1)
HASH = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="
RECOUNT = (
    "SELECT destination, coalesce(outcome, ''), state, count(*) FROM jobs "
    "GROUP BY destination, coalesce(outcome, ''), state ORDER BY 1, 2, 3"
)


def pull(name: str) -> Destination:
    return Destination(name, Mode.PULL, T0, credential_digest=f"digest-{name}")


def actioned(store: SqliteStore, destinations: list[Destination]) -> DeletionTask:
    """A new task, actioned with jobs for *destinations*."""
    task = DeletionTask(
        str(uuid.uuid4()), "a", Status.PENDING, T0, frozenset({HASH}), created_by="app"
    )
    store.add(task)
    moved = catch_up(task, T0 + POLICY.cancel_period, POLICY)
    assert store.write_actioned([(moved, jobs_for(moved, destinations, T0))]) == frozenset()
    return moved


def complete(task: DeletionTask, jobs: object) -> DeletionTask:
    return handoff.complete(task, T0 + POLICY.cancel_period, "destinations")


def tallies(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT destination, outcome, state, n FROM job_tallies WHERE n > 0 ORDER BY 1, 2, 3"
        ).fetchall()


def recount(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(RECOUNT).fetchall()


def test_the_tallies_equal_a_recount_of_the_jobs_after_every_kind_of_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.db"
    dests = [pull("crm"), pull("warehouse")]
    with SqliteStore(path) as store:
        for destination in dests:
            store.add_destination(destination)
        tasks = [actioned(store, dests) for _ in range(4)]
        assert tallies(path) == recount(path) != []
        # A task already written is refused, and its jobs with it.
        assert store.write_actioned([(tasks[0], jobs_for(tasks[0], dests, T0))]) == {
            tasks[0].task_id
        }
        # A task's next version with the jobs it has: the jobs are ignored, counted once.
        stored = store.get(tasks[0].task_id)
        assert stored is not None
        next_version = [(as_successor(stored, stored), jobs_for(tasks[0], dests, T0))]
        assert store.write_actioned(next_version) == frozenset()
        assert tallies(path) == recount(path)
        claimed = store.claim_jobs("crm", "w", T0, T0 + MINUTE, 3)
        assert tallies(path) == recount(path)
        store.mark_delivered(claimed[0].job_id, "w")
        store.mark_attempt_failed(claimed[1].job_id, "w", "HTTP 503", T0 + MINUTE)
        assert tallies(path) == recount(path)
        store.change_job(claimed[0].job_id, retried)  # delivered, then owed again
        assert tallies(path) == recount(path)
        # A lapsed claim taken again: claimed to claimed, no change in the counts.
        again = store.claim_jobs("crm", "v", T0 + MINUTE, T0 + 2 * MINUTE, 4)
        assert claimed[2].job_id in {job.job_id for job in again}
        assert tallies(path) == recount(path)
        for job in store.task_jobs(tasks[1].task_id):
            store.record_outcome(job.job_id, Outcome(OutcomeKind.NOT_FOUND), T0, complete)
        gone = store.task_jobs(tasks[2].task_id)[0]
        store.record_outcome(gone.job_id, Outcome(OutcomeKind.FAILED, "gone"), T0, complete)
        assert tallies(path) == recount(path)
        every_job = [job for task in tasks for job in store.task_jobs(task.task_id)]
        assert store.job_counts() == count_jobs(every_job)
        for job in every_job:
            if job.destination == "warehouse" and job.outcome is None:
                store.record_outcome(job.job_id, Outcome(OutcomeKind.DELETED), T0, complete)
        assert store.remove_destination("warehouse")
        assert "warehouse" not in store.job_counts()
        assert tallies(path) == recount(path)
        store.add_destination(pull("warehouse"))
        assert "warehouse" not in store.job_counts()


def _plan(store: SqliteStore, call: object) -> str:
    """The query plan of the statement *call* runs that finds a job by its id."""
    conn = store._connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert callable(call)
    call()
    conn.set_trace_callback(None)
    (lookup,) = [s for s in statements if "substr(job_id" in s]
    return " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {lookup}"))


def test_a_job_is_found_by_its_id_through_the_short_key(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "tasks.db") as store:
        store.add_destination(pull("crm"))
        task = actioned(store, [pull("crm")])
        (job,) = store.task_jobs(task.task_id)
        assert "USING INDEX jobs_by_id" in _plan(store, lambda: store.get_job(job.job_id))
        assert "USING INDEX jobs_by_id" in _plan(
            store, lambda: store.change_job(job.job_id, lambda j: j)
        )
        assert store.get_job(job.job_id) == job
        # The same first 8 characters, another id: not the job.
        other = job.job_id[:8] + str(uuid.uuid4())[8:]
        assert store.get_job(other) is None


def _schema_8_file(path: Path, jobs: list[Job]) -> None:
    """A file as schema 8 left it, holding *jobs*."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, migration in enumerate(MIGRATIONS[:8], start=1):
        migration(Database(conn))
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    marks = ", ".join("?" * len(JOB_COLUMNS.split(",")))
    conn.executemany(
        f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({marks})",  # noqa: S608 (constants)
        [job_row(job) for job in jobs],
    )
    conn.close()


def test_a_version_8_file_keeps_every_job_and_its_state_in_creation_order(
    tmp_path: Path,
) -> None:
    dests = [pull("crm"), pull("erp"), attrs.evolve(pull("backups"), waits_for={"crm"})]
    jobs = []
    for n in range(6):
        task = DeletionTask(
            str(uuid.uuid4()), "a", Status.ACTIONED, T0, frozenset({HASH}), created_by="app"
        )
        jobs += jobs_for(task, dests, T0 + n * MINUTE)
    lease = T0 + 9 * MINUTE
    jobs[0] = attrs.evolve(jobs[0], state=JobState.CLAIMED, holder="w", lease_until=lease)
    jobs[1] = attrs.evolve(jobs[1], state=JobState.DELIVERED, attempts=2, last_error="HTTP 503")
    jobs[3] = attrs.evolve(
        jobs[3],
        state=JobState.FINAL,
        outcome=Outcome(OutcomeKind.EXEMPT, "a legal retention"),
        outcome_time=lease,
    )
    shuffled = random.Random(7).sample(jobs, len(jobs))  # stored out of creation order
    path = tmp_path / "tasks.db"
    _schema_8_file(path, shuffled)
    with SqliteStore(path) as store:
        for job in jobs:
            assert store.get_job(job.job_id) == job
        assert store.task_jobs(jobs[0].task_id) == sorted(jobs[:3], key=lambda j: j.destination)
        assert store.job_counts() == count_jobs(jobs)
        store.add_destination(pull("erp"))
        assert [j.job_id for j in store.claim_jobs("erp", "v", T0, lease, 10)] == [
            j.job_id for j in jobs if j.destination == "erp" and j.state is JobState.OWED
        ]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    stored = conn.execute("SELECT created_us FROM jobs ORDER BY id").fetchall()
    assert stored == sorted(stored)
    conn.close()
    assert tallies(path) == recount(path)
