"""The outbox over task rows: what is owed, found by partial indexes, and `outbox_leases`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from psycopg import sql

from deletion_requests import DeletionTask
from deletion_requests.stores import Awaiting, Backlog, Outbox

from ._connection import Conn
from ._rows import TASK_COLUMNS
from ._tasks import TaskTables


class OutboxTables(TaskTables, Outbox):
    """`Outbox` over task rows; `claim` locks the tasks' rows with `FOR UPDATE SKIP LOCKED`, so
    concurrent claimers take different tasks."""

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        # Each condition implies one partial index, which holds only the tasks still to touch.
        where = {
            Awaiting.HANDOFF: "t.outbox <> '{}' AND 'handoff' = ANY(t.outbox) AND %s IS NOT NULL",
            Awaiting.REVIEW: "t.outbox <> '{}' AND 'review' = ANY(t.outbox) AND %s IS NOT NULL",
            Awaiting.CALLBACK: "t.outbox <> '{}' AND EXISTS (SELECT 1 FROM unnest(t.outbox) k "
            "WHERE k LIKE 'callback.%%') AND %s IS NOT NULL",
            Awaiting.OVERDUE: "t.status = 'actioned' AND t.completed_time IS NULL "
            "AND t.overdue_time IS NULL AND t.due_time <= %s",
            Awaiting.INCOMPLETE: "t.status = 'actioned' AND t.completed_time IS NULL "
            "AND t.due_time <= %s",
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
