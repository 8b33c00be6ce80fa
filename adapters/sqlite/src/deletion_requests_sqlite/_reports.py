"""Reports over the tasks table: counts read from its indexes."""

from __future__ import annotations

import datetime as dt

from deletion_requests import Status
from deletion_requests.stores import DayCount, Reports

from ._rows import EPOCH, to_us
from ._tasks import SqliteTasks


class SqliteReports(SqliteTasks, Reports):
    """`Reports` over the tasks table, each in one read transaction."""

    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        # From indexes only: the stored statuses (one pass over `tasks_due`, which holds no
        # row data), the pending and ready tasks old enough to move (two range counts on it),
        # and the held tasks, which do not all move (a partial index of the few held ones).
        pending_us, ready_us = to_us(pending_cutoff), to_us(ready_cutoff)
        counts = dict.fromkeys([*(s.value for s in Status), "held", "purged", "completed"], 0)
        with self._read("count_tasks") as conn:
            for status, number in conn.execute(
                "SELECT status, count(*) FROM tasks INDEXED BY tasks_due GROUP BY status"
            ):
                counts[status] += number
            (to_ready,) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_due "
                "WHERE status = 'pending' AND creation_us <= ?",
                (pending_us,),
            ).fetchone()
            (to_actioned,) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_due "
                "WHERE status IN ('pending', 'ready') AND creation_us <= ?",
                (ready_us,),
            ).fetchone()
            held = conn.execute(
                "SELECT status, creation_us FROM tasks INDEXED BY tasks_held "
                "WHERE held_us IS NOT NULL"
            ).fetchall()
            (counts["purged"],) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_purged WHERE purged_us IS NOT NULL"
            ).fetchone()
            # Only an actioned task completes: the stored actioned ones less the incomplete.
            (incomplete,) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_incomplete "
                "WHERE status = 'actioned' AND completed_us IS NULL"
            ).fetchone()
        counts["completed"] = counts["actioned"] - incomplete
        counts["held"] = len(held)
        to_actioned -= sum(
            1 for status, created in held if status in ("pending", "ready") and created <= ready_us
        )
        counts["pending"] -= to_ready
        counts["ready"] += to_ready - to_actioned
        counts["actioned"] += to_actioned
        return counts

    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        day = 86_400_000_000
        with self._read("daily_counts") as conn:
            rows = conn.execute(
                f"SELECT day, sum(c), sum(x), sum(a), sum(f), sum(o) FROM ("  # noqa: S608
                f"SELECT creation_us / {day} AS day, 1 AS c, 0 AS x, 0 AS a, 0 AS f, 0 AS o "
                "FROM tasks WHERE creation_us >= ?1 "
                f"UNION ALL SELECT cancelled_us / {day}, 0, 1, 0, 0, 0 FROM tasks "
                "WHERE cancelled_us >= ?1 "
                f"UNION ALL SELECT actioned_us / {day}, 0, 0, 1, 0, 0 FROM tasks "
                "WHERE actioned_us >= ?1 "
                f"UNION ALL SELECT completed_us / {day}, 0, 0, 0, 1, 0 FROM tasks "
                "WHERE completed_us >= ?1 "
                f"UNION ALL SELECT overdue_us / {day}, 0, 0, 0, 0, 1 FROM tasks "
                "WHERE overdue_us >= ?1) GROUP BY day ORDER BY day",
                (to_us(since),),
            ).fetchall()
        return [DayCount((EPOCH + dt.timedelta(days=row[0])).date(), *row[1:]) for row in rows]
