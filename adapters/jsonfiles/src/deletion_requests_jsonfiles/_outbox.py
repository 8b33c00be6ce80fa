"""The outbox over task files: leases in `leases/`, one document a task and kind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from deletion_requests import DeletionTask
from deletion_requests.stores import Awaiting, Backlog, Outbox, backlog_of

from ._files import digest
from ._tasks import TaskFiles


class OutboxFiles(TaskFiles, Outbox):
    """`Outbox` over task files: what is owed is found by a scan, as listings are."""

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        with self._thread_lock:
            found = [task for task in self._scan() if what.matches(task, cutoff)]
        found.sort(key=lambda t: (t.creation_time, t.task_id))
        return found[:limit]

    def backlog(self, kind: str) -> Backlog:
        with self._thread_lock:
            return backlog_of(list(self._scan()), kind)

    def _lease_path(self, task_id: str, kind: str) -> Path:
        return self._dirs["leases"] / f"{digest(task_id + chr(0) + kind)}.json"

    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        claimed = set()
        with self._locked():
            for task_id in task_ids:
                if not self._usable(task_id):
                    continue
                task = self._load(self._task_path(task_id))
                if task is None or kind not in task.outbox:
                    continue
                path = self._lease_path(task_id, kind)
                lease = self._read(path)
                if lease is not None and dt.datetime.fromisoformat(lease["until"]) > now:
                    continue
                self._write(path, {"holder": holder, "until": until.isoformat()})
                claimed.add(task_id)
        return frozenset(claimed)

    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        with self._locked():
            for task_id in task_ids:
                path = self._lease_path(task_id, kind)
                lease = self._read(path)
                if lease is not None and lease.get("holder") == holder:
                    self._delete(path)
