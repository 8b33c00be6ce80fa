"""Opening a SQLite store and reading its file: URLs and their errors, the versioned schema
and its migrations, durability settings, queries on their indexes, and corrupted,
foreign, closed or deleted files reported as StoreError."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from deletion_requests_sqlite import SCHEMA_VERSION, SqliteStore
from deletion_requests_sqlite._schema import MIGRATIONS
from sqlite_utils import Database

from deletion_requests import (
    AccessAdmin,
    StoreError,
    open_store,
)
from deletion_requests.testing import (
    make_task,
    open_together,
)

TASK_ID = "3bc2e8b0-88ee-400c-8696-44897bc95cd3"


def test_url_opens_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///relative.db") as store:
        assert isinstance(store, SqliteStore)
        assert store.synchronous == "FULL"
    assert (tmp_path / "relative.db").exists()
    with open_store(f"sqlite:///{tmp_path}/absolute.db?synchronous=normal") as store:
        assert isinstance(store, SqliteStore)
        assert store.synchronous == "NORMAL"
    assert (tmp_path / "absolute.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/x.db", "not a sqlite URL"),
        ("sqlite:///x.db?synchronous=off", "synchronous must be full or normal"),
        ("sqlite:///x.db?fast=1", "unknown sqlite URL option"),
        ("sqlite:///no/such/dir/x.db", "does not exist"),
        ("sqlite:///:memory:", "use memory://"),
    ],
)
def test_bad_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_store(url)


def test_schema_is_versioned_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    with conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match="newer deletion-requests-sqlite"):
        SqliteStore(path)


def test_stores_opened_together_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    open_together(f"sqlite:///{path}", 8)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_a_version_1_file_is_migrated_and_keeps_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    MIGRATIONS[0](Database(conn))
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute(
        "INSERT INTO tasks (id, task_id, account_id, status, creation_us, ready_us, actioned_us, "
        "cancelled_us, created_by, version) VALUES (1, ?, 'acct-1', 'ready', 1, 2, NULL, NULL, "
        "'app_a', 2)",
        (TASK_ID,),
    )
    conn.execute("INSERT INTO task_identifiers (task, hash) VALUES (1, 'h')")
    conn.execute(
        "INSERT INTO task_history (task, seq, source, dest, at_us, by) "
        "VALUES (1, 0, 'pending', 'ready', 2, 'system')"
    )
    conn.close()
    with SqliteStore(path) as store:
        task = store.get(TASK_ID)
    assert task is not None
    assert (task.status, task.identifiers, task.outbox, task.completed_time) == (
        "ready",
        frozenset({"h"}),
        frozenset(),
        None,
    )
    assert [(h.event, h.detail) for h in task.history] == [("transition", "")]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_durability_settings_are_applied(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "tasks.db")
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (30000,)
    assert conn.execute("PRAGMA temp_store").fetchone() == (2,)  # MEMORY: no pages in /var/tmp


def test_queries_use_their_indexes(tmp_path: Path) -> None:
    """No OFFSET, no full scans: list and due read one index range."""
    store = SqliteStore(tmp_path / "tasks.db")
    conn = store._connection()
    plans = {
        "list": conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id FROM tasks INDEXED BY tasks_by_account_newest "
            "WHERE account_id = ? AND cancelled_us IS NULL AND (creation_us, task_id) < (?, ?) "
            "ORDER BY creation_us DESC, task_id DESC LIMIT 10",
            ("a", 1, "x"),
        ).fetchall(),
        "due": conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id FROM tasks INDEXED BY tasks_due "
            "WHERE status = ? AND creation_us <= ? ORDER BY creation_us LIMIT 10",
            ("pending", 1),
        ).fetchall(),
    }
    for name, plan in plans.items():
        text = " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX" in text or "USING COVERING INDEX" in text, (name, text)
        assert "TEMP B-TREE" not in text, (name, text)


def test_a_corrupted_row_is_reported_by_table_and_key(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "tasks.db")
    task = make_task()
    store.add(task)
    conn = sqlite3.connect(tmp_path / "tasks.db")
    with conn:
        conn.execute("UPDATE tasks SET status = 'exploded' WHERE task_id = ?", (task.task_id,))
    with pytest.raises(StoreError, match=f"tasks row '{task.task_id}' cannot be read"):
        store.get(task.task_id)
    with conn:
        conn.execute(
            "UPDATE tasks SET status = 'pending', creation_us = 'yesterday' WHERE task_id = ?",
            (task.task_id,),
        )
    with pytest.raises(StoreError, match=task.task_id):
        store.get(task.task_id)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"tasks\.db"):
        SqliteStore(path)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "tasks.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("x")


def test_a_database_deleted_under_the_store_is_an_error_not_a_new_empty_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.db"
    with SqliteStore(path) as store:
        AccessAdmin(store).allow_account("acct-1")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink()
        # a new thread opens a connection of its own
        with ThreadPoolExecutor(1) as thread, pytest.raises(StoreError):
            thread.submit(store.list_accounts).result()
    assert not path.exists()
