"""Reports over task files: counts by a scan of `tasks/`."""

from __future__ import annotations

import datetime as dt

from deletion_requests.stores import DayCount, Reports, day_counts, status_counts

from ._tasks import TaskFiles


class ReportsFiles(TaskFiles, Reports):
    """`Reports` over task files: each count is one scan of `tasks/`."""

    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        with self._thread_lock:
            return status_counts(self._scan(), pending_cutoff, ready_cutoff)

    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        with self._thread_lock:
            return day_counts(list(self._scan()), since)
