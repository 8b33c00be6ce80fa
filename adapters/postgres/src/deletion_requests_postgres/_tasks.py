"""Task records: the `tasks` table with `task_identifiers`, `task_history` and
`idempotency_keys`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import PoolTimeout

from deletion_requests import DeletionTask, StoreError, TaskSummary
from deletion_requests.stores import (
    DuplicateTask,
    IdempotencyKeyConflict,
    TaskQuery,
    TaskRecords,
)

from ._connection import Conn, PostgresConnection
from ._reads import (
    HISTORY_OF,
    IDENTIFIERS_OF,
    LOCK_TASKS,
    TASK_BY_ID,
    TASK_BY_KEY,
    TASKS_BY_IDS,
    TASKS_BY_IDS_LOCKED,
    list_statement,
    summaries_from,
    tasks_from,
)
from ._rows import INSERT_BATCH, SUMMARY_COLUMNS, TASK_COLUMNS, Add, batch_arguments


class TaskTables(PostgresConnection, TaskRecords):
    """`TaskRecords` over the connection layer.

    - `add_batch` writes many new tasks with one statement and one commit.
    - Compare-and-set on the task's version; `transition_due` claims due rows with
      `FOR UPDATE SKIP LOCKED`, so concurrent advancers take different tasks.
    - Listing is a keyset scan per account (one `LATERAL` query), O(accounts x page).
    """

    def _tasks(self, conn: Conn, rows: list[tuple[Any, ...]]) -> list[DeletionTask]:
        """Tasks from `TASK_COLUMNS` rows, with their identifiers and history."""
        if not rows:
            return []
        ids = [row[0] for row in rows]
        identifiers = conn.execute(IDENTIFIERS_OF, (ids,)).fetchall()
        history = conn.execute(HISTORY_OF, (ids,)).fetchall()
        return tasks_from(rows, identifiers, history, self._where)

    @staticmethod
    def _history_rows(row_id: int, task: DeletionTask) -> list[tuple[Any, ...]]:
        return [
            (
                row_id,
                seq,
                step.source.value,
                step.dest.value,
                step.at,
                step.by,
                step.event,
                step.detail,
            )
            for seq, step in enumerate(task.history)
        ]

    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        refused = self.add_batch([(task, idempotency_key)])[0]
        if refused is not None:
            raise refused

    def add_batch(
        self, items: Sequence[tuple[DeletionTask, tuple[str, str] | None]]
    ) -> list[DuplicateTask | IdempotencyKeyConflict | None]:
        """`add` each (task, idempotency key) with one statement and one commit; per item,
        None when it was added, or the `DuplicateTask` / `IdempotencyKeyConflict` that refused
        it (which wrote nothing of it; the others are then written one savepoint each). Any
        other failure raises `StoreError`, and the caller must not take any of them as
        stored."""
        batch = [Add(task, key) for task, key in items]
        if not batch:
            return []
        try:
            try:
                # One statement in autocommit: one round trip and one commit for the batch.
                with self._connection() as conn:
                    conn.execute(INSERT_BATCH, batch_arguments(batch))
            except errors.UniqueViolation:
                # A task id or idempotency key is taken: nothing was written. Again, one
                # savepoint each, to find which and keep the others.
                with self._write("add") as conn:
                    for item in batch:
                        item.error = self._insert_one(conn, item)
        except PoolTimeout as exc:  # no connection: nothing was sent
            raise StoreError(f"postgres store {self._where}: add failed: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"postgres store {self._where}: add: the connection failed; the write may or "
                f"may not have committed ({exc})"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"postgres store {self._where}: add failed: {exc}") from exc
        return [item.error for item in batch]

    @staticmethod
    def _insert_one(conn: Conn, item: Add) -> DuplicateTask | IdempotencyKeyConflict | None:
        """Insert one task in a savepoint of its own; what refuses it, or None."""
        if conn.execute("SELECT 1 FROM tasks WHERE task_id = %s", (item.task.task_id,)).fetchone():
            return DuplicateTask(f"task {item.task.task_id} already exists")
        try:
            with conn.transaction():
                conn.execute(INSERT_BATCH, batch_arguments([item]))
        except errors.UniqueViolation:
            if item.key is not None:
                bound = conn.execute(
                    "SELECT task_id FROM idempotency_keys WHERE scope = %s AND key = %s",
                    item.key,
                ).fetchone()
                if bound is not None:
                    return IdempotencyKeyConflict(bound[0])
            return DuplicateTask(f"task {item.task.task_id} already exists")
        return None

    def get(self, task_id: str) -> DeletionTask | None:
        found: DeletionTask | None = self._read("get", lambda conn: self._task_in(conn, task_id))
        return found

    def _task_in(self, conn: Conn, task_id: str) -> DeletionTask | None:
        found = self._tasks(conn, conn.execute(TASK_BY_ID, (task_id,)).fetchall())
        return found[0] if found else None

    def _tasks_in(
        self, conn: Conn, task_ids: Collection[str], lock: bool = False
    ) -> dict[str, DeletionTask]:
        """The stored tasks of *task_ids* (three statements however many), by id; with *lock*,
        their rows locked until the transaction ends (taken in id order), so that no other writer
        changes them between this read and this transaction's write."""
        statement = TASKS_BY_IDS_LOCKED if lock else TASKS_BY_IDS
        rows = conn.execute(statement, (list(task_ids),)).fetchall()
        return {task.task_id: task for task in self._tasks(conn, rows)}

    def get_many(self, task_ids: Collection[str]) -> dict[str, DeletionTask]:
        if not task_ids:
            return {}
        found: dict[str, DeletionTask] = self._read(
            "get", lambda conn: self._tasks_in(conn, task_ids)
        )
        return found

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        found: list[DeletionTask] = self._read(
            "find_by_idempotency_key",
            lambda conn: self._tasks(conn, conn.execute(TASK_BY_KEY, (scope, key)).fetchall()),
        )
        return found[0] if found else None

    def find_by_identifier(self, identifier: str, limit: int) -> list[DeletionTask]:
        def work(conn: Conn) -> list[DeletionTask]:
            rows = conn.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id IN "  # noqa: S608 (fixed text)
                "(SELECT task FROM task_identifiers WHERE hash = %s) "
                "ORDER BY t.creation_time, t.task_id LIMIT %s",
                (identifier, limit),
            ).fetchall()
            return self._tasks(conn, rows)

        found: list[DeletionTask] = self._read("find_by_identifier", work)
        return found

    def list_tasks(self, query: TaskQuery) -> list[DeletionTask]:
        if not query.accounts:
            return []
        statement, args = list_statement(query)

        def work(conn: Conn) -> list[DeletionTask]:
            return self._tasks(conn, conn.execute(statement, args).fetchall())

        found: list[DeletionTask] = self._read("list", work)
        return found

    def list_summaries(self, query: TaskQuery) -> list[TaskSummary]:
        if not query.accounts:
            return []
        statement, args = list_statement(query, SUMMARY_COLUMNS)

        def work(conn: Conn) -> list[TaskSummary]:
            return summaries_from(conn.execute(statement, args).fetchall(), self._where)

        found: list[TaskSummary] = self._read("list", work)
        return found

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        if not tasks:
            return frozenset()
        with self._write("update") as conn:
            written = self._update(conn, tasks)
        return frozenset(t.task_id for t in tasks if t.task_id not in written)

    def _update(
        self, conn: Conn, tasks: Sequence[DeletionTask], locked: bool = False
    ) -> dict[str, int]:
        """Compare-and-set *tasks*; the ids of those written, with their row ids. Unless the
        caller holds their rows already (*locked*), two or more are locked first, in id order
        (`LOCK_TASKS`), as a report locks the tasks it writes: an `UPDATE ... FROM unnest`
        locks rows in the order of its plan, and two writers taking two rows in opposite
        orders would deadlock."""
        ids = [task.task_id for task in tasks]
        if len(set(ids)) != len(ids):  # the same task twice: in order, as separate writers
            written: dict[str, int] = {}
            for task in tasks:
                written.update(self._update(conn, [task], locked))
            return written
        if len(ids) > 1 and not locked:
            conn.execute(LOCK_TASKS, (ids,))
        history = [
            (task.task_id, *row[1:]) for task in tasks for row in self._history_rows(0, task)
        ]
        # The compare-and-set and the new history entries in one statement: the entries
        # already stored are kept (ON CONFLICT DO NOTHING), the new ones added.
        rows = conn.execute(
            "WITH u AS (UPDATE tasks AS t SET status = n.status, ready_time = n.ready_time, "
            "actioned_time = n.actioned_time, cancelled_time = n.cancelled_time, "
            "version = n.version, outbox = string_to_array(n.outbox, ','), "
            "completed_time = n.completed_time, overdue_time = n.overdue_time, "
            "purged_time = n.purged_time, held_time = n.held_time, due_time = n.due_time "
            "FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], "
            "%s::timestamptz[], %s::int[], %s::text[], %s::timestamptz[], %s::text[], "
            "%s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], "
            "%s::timestamptz[]) "
            "AS n(task_id, status, ready_time, actioned_time, cancelled_time, version, "
            "account_id, creation_time, outbox, completed_time, overdue_time, purged_time, "
            "held_time, due_time) "
            "WHERE t.task_id = n.task_id AND t.version = n.version - 1 "
            "AND t.account_id = n.account_id AND t.creation_time = n.creation_time "
            "RETURNING t.task_id, t.id), "
            "h AS (INSERT INTO task_history (task, seq, source, dest, at, by, event, detail) "
            "SELECT u.id, x.seq, x.source, x.dest, x.at, x.by, x.event, x.detail "
            "FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[], %s::timestamptz[], "
            "%s::text[], %s::text[], %s::text[]) "
            "AS x(task_id, seq, source, dest, at, by, event, detail) "
            "JOIN u ON u.task_id = x.task_id ON CONFLICT DO NOTHING) "
            "SELECT task_id, id FROM u",
            (
                ids,
                [task.status.value for task in tasks],
                [task.ready_time for task in tasks],
                [task.actioned_time for task in tasks],
                [task.cancelled_time for task in tasks],
                [task.version for task in tasks],
                [task.account_id for task in tasks],
                [task.creation_time for task in tasks],
                [",".join(sorted(task.outbox)) for task in tasks],
                [task.completed_time for task in tasks],
                [task.overdue_time for task in tasks],
                [task.purged_time for task in tasks],
                [task.held_time for task in tasks],
                [task.due_time for task in tasks],
                *([list(column) for column in zip(*history, strict=True)] or [[]] * 8),
            ),
        ).fetchall()
        written = dict(rows)
        purged = [written[t.task_id] for t in tasks if t.purged_time and t.task_id in written]
        if purged:  # a purge is the one change that deletes identifiers
            conn.execute("DELETE FROM task_identifiers WHERE task = ANY(%s)", (purged,))
        return written

    def _due_rows(
        self, conn: Conn, pending: dt.datetime, ready: dt.datetime, limit: int, lock: bool
    ) -> list[tuple[Any, ...]]:
        suffix = " FOR UPDATE SKIP LOCKED" if lock else ""
        statement = (
            f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.status = %s "  # noqa: S608
            "AND t.creation_time <= %s AND (t.status = 'pending' OR t.held_time IS NULL) "
            f"ORDER BY t.creation_time LIMIT %s{suffix}"
        )
        rows = conn.execute(statement, ("pending", pending, limit)).fetchall()
        if len(rows) < limit:
            rows += conn.execute(statement, ("ready", ready, limit - len(rows))).fetchall()
        return rows

    def due(
        self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime, limit: int
    ) -> list[DeletionTask]:
        def work(conn: Conn) -> list[DeletionTask]:
            return self._tasks(
                conn, self._due_rows(conn, pending_cutoff, ready_cutoff, limit, False)
            )

        found: list[DeletionTask] = self._read("due", work)
        return found

    def transition_due(
        self,
        pending_cutoff: dt.datetime,
        ready_cutoff: dt.datetime,
        limit: int,
        step: Callable[[DeletionTask], DeletionTask],
    ) -> list[tuple[DeletionTask, DeletionTask]]:
        with self._write("transition_due") as conn:
            rows = self._due_rows(conn, pending_cutoff, ready_cutoff, limit, True)
            changes = [(task, step(task)) for task in self._tasks(conn, rows)]
            changes = [(old, new) for old, new in changes if new is not old]
            written = (
                self._update(conn, [new for _, new in changes], locked=True) if changes else {}
            )
        return [(old, new) for old, new in changes if new.task_id in written]
