from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql
from psycopg_pool import ConnectionPool, PoolTimeout

from deletion_requests import Callback, DayCount, DeletionTask, Operator, Status, Store, StoreError
from deletion_requests.stores import (
    Account,
    App,
    Awaiting,
    Backlog,
    DuplicateTask,
    IdempotencyKeyConflict,
    TaskQuery,
    Transition,
    apps_from_grants,
    redacted_url,
)

from ._schema import migrate

Conn = psycopg.Connection[tuple[Any, ...]]
TASK_COLUMNS = (
    "t.id, t.task_id, t.account_id, t.status, t.creation_time, t.ready_time, t.actioned_time, "
    "t.cancelled_time, t.created_by, t.version, t.outbox, t.completed_time, t.overdue_time, "
    "t.purged_time, t.held_time"
)
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


_INSERT_BATCH = """
WITH n AS (
    SELECT * FROM unnest(
        %(task_id)s::text[], %(account_id)s::text[], %(status)s::text[],
        %(creation_time)s::timestamptz[], %(ready_time)s::timestamptz[],
        %(actioned_time)s::timestamptz[], %(cancelled_time)s::timestamptz[],
        %(created_by)s::text[], %(version)s::int[], %(outbox)s::text[],
        %(completed_time)s::timestamptz[], %(overdue_time)s::timestamptz[],
        %(purged_time)s::timestamptz[], %(held_time)s::timestamptz[]
    ) AS n (task_id, account_id, status, creation_time, ready_time, actioned_time,
            cancelled_time, created_by, version, outbox, completed_time, overdue_time,
            purged_time, held_time)
), t AS (
    INSERT INTO tasks (task_id, account_id, status, creation_time, ready_time, actioned_time,
                       cancelled_time, created_by, version, outbox, completed_time,
                       overdue_time, purged_time, held_time)
    SELECT task_id, account_id, status, creation_time, ready_time, actioned_time,
           cancelled_time, created_by, version, string_to_array(outbox, ','),
           completed_time, overdue_time, purged_time, held_time FROM n
    RETURNING id, task_id
), i AS (
    INSERT INTO task_identifiers (task, hash)
    SELECT t.id, x.hash FROM unnest(%(identifier_task)s::text[], %(identifier)s::text[])
        AS x (task_id, hash) JOIN t ON t.task_id = x.task_id
), h AS (
    INSERT INTO task_history (task, seq, source, dest, at, by, event, detail)
    SELECT t.id, x.seq, x.source, x.dest, x.at, x.by, x.event, x.detail
    FROM unnest(%(history_task)s::text[], %(seq)s::int[], %(source)s::text[],
                %(dest)s::text[], %(at)s::timestamptz[], %(by)s::text[], %(event)s::text[],
                %(detail)s::text[])
        AS x (task_id, seq, source, dest, at, by, event, detail)
    JOIN t ON t.task_id = x.task_id
)
INSERT INTO idempotency_keys (scope, key, task_id)
SELECT * FROM unnest(%(scope)s::text[], %(key)s::text[], %(key_task)s::text[])
"""


class _Add:
    """One queued add: the task, its key, and (once written) the error that refused it."""

    __slots__ = ("error", "key", "task")

    def __init__(self, task: DeletionTask, key: tuple[str, str] | None) -> None:
        self.task = task
        self.key = key
        self.error: DuplicateTask | IdempotencyKeyConflict | None = None


