from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from deletion_requests_postgres import SCHEMA_VERSION, PostgresStore
from psycopg import sql

from deletion_requests import Store, StoreError, TaskSummary, open_store
from deletion_requests.stores import TaskQuery
from deletion_requests.testing import (
    AccessRecordsContract,
    BackgroundLeaseContract,
    LoopReadsContract,
    OperatorRecordsContract,
    OutboxContract,
    ReportsContract,
    ServerSettingsContract,
    StoreComparison,
    StoreContract,
    TaskRecordsContract,
    crash_drill,
    make_task,
    open_together,
    race_drill,
)

from .conftest import SERVER, schema_for, store_url


class PostgresStores:
    """The factory every contract case below runs on: a new, empty store."""

    persistent = True

    def create_store(self, directory: Path) -> Store:
        return open_store(store_url(str(directory)))


class TestPostgresTaskRecords(PostgresStores, TaskRecordsContract):
    pass


class TestPostgresOutbox(PostgresStores, OutboxContract):
    pass


class TestPostgresReports(PostgresStores, ReportsContract):
    pass


class TestPostgresAccessRecords(PostgresStores, AccessRecordsContract):
    pass


class TestPostgresOperatorRecords(PostgresStores, OperatorRecordsContract):
    pass


class TestPostgresServerSettings(PostgresStores, ServerSettingsContract):
    pass


class TestPostgresBackgroundLease(PostgresStores, BackgroundLeaseContract):
    pass


class TestPostgresStore(PostgresStores, StoreContract):
    pass


class PostgresComparison(StoreComparison):
    def create_store(self, directory: Path) -> Store:
        return open_store(store_url(str(directory)))


TestPostgresAgreesWithMemory = PostgresComparison.TestCase


def test_url_options_pick_schema_and_pool(tmp_path: Path) -> None:
    with open_store(store_url(str(tmp_path)) + "&pool_size=3") as store:
        assert isinstance(store, PostgresStore)
        assert store.schema == schema_for(str(tmp_path))
        assert store._pool.max_size == 3


def test_password_is_not_in_errors() -> None:
    with pytest.raises(StoreError) as raised:
        open_store("postgresql://someone:hunter2@127.0.0.1:1/nowhere?connect_timeout=1")
    assert "hunter2" not in str(raised.value)


def test_replicas_opening_together_migrate_once(tmp_path: Path) -> None:
    open_together(store_url(str(tmp_path)), 6)
    with psycopg.connect(SERVER) as conn:
        count = conn.execute(
            f"SELECT count(*) FROM {schema_for(str(tmp_path))}.schema_version"  # noqa: S608
        ).fetchone()
    assert count == (SCHEMA_VERSION,)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = store_url(str(tmp_path))
    open_store(url).close()
    with psycopg.connect(SERVER) as conn:
        conn.execute(
            f"INSERT INTO {schema_for(str(tmp_path))}.schema_version VALUES (%s)",  # noqa: S608
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(StoreError, match="newer deletion-requests-postgres"):
        open_store(url)


def test_a_corrupted_row_is_reported(tmp_path: Path) -> None:
    url = store_url(str(tmp_path))
    with open_store(url) as store:
        task = make_task()
        store.add(task)
        with psycopg.connect(SERVER) as conn:
            conn.execute(
                f"UPDATE {schema_for(str(tmp_path))}.tasks SET status = 'exploded' "  # noqa: S608
                "WHERE task_id = %s",
                (task.task_id,),
            )
        with pytest.raises(StoreError, match=task.task_id):
            store.get(task.task_id)


def test_survives_sigkill_of_a_writer(tmp_path: Path) -> None:
    assert crash_drill(store_url(str(tmp_path)), rounds=8, seed=3) > 8


def test_cancel_and_advance_race_across_processes(tmp_path: Path) -> None:
    race_drill(store_url(str(tmp_path)), tasks=200, cancellers=2, advancers=3)


def test_the_store_recovers_when_the_server_drops_its_connections(tmp_path: Path) -> None:
    """Connections killed by the server (a restart, a failover) are replaced: the next reads and
    writes succeed, and nothing acknowledged before is lost."""
    name = f"dr-recover-{schema_for(str(tmp_path))}"
    with open_store(f"{store_url(str(tmp_path))}&application_name={name}") as store:
        before = make_task()
        store.add(before)
        with psycopg.connect(SERVER, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (name,),
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        assert store.get(before.task_id) == before
        after = make_task()
        store.add(after)
        assert store.get(after.task_id) == after


def test_a_write_whose_connection_dies_is_reported_not_acknowledged(tmp_path: Path) -> None:
    """The server kills the connection in the middle of an add (here: while it waits for its
    idempotency key, which another session is inserting and has not committed). The add
    raises a `StoreError` that says the write may or may not have committed (the HTTP adapter
    answers 503), never success; the store then works again, and a retry with the same key is
    safe."""
    name = f"dr-midwrite-{schema_for(str(tmp_path))}"
    url = f"{store_url(str(tmp_path))}&application_name={name}&pool_size=1"
    with open_store(url) as store, psycopg.connect(SERVER, autocommit=True) as admin:
        task = make_task()
        holder = psycopg.connect(SERVER)
        holder.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_for(str(tmp_path))))
        )
        other = make_task()
        holder.execute(
            "INSERT INTO tasks (task_id, account_id, status, creation_time, created_by, version, "
            "due_time) VALUES (%s, %s, 'pending', now(), 'app_a', 1, now() + interval '30 days')",
            (other.task_id, other.account_id),
        )
        holder.execute(
            "INSERT INTO idempotency_keys (scope, key, task_id) VALUES (%s, %s, %s)",
            ("app_a", "key-1", other.task_id),
        )
        outcome: list[BaseException | None] = []

        def add() -> None:
            try:
                store.add(task, ("app_a", "key-1"))
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 (reported below)
                outcome.append(exc)

        writer = threading.Thread(target=add)
        writer.start()
        waiting = None
        for _ in range(100):  # until the add is blocked on the lock
            waiting = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'",
                (name,),
            ).fetchone()
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting is not None, "the add never waited for the key's lock"
        admin.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        writer.join(30)
        holder.close()
        assert len(outcome) == 1
        error = outcome[0]
        assert isinstance(error, StoreError)
        assert "may or may not have committed" in str(error)
        assert store.get(task.task_id) is None  # here it had not: the retry adds it
        store.add(task, ("app_a", "key-1"))
        assert store.find_by_idempotency_key("app_a", "key-1") == task


def test_summaries_are_the_summaries_of_the_listed_tasks(tmp_path: Path) -> None:
    with open_store(store_url(str(tmp_path))) as store:
        tasks = [make_task() for _ in range(3)]
        assert isinstance(store, PostgresStore)
        assert store.add_batch([(task, None) for task in tasks]) == [None] * 3
        query = TaskQuery(accounts=frozenset({"acct-1"}), limit=2)
        whole = store.list_tasks(query)
        assert all(task.identifiers for task in whole)
        assert store.list_summaries(query) == [TaskSummary.of(task) for task in whole]


class TestPostgresLoopReads(PostgresStores, LoopReadsContract):
    pass
