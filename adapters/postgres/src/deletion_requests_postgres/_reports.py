"""Reports over task rows: counts, each one statement."""

from __future__ import annotations

import datetime as dt

from deletion_requests import Status
from deletion_requests.stores import DayCount, Reports

from ._tasks import TaskTables


class ReportsTables(TaskTables, Reports):
    """`Reports` over task rows: each count is one aggregate query."""

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