def _batch_arguments(batch: Sequence[_Add]) -> dict[str, list[Any]]:
    """The arrays `_INSERT_BATCH` takes, by parameter name."""
    tasks = [
        (
            t.task_id,
            t.account_id,
            t.status.value,
            t.creation_time,
            t.ready_time,
            t.actioned_time,
            t.cancelled_time,
            t.created_by,
            t.version,
            ",".join(sorted(t.outbox)),
            t.completed_time,
            t.overdue_time,
            t.purged_time,
            t.held_time,
        )
        for t in (item.task for item in batch)
    ]
    identifiers = [(i.task.task_id, value) for i in batch for value in sorted(i.task.identifiers)]
    history = [
        (i.task.task_id, seq, s.source.value, s.dest.value, s.at, s.by, s.event, s.detail)
        for i in batch
        for seq, s in enumerate(i.task.history)
    ]
    keys = [(*i.key, i.task.task_id) for i in batch if i.key is not None]
    return {
        **_columns(_TASK_PARAMETERS, tasks),
        **_columns(("identifier_task", "identifier"), identifiers),
        **_columns(_HISTORY_PARAMETERS, history),
        **_columns(("scope", "key", "key_task"), keys),
    }


def _columns(names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, list[Any]]:
    return {name: [row[index] for row in rows] for index, name in enumerate(names)}


_TASK_PARAMETERS = [
    "task_id",
    "account_id",
    "status",
    "creation_time",
    "ready_time",
    "actioned_time",
    "cancelled_time",
    "created_by",
    "version",
    "outbox",
    "completed_time",
    "overdue_time",
    "purged_time",
    "held_time",
]
_HISTORY_PARAMETERS = ["history_task", "seq", "source", "dest", "at", "by", "event", "detail"]


