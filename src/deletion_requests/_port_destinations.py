"""The destinations port: the downstream systems (`Destination`) and what each owes each
actioned task (`Job`).

A store that offers it also stores the tasks (the task port): jobs are written in the same
transaction as the task that owes them, and the completion of a task in the same one as its
last outcome.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Sequence

from ._destinations import Destination, Job, JobCounts, Outcome
from ._outcome_batch import Complete, Recorded, Report, TaskChange
from ._task import DeletionTask

__all__ = ["Complete", "Destinations", "Recorded", "Report", "TaskChange"]


class Destinations(abc.ABC):
    """Destinations and their jobs.

    Guarantees every implementation gives:

    - **Jobs with their task.** `write_actioned` writes each task (compare-and-set, as the task
      port's `update`) and its jobs in one transaction: a task is never actioned without its
      jobs, and jobs never exist for a task that was not written.
    - **One outcome.** `record_outcome` gives a job at most one outcome, however many callers
      report at once; a repeat of the same outcome changes nothing, a different one raises
      `OutcomeConflict` and changes nothing.
    - **Completion with the last outcome.** The outcome that leaves every job of a task final
      writes the completed task (from `complete`) in the same transaction.
    - **A batch in one write.** `record_outcomes` writes every outcome of a batch, the task
      changes that go with them and the completions they make in one transaction, or none.
    - **Exclusive claims.** Two claims never hold one job at once; a claim whose lease has run
      out can be taken over. Claims never take a job of a paused destination, nor one that
      still waits for another destination of its task.
    - **Threads.** Every method may be called from many threads at once.
    """

    # -- destinations ---------------------------------------------------------------------------

    @abc.abstractmethod
    def add_destination(self, destination: Destination) -> None:
        """Store a new destination; `DestinationConflict` when the name is taken, and
        `InvalidRequest` (`deletion_requests.stores.check_waits_for`) when a destination it
        waits for is not stored, checked in the same write, so that no removal can come
        between the check and the add. Nothing is stored when it raises."""

    @abc.abstractmethod
    def get_destination(self, name: str) -> Destination | None:
        """The destination of that name, or None."""

    @abc.abstractmethod
    def list_destinations(self) -> list[Destination]:
        """Every destination, by name."""

    @abc.abstractmethod
    def put_destination(self, destination: Destination) -> bool:
        """Replace the stored destination of the same name (a pause, a resume, a new secret or
        credential); False when there is none."""

    @abc.abstractmethod
    def change_destination(
        self, name: str, change: Callable[[Destination], Destination]
    ) -> tuple[Destination, Destination] | None:
        """Replace the destination *name* with `change(destination)` in one transaction, so
        that concurrent changes (a failure counted, a resume) are never lost; returns it
        before and after, or None when there is none. *change* must not call the store."""

    @abc.abstractmethod
    def remove_destination(self, name: str) -> bool:
        """Remove a destination and its final jobs; False when there is none. Refused with
        `DestinationConflict`, in the same transaction, while another destination waits for it
        (naming them) or it has jobs without an outcome (saying how many)."""

    # -- jobs -----------------------------------------------------------------------------------

    @abc.abstractmethod
    def write_actioned(
        self, changes: Sequence[tuple[DeletionTask, Sequence[Job]]]
    ) -> frozenset[str]:
        """Compare-and-set each task, with its jobs; returns the ids of the tasks *not*
        written (their jobs are not written either). A job whose id exists is left as it is."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> Job | None:
        """The job, or None."""

    @abc.abstractmethod
    def task_jobs(self, task_id: str) -> list[Job]:
        """The task's jobs, by destination name."""

    @abc.abstractmethod
    def claim_jobs(
        self, destination: str, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Job]:
        """Lease up to *limit* of *destination*'s sendable jobs (`Job.sendable` at *now*) to
        *holder* until *until*, oldest created first, and return them claimed. Nothing when the
        destination is paused or unknown."""

    @abc.abstractmethod
    def mark_delivered(self, job_id: str, holder: str) -> Job | None:
        """A push was received: *holder*'s claimed job becomes delivered, one more attempt.
        None (and nothing written) when *holder* no longer holds it."""

    @abc.abstractmethod
    def mark_attempt_failed(
        self, job_id: str, holder: str, error: str, retry_at: dt.datetime
    ) -> Job | None:
        """A push failed: *holder*'s claimed job is owed again, one more attempt, *error* as its
        last error, not sendable before *retry_at*. None when *holder* no longer holds it."""

    @abc.abstractmethod
    def change_job(self, job_id: str, change: Callable[[Job], Job]) -> Job | None:
        """Replace the job with `change(job)` in one write (see
        `deletion_requests._destinations.changed_job`: *change* may raise, and then nothing is
        written; it may not give, change or take away an outcome). Returns the job as stored,
        or None when there is no such job. Operators' retries and the hand-off's record of the
        `default` job use it."""

    def record_outcome(
        self,
        job_id: str,
        outcome: Outcome,
        at: dt.datetime,
        complete: Complete,
        destination: str | None = None,
        change: TaskChange | None = None,
    ) -> Recorded:
        """`record_outcomes` of the one `Report(job_id, outcome, destination, change)`."""
        return self.record_outcomes([Report(job_id, outcome, destination, change)], at, complete)[0]

    @abc.abstractmethod
    def record_outcomes(
        self, reports: Sequence[Report], at: dt.datetime, complete: Complete
    ) -> list[Recorded]:
        """Record every report, in order, in **one write** (see
        `deletion_requests._outcome_batch.apply_reports`): each job gets its outcome (a repeat
        of the same one changes nothing), each report's `change` is applied to its task, and
        a task whose jobs are then all final is written as `complete(task, jobs)`, all in that
        write. `UnknownJob` (no such job, or not the report's destination's),
        `OutcomeConflict`, or anything a `change` or *complete* raises: nothing is written.
        Returns what each report did, in order."""

    @abc.abstractmethod
    def job_counts(self) -> dict[str, JobCounts]:
        """`JobCounts` per destination that has jobs."""
