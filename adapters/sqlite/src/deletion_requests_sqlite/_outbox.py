"""The outbox over the tasks table: what is owed, read from partial indexes, and the leases of
`outbox_leases`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from deletion_requests import DeletionTask
from deletion_requests.stores import Awaiting, Backlog, Outbox

from ._rows import READ_COLUMNS, opt_time, to_us
from ._tasks import SqliteTasks


class SqliteOutbox(SqliteTasks, Outbox):
    """`Outbox` over the tasks table; claims are taken under the write lock."""

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        # Each query reads one partial index, which holds only the tasks still to be touched.
        where = {
            Awaiting.HANDOFF: "INDEXED BY tasks_outbox WHERE outbox != '' "
            "AND instr(outbox, 'handoff') AND ?1 IS NOT NULL",
            Awaiting.REVIEW: "INDEXED BY tasks_outbox WHERE outbox != '' "
            "AND instr(outbox, 'review') AND ?1 IS NOT NULL",
            Awaiting.CALLBACK: "INDEXED BY tasks_outbox WHERE outbox != '' "
            "AND instr(outbox, 'callback.') AND ?1 IS NOT NULL",
            Awaiting.OVERDUE: "INDEXED BY tasks_incomplete_by_due WHERE status = 'actioned' "
            "AND completed_us IS NULL AND overdue_us IS NULL AND due_us <= ?1",
            Awaiting.INCOMPLETE: "INDEXED BY tasks_incomplete_by_due WHERE status = 'actioned' "
            "AND completed_us IS NULL AND due_us <= ?1",
            Awaiting.PURGE: "INDEXED BY tasks_to_purge WHERE completed_us IS NOT NULL "
            "AND purged_us IS NULL AND completed_us <= ?1",
            Awaiting.PURGE_CANCELLED: "INDEXED BY tasks_cancelled_to_purge WHERE cancelled_us "
            "IS NOT NULL AND purged_us IS NULL AND cancelled_us <= ?1",
            Awaiting.PURGE_DELIVERED: "INDEXED BY tasks_incomplete WHERE status = 'actioned' "
            "AND completed_us IS NULL AND purged_us IS NULL AND instr(outbox, 'handoff') = 0 "
            "AND actioned_us <= ?1",
        }[what]
        with self._read("awaiting") as conn:
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM tasks {where} "  # noqa: S608 (fixed text only)
                "ORDER BY creation_us, task_id LIMIT ?2",
                (to_us(cutoff), limit),
            ).fetchall()
            return self._tasks_from_rows(conn, rows)

    def backlog(self, kind: str) -> Backlog:
        since = "ready_us" if kind == "review" else "actioned_us"
        with self._read("backlog") as conn:
            count, oldest = conn.execute(
                f"SELECT count(*), min({since}) FROM tasks INDEXED BY tasks_outbox "  # noqa: S608
                "WHERE outbox != '' AND instr(outbox, ?)",
                (kind,),
            ).fetchone()
        return Backlog(count, opt_time(oldest))

    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        # Under the write lock, so that claims never interleave.
        claimed: set[str] = set()
        with self._write("claim") as conn:
            for start in range(0, len(task_ids), 500):
                chunk = list(task_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT t.task_id FROM tasks t LEFT JOIN outbox_leases l "  # noqa: S608
                    "ON l.task_id = t.task_id AND l.kind = ? "
                    f"WHERE t.task_id IN ({marks}) AND instr(t.outbox, ?) "
                    "AND (l.until_us IS NULL OR l.until_us <= ?)",
                    (kind, *chunk, kind, to_us(now)),
                ).fetchall()
                conn.executemany(
                    "INSERT INTO outbox_leases (task_id, kind, holder, until_us) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (task_id, kind) DO UPDATE "
                    "SET holder = excluded.holder, until_us = excluded.until_us",
                    [(task_id, kind, holder, to_us(until)) for (task_id,) in rows],
                )
                claimed.update(task_id for (task_id,) in rows)
        return frozenset(claimed)

    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        with self._write("release") as conn:
            conn.executemany(
                "DELETE FROM outbox_leases WHERE task_id = ? AND kind = ? AND holder = ?",
                [(task_id, kind, holder) for task_id in task_ids],
            )