class PostgresStore(Store):
    """Tasks, accounts and apps in one PostgreSQL schema, shared by any number of servers.

    - Every write is one transaction (`synchronous_commit` decides durability: on by default).
    - `add_batch` writes many new tasks with one statement and one commit (the HTTP server's
      writer stores its creates' tasks so).
    - Compare-and-set on the task's version; `transition_due` claims due rows with
      `FOR UPDATE SKIP LOCKED`, so concurrent advancers (other servers, cron) take different
      tasks and no transition is applied twice.
    - Listing is a keyset scan per account (one `LATERAL` query), O(accounts x page).
    - psycopg errors arrive as `StoreError`. A lost connection is retried once for reads; for a
      write it is reported as a `StoreError` (the write may or may not have committed: retry
      with the same Idempotency-Key), never as a success.
    """

    def __init__(
        self, conninfo: str, schema: str = "public", pool_size: int = 10, create: bool = True
    ) -> None:
        if not _SCHEMA.fullmatch(schema):
            raise StoreError(f"schema must be a lower-case SQL identifier, got {schema!r}")
        self.schema = schema
        self._where = redacted_url(conninfo)
        self._lease = _AdvisoryLease(conninfo, schema, self._where)
        try:
            with psycopg.connect(conninfo, autocommit=False, connect_timeout=10) as conn:
                if not create and not _exists(conn, schema):
                    raise StoreError(f"no store at {self._where} (schema {schema})")
                migrate(conn, schema, self._where)
            self._pool = ConnectionPool(
                conninfo,
                min_size=1,
                max_size=pool_size,
                # Autocommit: a single-statement read is one round trip; everything that needs
                # a transaction opens one explicitly.
                kwargs={"autocommit": True, "connect_timeout": 10},
                configure=self._configure,
                check=ConnectionPool.check_connection,
                open=True,
                timeout=30,
            )
        except psycopg.Error as exc:
            raise StoreError(f"postgres store {self._where}: cannot open: {exc}") from exc

    def _configure(self, conn: Conn) -> None:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        conn.execute("SET TIME ZONE 'UTC'")

    def take_lease(self) -> bool:
        """Whether this store object holds the background lease (a session advisory lock of
        its own connection, one per schema), taking it when no other holder has it; lost when
        that connection ends."""
        return self._lease.take()

    def release_lease(self) -> None:
        self._lease.release()

    def close(self) -> None:
        self._lease.release()
        self._pool.close()

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[Conn]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except (DuplicateTask, IdempotencyKeyConflict):
            raise
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"postgres store {self._where}: {what}: the connection failed; the write may "
                f"or may not have committed ({exc})"
            ) from exc
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"postgres store {self._where}: {what} failed: {exc}") from exc

    def _read(self, what: str, work: Callable[[Conn], Any], single: bool = False) -> Any:
        """Run *work* (reads only), in one transaction unless it is a *single* statement;
        retried once on a lost connection."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    if single:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise StoreError(f"postgres store {self._where}: {what} failed: {exc}") from exc
            except (psycopg.Error, PoolTimeout) as exc:
                raise StoreError(f"postgres store {self._where}: {what} failed: {exc}") from exc
        raise AssertionError("unreachable")

    # -- rows <-> tasks ------------------------------------------------------------------------

    def _tasks(
        self, conn: Conn, rows: list[tuple[Any, ...]], whole: bool = True
    ) -> list[DeletionTask]:
        """Tasks from `TASK_COLUMNS` rows, with their identifiers and history when *whole*."""
        if not rows:
            return []
        ids = [row[0] for row in rows]
        identifiers: dict[int, set[str]] = {row_id: set() for row_id in ids}
        history: dict[int, list[Transition]] = {row_id: [] for row_id in ids}
        if whole:
            for row_id, value in conn.execute(
                "SELECT task, hash FROM task_identifiers WHERE task = ANY(%s)", (ids,)
            ):
                identifiers[row_id].add(value)
            for row_id, source, dest, at, by, event, detail in conn.execute(
                "SELECT task, source, dest, at, by, event, detail FROM task_history "
                "WHERE task = ANY(%s) ORDER BY task, seq",
                (ids,),
            ):
                history[row_id].append(Transition(source, dest, at, by, event, detail))
        found = []
        for row in rows:
            (row_id, task_id, account, status, created, ready, actioned, cancelled, by, version) = (
                row[:10]
            )
            outbox, completed, overdue, purged, held = row[10:]
            try:
                found.append(
                    DeletionTask(
                        task_id=task_id,
                        account_id=account,
                        status=Status(status),
                        creation_time=created,
                        identifiers=frozenset(identifiers[row_id]),
                        ready_time=ready,
                        actioned_time=actioned,
                        cancelled_time=cancelled,
                        created_by=by,
                        version=version,
                        history=tuple(history[row_id]),
                        outbox=frozenset(outbox),
                        completed_time=completed,
                        overdue_time=overdue,
                        purged_time=purged,
                        held_time=held,
                    )
                )
            except (ValueError, TypeError) as exc:
                raise StoreError(
                    f"postgres store {self._where}: tasks row {task_id!r} cannot be read: {exc}"
                ) from exc
        return found

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

    # -- tasks ---------------------------------------------------------------------------------

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
        batch = [_Add(task, key) for task, key in items]
        if not batch:
            return []
        try:
            try:
                # One statement in autocommit: one round trip and one commit for the batch.
                with self._pool.connection() as conn:
                    conn.execute(_INSERT_BATCH, _batch_arguments(batch))
            except errors.UniqueViolation:
                # A task id or idempotency key is taken: nothing was written. Again, one
                # savepoint each, to find which and keep the others.
                with self._write("add") as conn:
                    for item in batch:
                        item.error = self._insert_one(conn, item)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"postgres store {self._where}: add: the connection failed; the write may or "
                f"may not have committed ({exc})"
            ) from exc
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"postgres store {self._where}: add failed: {exc}") from exc
        return [item.error for item in batch]

    @staticmethod
    def _insert_one(conn: Conn, item: _Add) -> DuplicateTask | IdempotencyKeyConflict | None:
        """Insert one task in a savepoint of its own; what refuses it, or None."""
        if conn.execute("SELECT 1 FROM tasks WHERE task_id = %s", (item.task.task_id,)).fetchone():
            return DuplicateTask(f"task {item.task.task_id} already exists")
        try:
            with conn.transaction():
                conn.execute(_INSERT_BATCH, _batch_arguments([item]))
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
        def work(conn: Conn) -> list[DeletionTask]:
            rows = conn.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.task_id = %s",  # noqa: S608
                (task_id,),
            ).fetchall()
            return self._tasks(conn, rows)

        found: list[DeletionTask] = self._read("get", work)
        return found[0] if found else None

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        def work(conn: Conn) -> list[DeletionTask]:
            rows = conn.execute(
                f"SELECT {TASK_COLUMNS} FROM idempotency_keys k "  # noqa: S608
                "JOIN tasks t ON t.task_id = k.task_id WHERE k.scope = %s AND k.key = %s",
                (scope, key),
            ).fetchall()
            return self._tasks(conn, rows)

        found: list[DeletionTask] = self._read("find_by_idempotency_key", work)
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
        return self._list(query, whole=True)

    def list_summaries(self, query: TaskQuery) -> list[DeletionTask]:
        return self._list(query, whole=False)

    def _list(self, query: TaskQuery, whole: bool) -> list[DeletionTask]:
        if not query.accounts:
            return []
        conditions = ["t.account_id = a.account"]
        args: list[Any] = [sorted(query.accounts)]
        if query.cancelled is True:
            conditions.append("t.cancelled_time IS NOT NULL")
        elif query.cancelled is False:
            conditions.append("t.cancelled_time IS NULL")
        if query.held is True:
            conditions.append("t.held_time IS NOT NULL")
        elif query.held is False:
            conditions.append("t.held_time IS NULL")
        if query.completed is True:
            conditions.append("t.completed_time IS NOT NULL")
        elif query.completed is False:
            conditions.append("t.completed_time IS NULL")
        if query.created_after is not None:
            conditions.append("t.creation_time > %s")
            args.append(query.created_after)
        if query.created_at_or_before is not None:
            conditions.append("t.creation_time <= %s")
            args.append(query.created_at_or_before)
        if query.before is not None:
            conditions.append("(t.creation_time, t.task_id) < (%s, %s)")
            args.extend(query.before)
        if query.after is not None:
            conditions.append("(t.creation_time, t.task_id) > (%s, %s)")
            args.extend(query.after)
        args += [query.limit, query.limit]
        order = "ASC" if query.oldest_first else "DESC"
        statement = (
            f"SELECT page.* FROM unnest(%s::text[]) AS a(account) "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT {TASK_COLUMNS} FROM tasks t "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY t.creation_time {order}, t.task_id {order} LIMIT %s) AS page "
            f"ORDER BY page.creation_time {order}, page.task_id {order} LIMIT %s"
        )

        def work(conn: Conn) -> list[DeletionTask]:
            return self._tasks(conn, conn.execute(statement, args).fetchall(), whole)

        found: list[DeletionTask] = self._read("list", work)
        return found

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        if not tasks:
            return frozenset()
        with self._write("update") as conn:
            written = self._update(conn, tasks)
        return frozenset(t.task_id for t in tasks if t.task_id not in written)

    def _update(self, conn: Conn, tasks: Sequence[DeletionTask]) -> dict[str, int]:
        ids = [task.task_id for task in tasks]
        if len(set(ids)) != len(ids):  # the same task twice: in order, as separate writers
            written: dict[str, int] = {}
            for task in tasks:
                written.update(self._update(conn, [task]))
            return written
        rows = conn.execute(
            "UPDATE tasks AS t SET status = n.status, ready_time = n.ready_time, "
            "actioned_time = n.actioned_time, cancelled_time = n.cancelled_time, "
            "version = n.version, outbox = string_to_array(n.outbox, ','), "
            "completed_time = n.completed_time, overdue_time = n.overdue_time, "
            "purged_time = n.purged_time, held_time = n.held_time "
            "FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], "
            "%s::timestamptz[], %s::int[], %s::text[], %s::timestamptz[], %s::text[], "
            "%s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[]) "
            "AS n(task_id, status, ready_time, actioned_time, cancelled_time, version, "
            "account_id, creation_time, outbox, completed_time, overdue_time, purged_time, "
            "held_time) "
            "WHERE t.task_id = n.task_id AND t.version = n.version - 1 "
            "AND t.account_id = n.account_id AND t.creation_time = n.creation_time "
            "RETURNING t.task_id, t.id",
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
            ),
        ).fetchall()
        written = dict(rows)
        purged = [written[t.task_id] for t in tasks if t.purged_time and t.task_id in written]
        if purged:  # a purge is the one change that deletes identifiers
            conn.execute("DELETE FROM task_identifiers WHERE task = ANY(%s)", (purged,))
        history = [
            row
            for task in tasks
            if task.task_id in written
            for row in self._history_rows(written[task.task_id], task)
        ]
        if history:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO task_history (task, seq, source, dest, at, by, event, detail) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    history,
                )
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
            written = self._update(conn, [new for _, new in changes]) if changes else {}
        return [(old, new) for old, new in changes if new.task_id in written]

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        # Each condition implies one partial index, which holds only the tasks still to touch.
        where = {
            Awaiting.HANDOFF: "t.outbox <> '{}' AND 'handoff' = ANY(t.outbox) AND %s IS NOT NULL",
            Awaiting.REVIEW: "t.outbox <> '{}' AND 'review' = ANY(t.outbox) AND %s IS NOT NULL",
            Awaiting.CALLBACK: "t.outbox <> '{}' AND EXISTS (SELECT 1 FROM unnest(t.outbox) k "
            "WHERE k LIKE 'callback.%%') AND %s IS NOT NULL",
            Awaiting.OVERDUE: "t.status = 'actioned' AND t.completed_time IS NULL "
            "AND t.overdue_time IS NULL AND t.actioned_time <= %s",
            Awaiting.INCOMPLETE: "t.status = 'actioned' AND t.completed_time IS NULL "
            "AND t.actioned_time <= %s",
            Awaiting.PURGE: "t.completed_time IS NOT NULL AND t.purged_time IS NULL "
            "AND t.completed_time <= %s",
            Awaiting.PURGE_CANCELLED: "t.cancelled_time IS NOT NULL AND t.purged_time IS NULL "
            "AND t.cancelled_time <= %s",
            Awaiting.PURGE_DELIVERED: "t.status = 'actioned' AND t.completed_time IS NULL "
            "AND t.purged_time IS NULL AND NOT ('handoff' = ANY(t.outbox)) "
            "AND t.actioned_time <= %s",
        }[what]
        statement = (
            f"SELECT {TASK_COLUMNS} FROM tasks t WHERE {where} "  # noqa: S608 (fixed text only)
            "ORDER BY t.creation_time, t.task_id LIMIT %s"
        )

        def work(conn: Conn) -> list[DeletionTask]:
            return self._tasks(conn, conn.execute(statement, (cutoff, limit)).fetchall())

        found: list[DeletionTask] = self._read("awaiting", work)
        return found

    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        # One pass over the tasks (no index narrows a count of all of them).
        counts = dict.fromkeys([*(s.value for s in Status), "held", "purged", "completed"], 0)
        rows = self._read(
            "count_tasks",
            lambda conn: conn.execute(
                "SELECT CASE WHEN status IN ('pending', 'ready') AND held_time IS NULL "
                "AND creation_time <= %(ready)s THEN 'actioned' WHEN status = 'pending' "
                "AND creation_time <= %(pending)s THEN 'ready' ELSE status END AS counted, "
                "count(*), count(held_time), count(purged_time), count(completed_time) "
                "FROM tasks GROUP BY counted",
                {"pending": pending_cutoff, "ready": ready_cutoff},
            ).fetchall(),
            single=True,
        )
        for status, number, held, purged, completed in rows:
            counts[status] += number
            counts["held"] += held
            counts["purged"] += purged
            counts["completed"] += completed
        return counts

    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        rows = self._read(
            "daily_counts",
            lambda conn: conn.execute(
                "SELECT (at AT TIME ZONE 'UTC')::date AS day, sum(c), sum(x), sum(a), sum(f), "
                "sum(o) FROM ("
                "SELECT creation_time AS at, 1 AS c, 0 AS x, 0 AS a, 0 AS f, 0 AS o FROM tasks "
                "WHERE creation_time >= %(since)s "
                "UNION ALL SELECT cancelled_time, 0, 1, 0, 0, 0 FROM tasks "
                "WHERE cancelled_time >= %(since)s "
                "UNION ALL SELECT actioned_time, 0, 0, 1, 0, 0 FROM tasks "
                "WHERE actioned_time >= %(since)s "
                "UNION ALL SELECT completed_time, 0, 0, 0, 1, 0 FROM tasks "
                "WHERE completed_time >= %(since)s "
                "UNION ALL SELECT overdue_time, 0, 0, 0, 0, 1 FROM tasks "
                "WHERE overdue_time >= %(since)s) AS moments GROUP BY day ORDER BY day",
                {"since": since},
            ).fetchall(),
            single=True,
        )
        return [DayCount(row[0], *(int(n) for n in row[1:])) for row in rows]

    def backlog(self, kind: str) -> Backlog:
        since = sql.Identifier("ready_time" if kind == "review" else "actioned_time")
        row = self._read(
            "backlog",
            lambda conn: conn.execute(
                sql.SQL(
                    "SELECT count(*), min({}) FROM tasks WHERE outbox <> '{{}}' "
                    "AND %s = ANY(outbox)"
                ).format(since),
                (kind,),
            ).fetchone(),
            single=True,
        )
        return Backlog(int(row[0]), row[1])

    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        # The tasks' rows are locked, skipping those another claimer holds; a lease is taken
        # where there is none or it has expired, all in one statement.
        with self._write("claim") as conn:
            rows = conn.execute(
                "WITH owed AS (SELECT task_id FROM tasks WHERE task_id = ANY(%(ids)s) "
                "AND %(kind)s = ANY(outbox) FOR UPDATE SKIP LOCKED) "
                "INSERT INTO outbox_leases (task_id, kind, holder, until_time) "
                "SELECT task_id, %(kind)s, %(holder)s, %(until)s FROM owed "
                "ON CONFLICT (task_id, kind) DO UPDATE "
                "SET holder = excluded.holder, until_time = excluded.until_time "
                "WHERE outbox_leases.until_time <= %(now)s RETURNING task_id",
                {"ids": list(task_ids), "kind": kind, "holder": holder, "until": until, "now": now},
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        with self._write("release") as conn:
            conn.execute(
                "DELETE FROM outbox_leases WHERE task_id = ANY(%s) AND kind = %s AND holder = %s",
                (list(task_ids), kind, holder),
            )

    # -- access --------------------------------------------------------------------------------

    def allow_account(self, account: Account) -> Account:
        with self._write("allow_account") as conn:
            conn.execute(
                "INSERT INTO accounts (account_id, allowed_time) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (account.account_id, account.allowed_time),
            )
            row = conn.execute(
                "SELECT allowed_time FROM accounts WHERE account_id = %s", (account.account_id,)
            ).fetchone()
        assert row is not None
        return Account(account.account_id, row[0])

    def revoke_account(self, account_id: str) -> bool:
        with self._write("revoke_account") as conn:
            cursor = conn.execute("DELETE FROM accounts WHERE account_id = %s", (account_id,))
            return cursor.rowcount == 1

    def get_account(self, account_id: str) -> Account | None:
        row = self._read(
            "get_account",
            lambda conn: conn.execute(
                "SELECT account_id, allowed_time FROM accounts WHERE account_id = %s",
                (account_id,),
            ).fetchone(),
            single=True,
        )
        return None if row is None else Account(row[0], row[1])

    def list_accounts(self) -> list[Account]:
        rows = self._read(
            "list_accounts",
            lambda conn: conn.execute(
                "SELECT account_id, allowed_time FROM accounts ORDER BY account_id"
            ).fetchall(),
            single=True,
        )
        return [Account(account_id, allowed) for account_id, allowed in rows]

    def add_app(self, app: App) -> None:
        with self._write("add_app") as conn:
            try:
                conn.execute(
                    "INSERT INTO apps (app_id, secret_digest, created_time, revoked) "
                    "VALUES (%s, %s, %s, %s)",
                    (app.app_id, app.secret_digest, app.created_time, app.revoked),
                )
            except errors.UniqueViolation:
                raise StoreError(f"app {app.app_id} already exists") from None
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO app_accounts (app_id, account_id) VALUES (%s, %s)",
                    [(app.app_id, account) for account in sorted(app.accounts)],
                )

    def _apps(self, where: str, args: tuple[str, ...]) -> list[App]:
        rows = self._read(
            "apps",
            lambda conn: conn.execute(
                "SELECT a.app_id, a.secret_digest, a.created_time, a.revoked, g.account_id "  # noqa: S608
                f"FROM apps a LEFT JOIN app_accounts g ON g.app_id = a.app_id {where} "
                "ORDER BY a.app_id",
                args,
            ).fetchall(),
            single=True,
        )
        return apps_from_grants(rows)

    def get_app(self, app_id: str) -> App | None:
        found = self._apps("WHERE a.app_id = %s", (app_id,))
        return found[0] if found else None

    def list_apps(self) -> list[App]:
        return self._apps("", ())

    def app_access(self, app_id: str) -> tuple[App, frozenset[str]] | None:
        rows = self._read(
            "app_access",
            lambda conn: conn.execute(
                "SELECT a.app_id, a.secret_digest, a.created_time, a.revoked, g.account_id, "
                "c.account_id IS NOT NULL FROM apps a "
                "LEFT JOIN app_accounts g ON g.app_id = a.app_id "
                "LEFT JOIN accounts c ON c.account_id = g.account_id WHERE a.app_id = %s",
                (app_id,),
            ).fetchall(),
            single=True,
        )
        if not rows:
            return None
        (app,) = apps_from_grants(row[:5] for row in rows)
        return app, frozenset(row[4] for row in rows if row[5])

    def revoke_app(self, app_id: str) -> bool:
        with self._write("revoke_app") as conn:
            cursor = conn.execute("UPDATE apps SET revoked = true WHERE app_id = %s", (app_id,))
            return cursor.rowcount == 1

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        with self._write("record_app_use") as conn:
            conn.execute(
                "INSERT INTO app_uses (app_id, last_used_time) VALUES (%(app)s, %(at)s) "
                "ON CONFLICT (app_id) DO UPDATE "
                "SET last_used_time = greatest(app_uses.last_used_time, %(at)s)",
                {"app": app_id, "at": moment},
            )

    def app_last_used(self) -> dict[str, dt.datetime]:
        rows = self._read(
            "app_last_used",
            lambda conn: conn.execute("SELECT app_id, last_used_time FROM app_uses").fetchall(),
            single=True,
        )
        return {app_id: used for app_id, used in rows}

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        with self._write("set_callback") as conn:
            if not conn.execute("SELECT 1 FROM apps WHERE app_id = %s", (app_id,)).fetchone():
                return False
            conn.execute("DELETE FROM app_callbacks WHERE app_id = %s", (app_id,))
            if callback is not None:
                conn.execute(
                    "INSERT INTO app_callbacks (app_id, url, secret, set_time) "
                    "VALUES (%s, %s, %s, %s)",
                    (app_id, callback.url, callback.secret, callback.set_time),
                )
            return True

    def callbacks(self) -> dict[str, Callback]:
        rows = self._read(
            "callbacks",
            lambda conn: conn.execute(
                "SELECT app_id, url, secret, set_time FROM app_callbacks"
            ).fetchall(),
            single=True,
        )
        return {app: Callback(url, secret, at) for app, url, secret, at in rows}

    def add_operator(self, operator: Operator) -> None:
        with self._write("add_operator") as conn:
            try:
                conn.execute(
                    "INSERT INTO operators (name, password_hash, created_time) VALUES (%s, %s, %s)",
                    (operator.name, operator.password_hash, operator.created_time),
                )
            except errors.UniqueViolation:
                raise StoreError(f"operator {operator.name} already exists") from None

    def _operators(self, where: str, args: tuple[str, ...]) -> list[Operator]:
        rows = self._read(
            "operators",
            lambda conn: conn.execute(
                "SELECT name, password_hash, created_time FROM operators "  # noqa: S608
                f"{where} ORDER BY name",
                args,
            ).fetchall(),
            single=True,
        )
        return [Operator(name, hashed, created) for name, hashed, created in rows]

    def get_operator(self, name: str) -> Operator | None:
        found = self._operators("WHERE name = %s", (name,))
        return found[0] if found else None

    def list_operators(self) -> list[Operator]:
        return self._operators("", ())

    def remove_operator(self, name: str) -> bool:
        with self._write("remove_operator") as conn:
            return conn.execute("DELETE FROM operators WHERE name = %s", (name,)).rowcount == 1

    def setting(self, name: str, default: Callable[[], str]) -> str:
        with self._write("setting") as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (name, default()),
            )
            row = conn.execute("SELECT value FROM settings WHERE name = %s", (name,)).fetchone()
        assert row is not None
        return str(row[0])

    def put_setting(self, name: str, value: str) -> None:
        with self._write("put_setting") as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (name, value),
            )


def _exists(conn: Conn, schema: str) -> bool:
    """Whether *schema* holds a store (its `schema_version` table)."""
    row = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name = 'schema_version'",
        (schema,),
    ).fetchone()
    return row is not None


def open_postgres_store(url: str, create: bool = True) -> PostgresStore:
    """`postgresql://user[:password]@host[:port]/database[?schema=name&pool_size=N&...]`.

    `schema` (default `public`) and `pool_size` (default 10) are this store's; other query
    parameters go to libpq (`sslmode`, `connect_timeout`, ...). With `create=False`, the
    schema must already hold a store.
    """
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    schema = options.pop("schema", "public")
    try:
        pool_size = int(options.pop("pool_size", "10"))
    except ValueError:
        raise StoreError("pool_size must be an integer") from None
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(options)))
    return PostgresStore(conninfo, schema=schema, pool_size=pool_size, create=create)


LEASE_KEY = 0x6C65_6173  # "leas": with the schema's hash, the background lease's advisory lock


class _AdvisoryLease:
    """The background lease: `pg_try_advisory_lock` on a connection kept for it. PostgreSQL
    ends the lock with the session: when the holder's process dies (its socket closes), or,
    with the keepalives set here, about 8 s after its machine stops answering."""

    def __init__(self, conninfo: str, schema: str, where: str) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._where = where
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._held = False
                    self._conn = psycopg.connect(
                        self._conninfo,
                        autocommit=True,
                        connect_timeout=10,
                        keepalives=1,
                        keepalives_idle=5,
                        keepalives_interval=1,
                        keepalives_count=3,
                    )
                    for name, value in (("idle", 5), ("interval", 1), ("count", 3)):
                        self._conn.execute(f"SET tcp_keepalives_{name} = {value}")
                if self._held:
                    self._conn.execute("SELECT 1")
                    return True
                row = self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LEASE_KEY, self._schema)
                ).fetchone()
                self._held = bool(row and row[0])
                return self._held
            except psycopg.Error as exc:
                self._drop()
                raise StoreError(f"postgres store {self._where}: the lease: {exc}") from exc

    def release(self) -> None:
        with self._lock:
            if self._held and self._conn is not None:
                # Unlocked here, not left to the end of the session, which PostgreSQL sees
                # a moment after the connection closes.
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute(
                        "SELECT pg_advisory_unlock(%s, hashtext(%s))", (LEASE_KEY, self._schema)
                    )
            self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None
