"""Use cases of destinations: managing them, actioning tasks with their jobs, claims by pull
destinations, and the outcomes that complete a task.

`DestinationWork` is built on a `DeletionService` and works through its context (its store,
clock, policy and callbacks), as `Operators` does. Its store must offer `Destinations`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from . import _handoff as handoff
from ._callbacks import Callback
from ._context import Context
from ._destinations import (
    DEFAULT,
    Destination,
    Job,
    Mode,
    Outcome,
    OutcomeKind,
    UnknownDestination,
    UnknownJob,
    job_id_for,
    jobs_for,
)
from ._due_dates import job_is_late
from ._errors import AuthenticationFailed, InvalidRequest, StoreError, TaskNotFound
from ._port_destinations import Destinations, Recorded
from ._status import Status
from ._task import DeletionTask, Transition, as_successor

if TYPE_CHECKING:
    from ._destination_push import JobSender, PushRound
    from ._service import DeletionService

MAX_CLAIM = 1000
"""The most jobs one claim may take."""
CLAIM_LEASE = dt.timedelta(minutes=10)
"""How long a pull destination's claim holds before its jobs are owed again."""


@attrs.frozen
class Claimed:
    """A claimed job and the identifier hashes the destination must act on."""

    job: Job
    task: DeletionTask
    late: bool = False
    """The job is late: its task was due by the claim (`job_is_late`)."""


@attrs.define
class DestinationWork:
    """What destinations do, and what operators do to them."""

    service: DeletionService
    claim_lease: dt.timedelta = CLAIM_LEASE

    @property
    def context(self) -> Context:
        return self.service.context

    @property
    def store(self) -> Destinations:
        store = self.context.store
        if not isinstance(store, Destinations):
            raise StoreError(f"{type(store).__name__} keeps no destinations")
        return store

    # -- operators ----------------------------------------------------------------------------

    def add(self, destination: Destination) -> Destination:
        """Store a new destination; every destination it waits for must exist."""
        known = {d.name for d in self.store.list_destinations()}
        missing = sorted(destination.waits_for - known)
        if missing:
            raise InvalidRequest(
                f"destination {destination.name!r} waits for unknown destination(s): "
                + ", ".join(missing)
            )
        self.store.add_destination(destination)
        return destination

    def get(self, name: str) -> Destination:
        found = self.store.get_destination(name)
        if found is None:
            raise UnknownDestination(name)
        return found

    def set_paused(self, name: str, paused: bool) -> Destination:
        """Pause (nothing is sent; jobs stay owed) or resume a destination."""
        destination = attrs.evolve(self.get(name), paused=paused)
        if not self.store.put_destination(destination):
            raise UnknownDestination(name)
        return destination

    def remove(self, name: str) -> None:
        """Remove a destination; refused while it has jobs without an outcome."""
        if not self.store.remove_destination(name):
            raise UnknownDestination(name)

    # -- actioning ------------------------------------------------------------------------------

    def advance_due(self) -> int:
        """`advance_with_jobs` on this service's context."""
        return advance_with_jobs(self.context, self.store)

    # -- pull -----------------------------------------------------------------------------------

    def authenticate(self, name: str, credential: str) -> Destination:
        """The pull destination *name*, when *credential* is its own; `AuthenticationFailed`
        otherwise (another destination's credential included)."""
        destination = self.store.get_destination(name)
        if destination is None or destination.mode is not Mode.PULL:
            raise UnknownDestination(name)
        if not destination.verify(credential):
            raise AuthenticationFailed(f"the credential is not destination {name!r}'s")
        return destination

    def claim(self, name: str, limit: int) -> list[Claimed]:
        """Lease up to *limit* of the destination's owed jobs for `claim_lease`, with the
        tasks (and so the hashes) they are about."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_CLAIM:
            raise InvalidRequest(f"limit must be an integer from 1 to {MAX_CLAIM}")
        now = self.context.clock.now()
        jobs = self.store.claim_jobs(name, name, now, now + self.claim_lease, limit)
        claimed = []
        for job in jobs:
            task = self.context.store.get(job.task_id)
            if task is not None:
                claimed.append(Claimed(job, task, job_is_late(job, task, now)))
        return claimed

    # -- outcomes -------------------------------------------------------------------------------

    def report(self, name: str, job_id: str, outcome: Outcome) -> Recorded:
        """The destination *name* reports *outcome* for its job *job_id*; the last outcome of a
        task completes it."""
        return report(self.context, self.store, name, job_id, outcome)

    def report_for_task(self, task_id: str, name: str, outcome: Outcome) -> Recorded:
        """`report` for the job of destination *name* for *task_id*."""
        if self.context.store.get(task_id) is None:
            raise TaskNotFound(task_id)
        self.get(name)
        return self.report(name, job_id_for(task_id, name), outcome)

    def skip(self, task_id: str, name: str, reason: str, operator: str) -> Recorded:
        """An operator gives up on destination *name*'s job for *task_id*: its outcome is
        `failed` with *reason*, and the task's history records `destination.skipped` with the
        operator's name (`operator:NAME`). A final job is refused (`OutcomeConflict`)."""
        from ._operators import check_reason, operator_by  # _operators imports the service

        by = operator_by(operator)
        reason = check_reason(reason)
        if self.context.store.get(task_id) is None:
            raise TaskNotFound(task_id)
        self.get(name)
        job = self.store.get_job(job_id_for(task_id, name))
        if job is None:
            raise UnknownJob(f"task {task_id} has no job for destination {name!r}")
        outcome = Outcome(OutcomeKind.FAILED, reason)
        recorded = report(self.context, self.store, name, job.job_id, outcome)
        if recorded.repeated:
            return recorded
        detail = f"{name}: {reason}"

        def skipped(task: DeletionTask, at: dt.datetime) -> DeletionTask:
            step = Transition(task.status, task.status, at, by, "destination.skipped", detail)
            return attrs.evolve(task, version=task.version + 1, history=(*task.history, step))

        self.context.change(None, task_id, skipped)
        return recorded

    def push_round(self, sender: JobSender, limit: int = 100) -> PushRound:
        """One round of push delivery (`deletion_requests._destination_push.push_round`)."""
        from ._destination_push import push_round

        return push_round(self.context, self.store, sender, limit)

    def jobs(self, task_id: str) -> list[Job]:
        """The task's jobs, by destination name."""
        return self.store.task_jobs(task_id)


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


