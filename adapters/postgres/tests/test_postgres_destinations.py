from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import psycopg
from deletion_requests_postgres import PostgresStore
from psycopg import sql

from deletion_requests import Destination, JobState, Mode, OutcomeKind, Policy, Store, open_store
from deletion_requests import _handoff as handoff
from deletion_requests._access import digest_secret
from deletion_requests._lifecycle import catch_up
from deletion_requests._task import as_successor
from deletion_requests.stores import DEFAULT_DESTINATION, job_id_for, jobs_for
from deletion_requests.testing import DestinationsContract, make_task

from .conftest import SERVER, schema_for, store_url

POLICY = Policy()


class TestPostgresDestinations(DestinationsContract):
    def create_store(self, directory: Path) -> Store:
        return open_store(store_url(str(directory)))


def test_workers_claiming_at_once_never_share_a_job(tmp_path: Path) -> None:
    store = open_store(store_url(str(tmp_path)))
    assert isinstance(store, PostgresStore)
    later = make_task().creation_time + POLICY.cancel_period
    warehouse = Destination("warehouse", Mode.PULL, later, credential_digest=digest_secret("c"))
    try:
        store.add_destination(warehouse)
        for _ in range(60):
            task = make_task()
            store.add(task)
            actioned = as_successor(task, catch_up(task, later, POLICY))
            assert store.write_actioned([(actioned, jobs_for(actioned, [warehouse], later))]) == (
                frozenset()
            )
        claimed: list[list[str]] = [[] for _ in range(3)]
        barrier = threading.Barrier(3)

        def work(index: int) -> None:
            barrier.wait()
            while jobs := store.claim_jobs(
                "warehouse", f"w{index}", later, later + POLICY.retention, 7
            ):
                claimed[index] += [j.job_id for j in jobs]

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = [job_id for ids in claimed for job_id in ids]
        assert len(every) == 60
        assert len(set(every)) == 60
    finally:
        store.close()


def test_tasks_handed_off_before_destinations_keep_their_state(tmp_path: Path) -> None:
    url = store_url(str(tmp_path))
    tasks = [make_task() for _ in range(3)]
    later = tasks[0].creation_time + POLICY.cancel_period
    with open_store(url) as store:
        for task in tasks:
            store.add(task)
        owing, sent, done = (catch_up(t, later, POLICY) for t in tasks)
        sent = handoff.delivered(sent, "handoff", later, "w", False)
        done = handoff.complete(done, later + dt.timedelta(hours=1), "deleter")
        changed = [as_successor(o, n) for o, n in zip(tasks, (owing, sent, done), strict=True)]
        assert store.update(changed) == frozenset()
    schema = schema_for(str(tmp_path))
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("DROP TABLE jobs")
        conn.execute("DROP TABLE destinations")
        conn.execute("ALTER TABLE tasks DROP COLUMN due_time")
        conn.execute("DELETE FROM schema_version WHERE version >= 5")
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        states = (JobState.OWED, JobState.DELIVERED, JobState.FINAL)
        for task, state in zip(tasks, states, strict=True):
            (job,) = store.task_jobs(task.task_id)
            assert job.job_id == job_id_for(task.task_id, DEFAULT_DESTINATION)
            assert job.state is state
        (final,) = store.task_jobs(tasks[2].task_id)
        assert final.outcome is not None
        assert final.outcome.kind is OutcomeKind.DELETED


def test_destinations_paused_before_the_breaker_read_as_paused_by_an_operator(
    tmp_path: Path,
) -> None:
    url = store_url(str(tmp_path))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        store.add_destination(
            Destination("crm", Mode.PUSH, now, "https://crm.example/", "whsec_x", paused=True)
        )
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_for(str(tmp_path))))
        )
        conn.execute(
            "ALTER TABLE destinations DROP COLUMN changed_by, DROP COLUMN changed_time, "
            "DROP COLUMN failures, DROP COLUMN failing_since, DROP COLUMN last_error"
        )
        conn.execute("ALTER TABLE tasks DROP COLUMN due_time")  # the due dates came after
        conn.execute("DELETE FROM schema_version WHERE version >= 6")
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        crm = store.get_destination("crm")
    assert crm is not None
    assert crm.paused
    assert not crm.paused_by_breaker
    assert (crm.changed_by, crm.failures, crm.failing_since, crm.last_error) == (None, 0, None, "")


def test_tasks_stored_before_due_dates_are_due_30_days_after_creation(tmp_path: Path) -> None:
    url = store_url(str(tmp_path))
    tasks = [make_task(), make_task()]
    with open_store(url) as store:
        for task in tasks:
            store.add(task)
    schema = schema_for(str(tmp_path))
    with psycopg.connect(SERVER, autocommit=True) as conn:  # as schema 6 left the tasks
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("ALTER TABLE tasks DROP COLUMN due_time")
        conn.execute("DELETE FROM schema_version WHERE version = 7")
    with open_store(url) as store:
        for task in tasks:
            stored = store.get(task.task_id)
            assert stored is not None
            assert stored.due_time == task.creation_time + dt.timedelta(days=30)
