"""What a batch of outcome reports changes, decided once for every store.

Stores load the jobs of the tasks the reports are about inside their write, call
`apply_reports`, and write what it answers (the jobs changed, the tasks changed) in that same
write; anything it raises leaves nothing written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import attrs

from ._destinations import Job, Outcome, UnknownJob, apply_outcome
from ._task import DeletionTask, as_successor

Complete = Callable[[DeletionTask, Sequence[Job]], DeletionTask]
"""Given a task and its jobs, every one final, the task's successor version (completed), or the
task itself when there is nothing to write. Stores call it inside their write, so it must not
call the store."""

TaskChange = Callable[[DeletionTask], DeletionTask]
"""A change of the task that goes with an outcome (an operator's history entry), applied in the
same write. It may raise, and then nothing is written; it must not call the store."""


@attrs.frozen
class Recorded:
    """What one outcome report did: the job as stored, whether the report only repeated its
    outcome, and the task when this outcome completed it (None otherwise)."""

    job: Job
    repeated: bool
    completed: DeletionTask | None = None


@attrs.frozen
class Report:
    """One outcome report: *outcome* for the job *job_id*. With *destination*, the job must be
    that destination's (`UnknownJob` otherwise). *change*, when given, changes the job's task
    in the same write whenever the outcome is new (not a repeat)."""

    job_id: str
    outcome: Outcome
    destination: str | None = None
    change: TaskChange | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Batch:
    """What `apply_reports` decided: the jobs and the tasks to write (each task the one version
    after the one loaded), and what each report did, in the reports' order."""

    jobs: tuple[Job, ...]
    tasks: tuple[DeletionTask, ...]
    recorded: tuple[Recorded, ...]


def unknown(report: Report) -> UnknownJob:
    if report.destination is None:
        return UnknownJob(f"no job {report.job_id}")
    return UnknownJob(f"destination {report.destination!r} has no job {report.job_id}")


def _sorted(jobs: Iterable[Job]) -> list[Job]:
    return sorted(jobs, key=lambda j: j.destination)


def apply_reports(
    reports: Sequence[Report],
    jobs: Iterable[Job],
    tasks_of: Callable[[Collection[str]], Mapping[str, DeletionTask]],
    at: dt.datetime,
    complete: Complete,
) -> Batch:
    """Apply *reports* in order to *jobs* (every job of each task a report is about).

    Each outcome is recorded as `apply_outcome` says (a repeat changes nothing, a different
    outcome for a final job raises `OutcomeConflict`); a report's `change` is applied to its
    task; and a task whose jobs are then all final, not yet completed, becomes
    `complete(task, jobs)`. *tasks_of* reads the tasks of the ids it is given as stored (one
    missing: none), once for the whole batch. Raises `UnknownJob`, `OutcomeConflict`, or what
    a change raises: the store writes nothing.
    """
    current: dict[str, Job] = {j.job_id: j for j in jobs}
    of_task: dict[str, list[str]] = {}
    for job in current.values():
        of_task.setdefault(job.task_id, []).append(job.job_id)
    changed: dict[str, Job] = {}
    # first the jobs, which need no task: (report, its job's task, repeated, all final)
    steps: list[tuple[Report, str, bool, bool]] = []
    for report in reports:
        found = current.get(report.job_id)
        if found is None or report.destination not in (None, found.destination):
            raise unknown(report)
        siblings = _sorted(current[i] for i in of_task[found.task_id])
        applied = apply_outcome(siblings, found.job_id, report.outcome, at)
        for one in applied.changed:
            current[one.job_id] = changed[one.job_id] = one
        steps.append((report, found.task_id, applied.repeated, applied.all_final))
    wanted = {
        task_id
        for report, task_id, repeated, all_final in steps
        if all_final or (report.change is not None and not repeated)
    }
    loaded = tasks_of(wanted) if wanted else {}
    # then the tasks, in the reports' order
    working: dict[str, DeletionTask] = {}
    recorded: list[Recorded] = []
    for report, task_id, repeated, all_final in steps:
        before = working.get(task_id, loaded.get(task_id))
        if before is not None and report.change is not None and not repeated:
            before = working[task_id] = report.change(before)
        completed = None
        if all_final and before is not None and before.completed_time is None:
            successor = complete(before, _sorted(current[i] for i in of_task[task_id]))
            if successor is not before:
                working[task_id] = completed = successor
        recorded.append(Recorded(current[report.job_id], repeated, completed))
    written = {task_id: as_successor(loaded[task_id], new) for task_id, new in working.items()}
    # a report's `completed` is the task as written (the version after the stored one)
    final = tuple(
        r if r.completed is None else attrs.evolve(r, completed=written[r.completed.task_id])
        for r in recorded
    )
    return Batch(tuple(changed.values()), tuple(written.values()), final)


def check_written(batch: Batch, written: Iterable[str]) -> None:
    """Raise when a store's compare-and-set did not write every task of *batch* (changed by
    another writer meanwhile): the store's write must then be rolled back."""
    from ._errors import StoreError

    missing = sorted({t.task_id for t in batch.tasks} - set(written))
    if missing:
        raise StoreError(
            f"task(s) {', '.join(missing)} changed while their outcomes were recorded; "
            "nothing was written, report again"
        )
