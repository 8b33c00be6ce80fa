"""A task's jobs as the background work, the deliveries and the use cases share them: the
advance that writes each actioned task with its jobs, a task's jobs and the outcome a client
sees, and the `default` destination's completion."""

from __future__ import annotations

from collections.abc import Sequence

from ._context import Context
from ._destinations import DEFAULT, Job, Outcome, OutcomeKind, job_id_for, jobs_for, summary
from ._outcome_reports import report
from ._port_destinations import Destinations
from ._status import Status
from ._task import DeletionTask, as_successor


def advance_with_jobs(context: Context, store: Destinations) -> int:
    """Store every transition time has made due, as `DeletionService.advance_due` does,
    writing each newly actioned task with one job per destination that serves it in the same
    write. Returns the tasks moved."""
    now = context.clock.now()
    cutoffs = context.policy.cutoffs(now)
    destinations = store.list_destinations()
    moved = 0
    while True:
        apps = context.callbacks()
        changes = []
        for task in context.store.due(*cutoffs, context.batch_size):
            new = context.owe(task, context.caught_up(task, now), apps)
            if new is task:
                continue
            new = as_successor(task, new)
            actioned = new.status is Status.ACTIONED and task.status is not Status.ACTIONED
            changes.append((task, new, jobs_for(new, destinations, now) if actioned else []))
        rejected = store.write_actioned([(new, jobs) for _, new, jobs in changes])
        written = [(old, new) for old, new, _ in changes if new.task_id not in rejected]
        for old, new in written:
            context.publish(old, new)
        moved += len(written)
        if not written:
            return moved


def task_jobs(context: Context, task_id: str) -> list[Job]:
    """The task's jobs, by destination name; none when the store keeps no destinations."""
    store = context.store
    return store.task_jobs(task_id) if isinstance(store, Destinations) else []


def task_outcome(task: DeletionTask, jobs: Sequence[Job]) -> str | None:
    """The one-word outcome a client sees for *task*, given its *jobs*: None until it is
    completed; then `summary(jobs)`, or `deleted` for a task without jobs (completed by the
    hand-off's deleter or an operator, who report the data deleted)."""
    if task.completed_time is None:
        return None
    return summary(jobs) if jobs else OutcomeKind.DELETED.value


def complete_default(
    context: Context, store: Destinations, task_id: str, by: str = "deleter"
) -> DeletionTask:
    """The hand-off completion of a task with jobs, reported by *by* (the deleter, an
    operator, an embedded sink): the `default` destination deleted."""
    job_id = job_id_for(task_id, DEFAULT)
    report(context, store, DEFAULT, job_id, Outcome(OutcomeKind.DELETED), by)
    return context.any_task(task_id)
