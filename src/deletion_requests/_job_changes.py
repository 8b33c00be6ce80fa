"""Changes to a job other than its outcome: an operator's retry, and the hand-off's record of
its attempts on the `default` job. Pure functions; stores apply them with
`Destinations.change_job`, which checks each with `changed_job`."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ._destinations import Job, JobState, OutcomeConflict


def changed_job(job: Job, change: Callable[[Job], Job]) -> Job:
    """`change(job)`, checked to be the same job with the same outcome: an outcome is given
    only by `apply_outcome`. Stores call this inside the write of `Destinations.change_job`."""
    new = change(job)
    if (new.job_id, new.task_id, new.destination) != (job.job_id, job.task_id, job.destination):
        raise ValueError("a change of a job must keep its id, task and destination")
    if (new.outcome, new.outcome_time) != (job.outcome, job.outcome_time):
        raise ValueError("a change of a job must not touch its outcome")
    if (new.state is JobState.FINAL) != (job.state is JobState.FINAL):
        raise ValueError("only an outcome makes a job final")
    return new


def retried(job: Job) -> Job:
    """*job* owed again now, by an operator: no claim, no backoff; its attempts and last error
    are kept. A final job is refused (`OutcomeConflict`)."""
    if job.outcome is not None:
        raise OutcomeConflict(
            f"job {job.job_id} of destination {job.destination!r} is final with the outcome "
            f"{job.outcome.kind.value}; a final job cannot be retried"
        )
    return attrs.evolve(job, state=JobState.OWED, holder=None, lease_until=None)


def handed_off(job: Job) -> Job:
    """The `default` job after the outbox delivered its task's hand-off: delivered, one more
    attempt (unchanged once it has an outcome)."""
    if job.outcome is not None:
        return job
    return attrs.evolve(
        job, state=JobState.DELIVERED, attempts=job.attempts + 1, holder=None, lease_until=None
    )


def handoff_failed(job: Job, error: str) -> Job:
    """The `default` job after an attempt to deliver its task's hand-off failed: owed, one more
    attempt, *error* its last error (unchanged once it has an outcome). The outbox's backoff
    says when the hand-off is tried again."""
    if job.outcome is not None:
        return job
    return attrs.evolve(
        job,
        state=JobState.OWED,
        attempts=job.attempts + 1,
        last_error=error,
        holder=None,
        lease_until=None,
    )
