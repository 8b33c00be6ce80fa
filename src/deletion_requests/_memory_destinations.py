"""The memory store's destinations and jobs (`MemoryStore` mixes this in)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Collection, Sequence

import attrs

from ._destination_setup import check_waits_for
from ._destinations import (
    Destination,
    DestinationConflict,
    Job,
    JobCounts,
    JobState,
    attempt_failed,
    delivered,
    open_jobs_message,
    waited_for_message,
)
from ._job_changes import changed_job
from ._job_counts import count_jobs
from ._outcome_batch import apply_reports, check_written
from ._port_destinations import Complete, Destinations, Recorded, Report
from ._task import DeletionTask


class MemoryDestinations(Destinations):
    """Destinations and jobs in memory, under the store's one lock. The host calls
    `_init_destinations` and supplies `_lock`, `get` and `update`."""

    _lock: threading.RLock

    def get(self, task_id: str) -> DeletionTask | None:
        raise NotImplementedError

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        raise NotImplementedError

    def _init_destinations(self) -> None:
        self._destinations: dict[str, Destination] = {}
        self._jobs: dict[str, Job] = {}
        self._jobs_of_task: dict[str, list[str]] = {}

    def add_destination(self, destination: Destination) -> None:
        with self._lock:
            if destination.name in self._destinations:
                raise DestinationConflict(f"a destination named {destination.name!r} exists")
            check_waits_for(destination, self._destinations)
            self._destinations[destination.name] = destination

    def get_destination(self, name: str) -> Destination | None:
        with self._lock:
            return self._destinations.get(name)

    def list_destinations(self) -> list[Destination]:
        with self._lock:
            return sorted(self._destinations.values(), key=lambda d: d.name)

    def put_destination(self, destination: Destination) -> bool:
        with self._lock:
            if destination.name not in self._destinations:
                return False
            self._destinations[destination.name] = destination
            return True

    def change_destination(
        self, name: str, change: Callable[[Destination], Destination]
    ) -> tuple[Destination, Destination] | None:
        with self._lock:
            before = self._destinations.get(name)
            if before is None:
                return None
            after = change(before)
            self._destinations[name] = after
            return before, after

    def remove_destination(self, name: str) -> bool:
        with self._lock:
            if name not in self._destinations:
                return False
            waiting = [d.name for d in self._destinations.values() if name in d.waits_for]
            if waiting:
                raise DestinationConflict(waited_for_message(name, waiting))
            mine = [j for j in self._jobs.values() if j.destination == name]
            open_jobs = sum(j.outcome is None for j in mine)
            if open_jobs:
                raise DestinationConflict(open_jobs_message(name, open_jobs))
            for job in mine:
                del self._jobs[job.job_id]
                self._jobs_of_task[job.task_id].remove(job.job_id)
            del self._destinations[name]
            return True

    def write_actioned(
        self, changes: Sequence[tuple[DeletionTask, Sequence[Job]]]
    ) -> frozenset[str]:
        rejected: set[str] = set()
        with self._lock:
            for task, jobs in changes:
                if self.update([task]):
                    rejected.add(task.task_id)
                    continue
                for job in jobs:
                    if job.job_id not in self._jobs:
                        self._jobs[job.job_id] = job
                        self._jobs_of_task.setdefault(job.task_id, []).append(job.job_id)
        return frozenset(rejected)

    def get_job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def task_jobs(self, task_id: str) -> list[Job]:
        with self._lock:
            jobs = [self._jobs[i] for i in self._jobs_of_task.get(task_id, ())]
        return sorted(jobs, key=lambda j: j.destination)

    def claim_jobs(
        self, destination: str, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Job]:
        with self._lock:
            found = self._destinations.get(destination)
            if found is None or found.paused:
                return []
            sendable = [
                j for j in self._jobs.values() if j.destination == destination and j.sendable(now)
            ]
            sendable.sort(key=lambda j: (j.created_time, j.job_id))
            claimed = [
                attrs.evolve(j, state=JobState.CLAIMED, holder=holder, lease_until=until)
                for j in sendable[:limit]
            ]
            for job in claimed:
                self._jobs[job.job_id] = job
            return claimed

    def _held(self, job_id: str, holder: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.CLAIMED or job.holder != holder:
            return None
        return job

    def _settle_attempt(self, job_id: str, holder: str, change: Callable[[Job], Job]) -> Job | None:
        with self._lock:
            job = self._held(job_id, holder)
            if job is None:
                return None
            job = change(job)
            self._jobs[job_id] = job
            return job

    def mark_delivered(self, job_id: str, holder: str) -> Job | None:
        return self._settle_attempt(job_id, holder, delivered)

    def change_job(self, job_id: str, change: Callable[[Job], Job]) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job = changed_job(job, change)
            self._jobs[job_id] = job
            return job

    def mark_attempt_failed(
        self, job_id: str, holder: str, error: str, retry_at: dt.datetime
    ) -> Job | None:
        return self._settle_attempt(job_id, holder, lambda j: attempt_failed(j, error, retry_at))

    def record_outcomes(
        self, reports: Sequence[Report], at: dt.datetime, complete: Complete
    ) -> list[Recorded]:
        with self._lock:
            task_ids = {self._jobs[r.job_id].task_id for r in reports if r.job_id in self._jobs}
            jobs = [self._jobs[i] for t in task_ids for i in self._jobs_of_task.get(t, ())]
            batch = apply_reports(reports, jobs, self._tasks_of, at, complete)
            check_written(batch, {t.task_id for t in batch.tasks} - self.update(batch.tasks))
            for job in batch.jobs:
                self._jobs[job.job_id] = job
            return list(batch.recorded)

    def _tasks_of(self, task_ids: Collection[str]) -> dict[str, DeletionTask]:
        found = ((task_id, self.get(task_id)) for task_id in task_ids)
        return {task_id: task for task_id, task in found if task is not None}

    def job_counts(self) -> dict[str, JobCounts]:
        with self._lock:
            return count_jobs(list(self._jobs.values()))
