"""Stores the benchmarks fill: tasks made as the service makes them, and a SQLite store bulk
loaded with pending tasks."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from deletion_requests_sqlite import SqliteStore

from deletion_requests import DeletionTask, Status
from deletion_requests.wire import hash_email, new_task_uuid

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_us(moment: dt.datetime) -> int:
    """Microseconds since the epoch: how the SQLite store keeps times."""
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ACCOUNT = "acct-1"


def make_task(index: int, account: str = ACCOUNT) -> DeletionTask:
    created = T0 + dt.timedelta(seconds=index)
    return DeletionTask(
        task_id=str(new_task_uuid(created)),  # as the service makes them
        account_id=account,
        status=Status.PENDING,
        creation_time=created,
        identifiers=frozenset({hash_email(f"user{index}@example.com")}),
        created_by="app_bench",
    )


def populate(path: Path, count: int, accounts: int = 10, start: dt.datetime = T0) -> None:
    """Bulk-load *count* pending tasks, one a second from *start*, over *accounts* accounts."""
    SqliteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    batch_tasks: list[tuple[object, ...]] = []
    batch_ids: list[tuple[int, str]] = []
    for index in range(count):
        task_id = str(new_task_uuid(start + dt.timedelta(seconds=index)))
        account = f"acct-{index % accounts}"
        batch_tasks.append(
            (
                index + 1,
                task_id,
                account,
                "pending",
                to_us(start) + index * 1_000_000,
                "app_bench",
                1,
            )
        )
        batch_ids.append((index + 1, f"{index:043d}="))
        if len(batch_tasks) == 50_000:
            _flush(conn, batch_tasks, batch_ids)
    _flush(conn, batch_tasks, batch_ids)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _flush(
    conn: sqlite3.Connection, tasks: list[tuple[object, ...]], ids: list[tuple[int, str]]
) -> None:
    conn.executemany(
        "INSERT INTO tasks (id, task_id, account_id, status, creation_us, created_by, version, "
        # due 30 days (in microseconds) after creation, as the store's migration sets it
        "due_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5 + 2592000000000)",
        tasks,
    )
    conn.executemany("INSERT INTO task_identifiers (task, hash) VALUES (?, ?)", ids)
    tasks.clear()
    ids.clear()
