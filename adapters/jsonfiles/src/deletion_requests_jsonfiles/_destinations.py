"""Destinations and jobs: one document a destination in `destinations/`, one a task's jobs in
`jobs/`, every write under the store's lock.

A change of several documents (a task's jobs and the task actioned; an outcome's jobs and the
task it completes or whose history it adds to; a removed destination and the jobs documents it
leaves) is written all or nothing, through the journal (`JsonFiles._all_or_nothing`): after a
crash the next holder of the lock finishes it. Each is applied jobs first, so a reader taking no
lock meanwhile may see the jobs before their task.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

import attrs

from deletion_requests import (
    DeletionTask,
    Destination,
    DestinationConflict,
    Job,
    JobState,
    Outcome,
    OutcomeKind,
    Recorded,
    Status,
    StoreError,
)
from deletion_requests.stores import (
    DEFAULT_DESTINATION,
    Complete,
    Destinations,
    JobCounts,
    Report,
    apply_reports,
    attempt_failed,
    changed_job,
    check_waits_for,
    check_written,
    count_jobs,
    delivered,
    job_id_for,
    open_jobs_message,
    waited_for_message,
)

from ._destination_records import (
    destination_from_record,
    destination_record,
    job_from_record,
    job_record,
)
from ._files import BAD_RECORD, JsonFiles, digest

MIGRATED = ".default-jobs"
"""The marker, in `jobs/`, that the tasks actioned before destinations have their jobs."""


class DestinationFiles(JsonFiles, Destinations):
    """`Destinations` over the file layer; claims and counts scan `jobs/`, a report reads only
    its jobs' tasks' documents (once the store has seen them). The host supplies
    `get`, `_scan` and `_update_locked`."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        # The task of each job read or written so far. A job's id is made from its task's id
        # (`job_id_for`), so an entry never points at another task: it saves a report the scan
        # of `jobs/`, and a job gone since (its destination removed) is simply not found there.
        self._task_of_job: dict[str, str] = {}
        if not (self._dirs["jobs"] / MIGRATED).exists():
            with self._locked():
                self._migrate_default_jobs()

    def get(self, task_id: str) -> DeletionTask | None:
        raise NotImplementedError

    def _scan(self) -> Iterator[DeletionTask]:
        raise NotImplementedError

    def _update_locked(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        raise NotImplementedError

    def _migrate_default_jobs(self) -> None:
        """A `default` job for every task actioned before destinations, keeping its state."""
        for task in self._scan():
            if task.status is not Status.ACTIONED or task.actioned_time is None:
                continue
            if self._jobs_of(task.task_id):
                continue
            done = task.completed_time
            state = JobState.FINAL if done else JobState.OWED
            if not done and "handoff" not in task.outbox:
                state = JobState.DELIVERED
            job = Job(
                job_id_for(task.task_id, DEFAULT_DESTINATION),
                task.task_id,
                DEFAULT_DESTINATION,
                task.actioned_time,
                state,
                outcome=Outcome(OutcomeKind.DELETED) if done else None,
                outcome_time=done,
            )
            self._put_jobs(task.task_id, [job])
        self._write(self._dirs["jobs"] / MIGRATED, {"migrated": True})

    # -- files ----------------------------------------------------------------------------------

    def _destination_path(self, name: str) -> Path:
        return self._dirs["destinations"] / f"{digest(name)}.json"

    def _jobs_path(self, task_id: str) -> Path:
        return self._dirs["jobs"] / f"{digest(task_id)}.json"

    def _jobs_in(self, path: Path) -> list[Job]:
        document = self._read(path)
        if document is None:
            return []
        try:
            jobs = sorted(
                (job_from_record(r) for r in document["jobs"]), key=lambda j: j.destination
            )
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid list of jobs: {exc}") from exc
        self._task_of_job.update((job.job_id, job.task_id) for job in jobs)
        return jobs

    def _jobs_of(self, task_id: str) -> list[Job]:
        return self._jobs_in(self._jobs_path(task_id))

    def _put_jobs(self, task_id: str, jobs: Sequence[Job]) -> None:
        records = [job_record(j) for j in sorted(jobs, key=lambda j: j.destination)]
        self._write(self._jobs_path(task_id), {"task_id": task_id, "jobs": records})
        self._task_of_job.update((job.job_id, task_id) for job in jobs)

    def _tasks_of_jobs(self, job_ids: Collection[str]) -> set[str]:
        """The tasks of those of *job_ids* that are stored: from the jobs already seen, and
        with one scan of `jobs/` for any other."""
        tasks = {self._task_of_job[j] for j in job_ids if j in self._task_of_job}
        unseen = {j for j in job_ids if j not in self._task_of_job}
        if unseen:
            tasks |= {job.task_id for job in self._every_job() if job.job_id in unseen}
        return tasks

    def _every_job(self) -> Iterator[Job]:
        try:
            entries = sorted(e.path for e in os.scandir(self._dirs["jobs"]))
        except OSError as exc:
            raise StoreError(f"jsonfiles store {self.root}: cannot list jobs: {exc}") from exc
        for path in entries:
            if not Path(path).name.startswith("."):
                yield from self._jobs_in(Path(path))

    # -- destinations ---------------------------------------------------------------------------

    def add_destination(self, destination: Destination) -> None:
        path = self._destination_path(destination.name)
        with self._locked():
            if path.exists():
                raise DestinationConflict(f"a destination named {destination.name!r} exists")
            waited = destination.waits_for
            check_waits_for(destination, (n for n in waited if self._destination_path(n).exists()))
            self._write(path, destination_record(destination))

    def get_destination(self, name: str) -> Destination | None:
        path = self._destination_path(name)
        document = self._read(path)
        if document is None:
            return None
        try:
            return destination_from_record(document)
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid destination: {exc}") from exc

    def list_destinations(self) -> list[Destination]:
        found = []
        for path in self._dirs["destinations"].glob("*.json"):
            document = self._read(path)
            if document is not None:
                found.append(destination_from_record(document))
        return sorted(found, key=lambda d: d.name)

    def put_destination(self, destination: Destination) -> bool:
        path = self._destination_path(destination.name)
        with self._locked():
            if not path.exists():
                return False
            self._write(path, destination_record(destination))
            return True

    def change_destination(
        self, name: str, change: Callable[[Destination], Destination]
    ) -> tuple[Destination, Destination] | None:
        with self._locked():
            before = self.get_destination(name)
            if before is None:
                return None
            after = change(before)
            if after != before:
                self._write(self._destination_path(name), destination_record(after))
            return before, after

    def remove_destination(self, name: str) -> bool:
        path = self._destination_path(name)
        with self._locked():
            if not path.exists():
                return False
            waiting = [d.name for d in self.list_destinations() if name in d.waits_for]
            if waiting:
                raise DestinationConflict(waited_for_message(name, waiting))
            mine = [j for j in self._every_job() if j.destination == name]
            open_jobs = sum(j.outcome is None for j in mine)
            if open_jobs:
                raise DestinationConflict(open_jobs_message(name, open_jobs))
            with self._all_or_nothing():
                for task_id in {j.task_id for j in mine}:
                    rest = [j for j in self._jobs_of(task_id) if j.destination != name]
                    self._put_jobs(task_id, rest)
                self._delete(path)
            return True

    # -- jobs -----------------------------------------------------------------------------------

    def write_actioned(
        self, changes: Sequence[tuple[DeletionTask, Sequence[Job]]]
    ) -> frozenset[str]:
        rejected: set[str] = set()
        with self._locked(), self._all_or_nothing():
            for task, jobs in changes:
                stored = {j.job_id: j for j in self._jobs_of(task.task_id)}
                new = [j for j in jobs if j.job_id not in stored]
                if new:
                    self._put_jobs(task.task_id, [*stored.values(), *new])
                if self._update_locked([task]):
                    rejected.add(task.task_id)
                    if new:  # nothing of a refused task stays
                        self._put_jobs(task.task_id, list(stored.values()))
        return frozenset(rejected)

    def get_job(self, job_id: str) -> Job | None:
        jobs = (j for task_id in self._tasks_of_jobs([job_id]) for j in self._jobs_of(task_id))
        return next((j for j in jobs if j.job_id == job_id), None)

    def task_jobs(self, task_id: str) -> list[Job]:
        return self._jobs_of(task_id)

    def claim_jobs(
        self, destination: str, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Job]:
        with self._locked():
            found = self.get_destination(destination)
            if found is None or found.paused:
                return []
            sendable = [
                j for j in self._every_job() if j.destination == destination and j.sendable(now)
            ]
            sendable.sort(key=lambda j: (j.created_time, j.job_id))
            claimed = []
            for job in sendable[:limit]:
                taken = _claimed(job, holder, until)
                self._replace(taken)
                claimed.append(taken)
            return claimed

    def _replace(self, *changed: Job) -> None:
        by_task: dict[str, list[Job]] = {}
        for job in changed:
            by_task.setdefault(job.task_id, []).append(job)
        for task_id, jobs in by_task.items():
            ids = {j.job_id for j in jobs}
            self._put_jobs(
                task_id, [j for j in self._jobs_of(task_id) if j.job_id not in ids] + jobs
            )

    def _settle_attempt(self, job_id: str, holder: str, change: Callable[[Job], Job]) -> Job | None:
        with self._locked():
            job = self.get_job(job_id)
            if job is None or job.state is not JobState.CLAIMED or job.holder != holder:
                return None
            job = change(job)
            self._replace(job)
            return job

    def mark_delivered(self, job_id: str, holder: str) -> Job | None:
        return self._settle_attempt(job_id, holder, delivered)

    def change_job(self, job_id: str, change: Callable[[Job], Job]) -> Job | None:
        with self._locked():
            job = self.get_job(job_id)
            if job is None:
                return None
            job = changed_job(job, change)
            self._replace(job)
            return job

    def mark_attempt_failed(
        self, job_id: str, holder: str, error: str, retry_at: dt.datetime
    ) -> Job | None:
        return self._settle_attempt(job_id, holder, lambda j: attempt_failed(j, error, retry_at))

    def record_outcomes(
        self, reports: Sequence[Report], at: dt.datetime, complete: Complete
    ) -> list[Recorded]:
        with self._locked():
            wanted = {r.job_id for r in reports}
            task_ids = self._tasks_of_jobs(wanted)
            jobs = [job for task_id in sorted(task_ids) for job in self._jobs_of(task_id)]
            found = {task_id: self.get(task_id) for task_id in task_ids}
            tasks = {task_id: task for task_id, task in found.items() if task is not None}
            batch = apply_reports(reports, jobs, lambda _: tasks, at, complete)
            with self._all_or_nothing():
                if batch.jobs:
                    self._replace(*batch.jobs)
                if batch.tasks:
                    written = {t.task_id for t in batch.tasks} - self._update_locked(batch.tasks)
                    check_written(batch, written)
            return list(batch.recorded)

    def job_counts(self) -> dict[str, JobCounts]:
        return count_jobs(self._every_job())


def _claimed(job: Job, holder: str, until: dt.datetime) -> Job:
    return attrs.evolve(job, state=JobState.CLAIMED, holder=holder, lease_until=until)
