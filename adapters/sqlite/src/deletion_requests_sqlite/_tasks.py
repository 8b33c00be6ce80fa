"""Task records: the `tasks` table with its identifiers, history and idempotency keys."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

from deletion_requests import DeletionTask, StoreError, TaskSummary
from deletion_requests.stores import (
    DuplicateTask,
    IdempotencyKeyConflict,
    TaskQuery,
    TaskRecords,
)

from ._db import SqliteDatabase
from ._rows import (
    HISTORY_COLUMNS,
    READ_COLUMNS,
    SUMMARY_COLUMNS,
    PendingAdd,
    history_rows,
    opt_us,
    outbox_column,
    summaries_from_rows,
    to_us,
    write_new,
)
from ._schema import HASH_KEY
from ._task_rows import tasks_from_rows


class _Refused(Exception):
    """A batch hit a taken task id or idempotency key: roll it back and add one by one."""


class SqliteTasks(SqliteDatabase, TaskRecords):
    """`TaskRecords` over the shared layer: each read is one read transaction, each write one
    `BEGIN IMMEDIATE` transaction."""

    # -- rows <-> tasks ------------------------------------------------------------------------

    def _tasks_from_rows(
        self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]
    ) -> list[DeletionTask]:
        """Tasks from `READ_COLUMNS` rows, with their identifiers and history."""
        return tasks_from_rows(conn, rows, self.path)

    # -- tasks ---------------------------------------------------------------------------------

    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        refused = self.add_batch([(task, idempotency_key)])[0]
        if refused is not None:
            raise refused

    def add_batch(
        self, items: Sequence[tuple[DeletionTask, tuple[str, str] | None]]
    ) -> list[DuplicateTask | IdempotencyKeyConflict | None]:
        """`add` each (task, idempotency key), all in one transaction and one commit; per
        item, None when it was added, or the `DuplicateTask` / `IdempotencyKeyConflict` that
        refused it (which wrote nothing of it, and nothing else of the batch). Any other
        failure raises `StoreError`, and none of them is stored."""
        adds = [PendingAdd(task, key) for task, key in items]
        if not adds:
            return []
        try:
            with self._write("add") as conn:
                try:
                    write_new(conn, adds)
                except sqlite3.IntegrityError:
                    raise _Refused from None  # `_write` rolls the whole batch back
        except _Refused:
            # Some add is refused (a task id or idempotency key already taken): again, in a
            # new transaction, one savepoint each, to find which and keep the others.
            with self._write("add") as conn:
                for item in adds:
                    conn.execute("SAVEPOINT one_add")
                    try:
                        self._insert(conn, item)
                    except (DuplicateTask, IdempotencyKeyConflict) as exc:
                        conn.execute("ROLLBACK TO one_add")
                        item.error = exc
                    conn.execute("RELEASE one_add")
        return [item.error for item in adds]

    @staticmethod
    def _insert(conn: sqlite3.Connection, item: PendingAdd) -> None:
        """Insert one task, or raise what refuses it."""
        task = item.task
        if conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task.task_id,)).fetchone():
            raise DuplicateTask(f"task {task.task_id} already exists")
        if item.key is not None:
            bound = conn.execute(
                "SELECT task_id FROM idempotency_keys WHERE scope = ? AND key = ?", item.key
            ).fetchone()
            if bound is not None:
                raise IdempotencyKeyConflict(bound[0])
        write_new(conn, [item])

    def get(self, task_id: str) -> DeletionTask | None:
        with self._read("get") as conn:
            return self._task_in(conn, task_id)

    def _task_in(self, conn: sqlite3.Connection, task_id: str) -> DeletionTask | None:
        rows = conn.execute(
            f"SELECT {READ_COLUMNS} FROM tasks WHERE task_id = ?",  # noqa: S608
            (task_id,),
        ).fetchall()
        found = self._tasks_from_rows(conn, rows)
        return found[0] if found else None

    def get_many(self, task_ids: Collection[str]) -> dict[str, DeletionTask]:
        """The stored tasks of *task_ids* in one read transaction, 500 ids a statement."""
        ids = list(task_ids)
        found: dict[str, DeletionTask] = {}
        with self._read("get") as conn:
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT {READ_COLUMNS} FROM tasks WHERE task_id IN ({marks})",  # noqa: S608 (only placeholders are interpolated)
                    chunk,
                ).fetchall()
                found.update((task.task_id, task) for task in self._tasks_from_rows(conn, rows))
        return found

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        with self._read("find_by_idempotency_key") as conn:
            rows = conn.execute(
                f"SELECT {', '.join('t.' + c for c in READ_COLUMNS.split(', '))} "  # noqa: S608
                "FROM idempotency_keys k JOIN tasks t ON t.task_id = k.task_id "
                "WHERE k.scope = ? AND k.key = ?",
                (scope, key),
            ).fetchall()
            found = self._tasks_from_rows(conn, rows)
        return found[0] if found else None

    def find_by_identifier(self, identifier: str, limit: int) -> list[DeletionTask]:
        with self._read("find_by_identifier") as conn:
            # `+hash`: an equality on the bare column would have SQLite put the value into
            # the key's expression, which then no longer matches the index.
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM tasks WHERE id IN "  # noqa: S608 (fixed text only)
                f"(SELECT task FROM task_identifiers WHERE {HASH_KEY} = substr(?, 1, 8) "
                "AND +hash = ?) ORDER BY creation_us, task_id LIMIT ?",
                (identifier, identifier, limit),
            ).fetchall()
            return self._tasks_from_rows(conn, rows)

    def list_tasks(self, query: TaskQuery) -> list[DeletionTask]:
        with self._read("list") as conn:
            return self._tasks_from_rows(conn, self._list(conn, query, READ_COLUMNS, 1))

    def list_summaries(self, query: TaskQuery) -> list[TaskSummary]:
        with self._read("list") as conn:
            rows = self._list(conn, query, SUMMARY_COLUMNS, 0)
        try:
            return summaries_from_rows(rows)
        except (KeyError, TypeError, OverflowError):
            for row in rows:  # which row: the message names it
                try:
                    summaries_from_rows([row])
                except (KeyError, TypeError, OverflowError) as exc:
                    raise StoreError(
                        f"sqlite store {self.path}: tasks row {row[0]!r} cannot be read: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            raise

    @staticmethod
    def _list(
        conn: sqlite3.Connection, query: TaskQuery, columns: str, task_id_at: int
    ) -> list[tuple[Any, ...]]:
        """The rows of *columns* of the tasks *query* lists, in its order; *task_id_at* is
        the position of `task_id` among the columns, `creation_us` the third after it."""
        conditions: list[str] = ["account_id = ?"]
        base_args: list[object] = []
        if query.cancelled is True:
            conditions.append("cancelled_us IS NOT NULL")
        elif query.cancelled is False:
            conditions.append("cancelled_us IS NULL")
        if query.held is True:
            conditions.append("held_us IS NOT NULL")
        elif query.held is False:
            conditions.append("held_us IS NULL")
        if query.completed is True:
            conditions.append("completed_us IS NOT NULL")
        elif query.completed is False:
            conditions.append("completed_us IS NULL")
        if query.created_after is not None:
            conditions.append("creation_us > ?")
            base_args.append(to_us(query.created_after))
        if query.created_at_or_before is not None:
            conditions.append("creation_us <= ?")
            base_args.append(to_us(query.created_at_or_before))
        if query.before is not None:
            conditions.append("(creation_us, task_id) < (?, ?)")
            base_args.extend([to_us(query.before[0]), query.before[1]])
        if query.after is not None:
            conditions.append("(creation_us, task_id) > (?, ?)")
            base_args.extend([to_us(query.after[0]), query.after[1]])
        order = "ASC" if query.oldest_first else "DESC"
        sql = (
            f"SELECT {columns} FROM tasks INDEXED BY tasks_by_account_newest "  # noqa: S608
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY creation_us {order}, task_id {order} LIMIT ?"
        )
        # One index range scan per account, merged: O(accounts x limit), never O(store).
        per_account = [
            conn.execute(sql, (account, *base_args, query.limit)).fetchall()
            for account in sorted(query.accounts)
        ]
        if len(per_account) == 1:
            return per_account[0]
        creation_at = task_id_at + 3
        merged = heapq.merge(
            *per_account,
            key=lambda row: (row[creation_at], row[task_id_at]),
            reverse=not query.oldest_first,
        )
        return list(itertools.islice(merged, query.limit))

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        if not tasks:
            return frozenset()
        with self._write("update") as conn:
            written, purged = self._update_in(conn, tasks)
        if purged:
            self._forget_purged()
        return frozenset(task.task_id for task in tasks if task.task_id not in written)

    def _update_in(
        self, conn: sqlite3.Connection, tasks: Sequence[DeletionTask]
    ) -> tuple[dict[str, int], bool]:
        """`update` in the write transaction on *conn*: the row ids written, by task id, and
        whether a purge deleted identifiers (`_forget_purged` is then owed after the commit)."""
        ids = [task.task_id for task in tasks]
        if len(set(ids)) == len(ids):
            written = self._update_set(conn, tasks)
        else:  # the same task twice: apply in order, as one writer after another would
            written = {}
            for task in tasks:
                written.update(self._update_set(conn, [task]))
        conn.executemany(
            f"INSERT OR IGNORE INTO task_history ({HISTORY_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row
                for task in tasks
                if task.task_id in written
                for row in history_rows(written[task.task_id], task)
            ],
        )
        # A purge is the one change that deletes identifiers.
        purged = conn.executemany(
            "DELETE FROM task_identifiers WHERE task = ?",
            [(written[t.task_id],) for t in tasks if t.purged_time and t.task_id in written],
        ).rowcount
        return written, purged > 0

    def _forget_purged(self) -> None:
        """Copy the WAL into the database and empty it, so that the page images that still
        held purged hashes leave the WAL too (`secure_delete` has already overwritten them in
        the database). A reader in another process can hold the copy back; the next purge
        tries again."""
        with self._exclusive(), self._translated("checkpoint"):
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _update_set(conn: sqlite3.Connection, tasks: Sequence[DeletionTask]) -> dict[str, int]:
        """Compare-and-set *tasks* (distinct ids) in one statement per chunk; returns the row
        ids of those written, by task id. Earlier steps of the history stay as stored."""
        written: dict[str, int] = {}
        for start in range(0, len(tasks), 2000):
            chunk = tasks[start : start + 2000]
            values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            args: list[object] = []
            for task in chunk:
                args += (
                    task.task_id,
                    task.status.value,
                    opt_us(task.ready_time),
                    opt_us(task.actioned_time),
                    opt_us(task.cancelled_time),
                    task.version,
                    task.account_id,
                    to_us(task.creation_time),
                    outbox_column(task),
                    opt_us(task.completed_time),
                    opt_us(task.overdue_time),
                    opt_us(task.purged_time),
                    opt_us(task.held_time),
                    to_us(task.due_time),
                )
            rows = conn.execute(
                "WITH new (task_id, status, ready_us, actioned_us, cancelled_us, version, "  # noqa: S608 (only placeholders are interpolated)
                "account_id, creation_us, outbox, completed_us, overdue_us, purged_us, held_us, "
                f"due_us) AS (VALUES {values}) "
                "UPDATE tasks SET status = new.status, ready_us = new.ready_us, "
                "actioned_us = new.actioned_us, cancelled_us = new.cancelled_us, "
                "version = new.version, outbox = new.outbox, completed_us = new.completed_us, "
                "overdue_us = new.overdue_us, purged_us = new.purged_us, held_us = new.held_us, "
                "due_us = new.due_us FROM new "
                "WHERE tasks.task_id = new.task_id AND tasks.version = new.version - 1 "
                "AND tasks.account_id = new.account_id AND tasks.creation_us = new.creation_us "
                "RETURNING tasks.task_id, tasks.id",
                args,
            ).fetchall()
            written.update(rows)
        return written

    def due(
        self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime, limit: int
    ) -> list[DeletionTask]:
        sql = (
            f"SELECT {READ_COLUMNS} FROM tasks INDEXED BY tasks_due "  # noqa: S608
            "WHERE status = ? AND creation_us <= ? AND (status = 'pending' OR held_us IS NULL) "
            "ORDER BY creation_us LIMIT ?"
        )
        with self._read("due") as conn:
            rows = conn.execute(sql, ("pending", to_us(pending_cutoff), limit)).fetchall()
            if len(rows) < limit:
                rows += conn.execute(
                    sql, ("ready", to_us(ready_cutoff), limit - len(rows))
                ).fetchall()
            return self._tasks_from_rows(conn, rows)