def report(
    context: Context, store: Destinations, name: str, job_id: str, outcome: Outcome
) -> Recorded:
    """Destination *name* reports *outcome* for its job *job_id*; the outcome that leaves
    every job of the task final completes the task, in the same write."""
    job = store.get_job(job_id)
    if job is None or job.destination != name:
        raise UnknownJob(f"destination {name!r} has no job {job_id}")
    now = context.clock.now()
    apps = context.callbacks()  # read before the store's write: `complete` runs inside it
    complete = functools.partial(_completed, context, now=now, by=f"destination:{name}", apps=apps)
    return store.record_outcome(job_id, outcome, now, complete)


def complete_default(context: Context, store: Destinations, task_id: str) -> DeletionTask:
    """The hand-off completion of a task with jobs: the `default` destination deleted."""
    report(context, store, DEFAULT, job_id_for(task_id, DEFAULT), Outcome(OutcomeKind.DELETED))
    return context.any_task(task_id)


def _completed(
    context: Context,
    task: DeletionTask,
    jobs: Sequence[Job],
    now: dt.datetime,
    by: str,
    apps: Mapping[str, Callback],
) -> DeletionTask:
    """*task* completed, owing its completion callback; the purge clock starts from it."""
    caught = context.caught_up(task, now)
    done = handoff.complete(caught, now, by)
    if done is caught:
        return task
    return as_successor(task, context.owe(task, done, apps))
