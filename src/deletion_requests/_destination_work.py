"""Use cases of destinations: managing them, actioning tasks with their jobs, claims by pull
destinations, and the outcomes that complete a task.

`DestinationWork` is built on a `DeletionService` and works through its context (its store,
clock, policy and callbacks), as `Operators` does. Its store must offer `Destinations`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from . import _breaker as breaker
from ._breaker import Breaker
from ._context import Context
from ._decisions import check_reason, operator_by
from ._destination_setup import check_webhook_url, configure_default, new_destination
from ._destinations import (
    DEFAULT,
    RETRIED,
    SKIPPED,
    Destination,
    Job,
    Mode,
    Outcome,
    OutcomeConflict,
    OutcomeKind,
    UnknownDestination,
    UnknownJob,
    job_id_for,
    rotation,
)
from ._errors import AuthenticationFailed, InvalidRequest, StoreError, TaskNotFound
from ._job_changes import retried
from ._outcome_reports import report, report_batch
from ._port_destinations import Destinations, Recorded
from ._task import HANDOFF, DeletionTask, Transition
from ._task_jobs import advance_with_jobs

if TYPE_CHECKING:
    from ._destination_push import JobSender, PushRound
    from ._service import DeletionService

log = logging.getLogger("deletion_requests.destinations")
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
    """The job is late: its task was due by the claim (`Job.late`)."""


@attrs.define
class DestinationWork:
    """What destinations do, and what operators do to them."""

    service: DeletionService
    claim_lease: dt.timedelta = CLAIM_LEASE
    breaker: Breaker = attrs.field(factory=Breaker)
    """When a push destination that keeps failing pauses itself."""

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
        """Store a new destination: its webhook URL one (`check_webhook_url`), every
        destination it waits for existing (`InvalidRequest`, checked by the store in the
        adding write), its name not taken (`DestinationConflict`)."""
        if destination.webhook_url is not None:
            check_webhook_url(destination.webhook_url)
        self.store.add_destination(destination)
        return destination

    def create(
        self,
        name: str,
        mode: Mode,
        webhook_url: str | None = None,
        accounts: Iterable[str] | None = None,
        waits_for: Iterable[str] = (),
        secret: str | None = None,
    ) -> tuple[Destination, str | None]:
        """`add` the `new_destination` these make now; returns it and the secret or
        credential made for it, to show once (None when *secret* was given)."""
        made, shown = new_destination(
            name, mode, self.context.clock.now(), webhook_url, accounts, waits_for, secret
        )
        return self.add(made), shown

    def get(self, name: str) -> Destination:
        found = self.store.get_destination(name)
        if found is None:
            raise UnknownDestination(name)
        return found

    def set_paused(self, name: str, paused: bool, operator: str) -> Destination:
        """Pause (nothing is sent; jobs stay owed) or resume a destination, recording the
        operator's name (`changed_by` is `operator:NAME`). A resume closes its breaker."""
        by, at = operator_by(operator), self.context.clock.now()
        changed = self.store.change_destination(
            name, lambda d: breaker.set_paused(d, paused, by, at)
        )
        if changed is None:
            raise UnknownDestination(name)
        before, after = changed
        done = "paused" if paused else "resumed"
        _logged(name, done, by, at, breaker_was_open=before.paused_by_breaker)
        return after

    def rotate(self, name: str, operator: str) -> tuple[Destination, str]:
        """Give destination *name* a new secret or credential (`rotated`), logged with the
        operator's name (`operator:NAME`); returns it and the new value, which only a push
        destination's store keeps (a credential's digest)."""
        by = operator_by(operator)
        rotated, shown = rotation(self.get(name))
        if not self.store.put_destination(rotated):
            raise UnknownDestination(name)
        _logged(name, "rotated", by, self.context.clock.now())
        return rotated, shown

    def remove(self, name: str, operator: str) -> None:
        """Remove a destination, logged with the operator's name (`operator:NAME`); refused
        while others wait for it or it has jobs without an outcome."""
        by = operator_by(operator)
        if not self.store.remove_destination(name):
            raise UnknownDestination(name)
        _logged(name, "removed", by, self.context.clock.now())

    def configure_default(self, url: str, secret: str) -> Destination:
        """Make the push destination `default` the hand-off's: *url* and *secret* (the
        service's `--handoff-url` and webhook secret). Added when missing; a stored `default`
        takes the new URL and secret and keeps the rest (paused or not, the accounts it
        serves, what it waits for). A pull destination named `default` is refused
        (`DestinationConflict`)."""
        return configure_default(self.store, url, secret, self.context.clock.now())

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
        tasks = self.context.store.get_many([job.task_id for job in jobs])
        return [
            Claimed(job, task, job.late(task, now))
            for job in jobs
            if (task := tasks.get(job.task_id)) is not None
        ]

    # -- outcomes -------------------------------------------------------------------------------

    def report(self, name: str, job_id: str, outcome: Outcome) -> Recorded:
        """The destination *name* reports *outcome* for its job *job_id*; the last outcome of a
        task completes it."""
        return report(self.context, self.store, name, job_id, outcome)

    def report_batch(self, name: str, outcomes: Sequence[tuple[str, Outcome]]) -> list[Recorded]:
        """The destination *name* reports each `(job_id, outcome)` of *outcomes*, all in one
        store write or none (`deletion_requests._outcome_reports.report_batch`)."""
        return report_batch(self.context, self.store, name, outcomes)

    def report_for_task(self, task_id: str, name: str, outcome: Outcome) -> Recorded:
        """`report` for the job of destination *name* for *task_id*."""
        if self.context.store.get(task_id) is None:
            raise TaskNotFound(task_id)
        self.get(name)
        return self.report(name, job_id_for(task_id, name), outcome)

    def _open_job(self, task_id: str, name: str) -> Job:
        """Destination *name*'s job for *task_id*: `TaskNotFound`, `UnknownDestination` or
        `UnknownJob` when any of them is missing."""
        if self.context.store.get(task_id) is None:
            raise TaskNotFound(task_id)
        self.get(name)
        job = self.store.get_job(job_id_for(task_id, name))
        if job is None:
            raise UnknownJob(f"task {task_id} has no job for destination {name!r}")
        return job

    def _decided(
        self, task_id: str, event: str, by: str, detail: str, resend: bool = False
    ) -> None:
        """Record an operator's decision on a job in its task's history (status unchanged);
        with *resend*, the task owes its hand-off again (a retry of the `default` job)."""

        def step(task: DeletionTask, at: dt.datetime) -> DeletionTask:
            entry = Transition(task.status, task.status, at, by, event, detail)
            outbox = task.outbox
            if resend and task.completed_time is None:
                outbox = outbox | {HANDOFF}
            return attrs.evolve(
                task, version=task.version + 1, history=(*task.history, entry), outbox=outbox
            )

        self.context.change(None, task_id, step)

    def skip(self, task_id: str, name: str, reason: str, operator: str) -> Recorded:
        """An operator gives up on destination *name*'s job for *task_id*: its outcome is
        `failed` with *reason*, and the task's history records `destination.skipped` with the
        operator's name (`operator:NAME`), its detail `NAME: reason`. A final job is refused
        (`OutcomeConflict`, saying its outcome) and nothing changes."""
        by = operator_by(operator)
        reason = check_reason(reason)
        job = self._open_job(task_id, name)
        if job.outcome is not None:
            raise OutcomeConflict(
                f"job {job.job_id} of destination {name!r} is final with the outcome "
                f"{job.outcome.kind.value}; a final job cannot be skipped"
            )
        outcome = Outcome(OutcomeKind.FAILED, reason)
        detail = f"{name}: {reason}"
        return report(self.context, self.store, name, job.job_id, outcome, by, (SKIPPED, detail))

    def retry(self, task_id: str, name: str, reason: str, operator: str) -> Job:
        """An operator sends destination *name*'s job for *task_id* again: it is owed now (no
        claim, no backoff), its attempts and last error kept, and the task's history records
        `destination.retried` by `operator:NAME`, its detail `NAME: reason`. The `default`
        job's task owes its hand-off again, without waiting out the backoff of its failures.
        A final job is refused (`OutcomeConflict`) and nothing changes."""
        by = operator_by(operator)
        reason = check_reason(reason)
        job = self._open_job(task_id, name)
        changed = self.store.change_job(job.job_id, retried)
        if changed is None:
            raise UnknownJob(f"task {task_id} has no job for destination {name!r}")
        self._decided(task_id, RETRIED, by, f"{name}: {reason}", resend=name == DEFAULT)
        return changed

    def push_round(self, sender: JobSender, limit: int = 100) -> PushRound:
        """One round of push delivery (`deletion_requests._destination_push.push_round`)."""
        from ._destination_push import push_round

        return push_round(self.context, self.store, sender, limit, self.breaker)

    def jobs(self, task_id: str) -> list[Job]:
        """The task's jobs, by destination name."""
        return self.store.task_jobs(task_id)


def _logged(name: str, done: str, by: str, at: dt.datetime, **more: object) -> None:
    """The log record of an operator's change to destination *name*: *done* (`paused`,
    `resumed`, `rotated`, `removed`) by *by* (`operator:NAME`) at *at*, as event
    `destination.<done>`."""
    log.info(
        "destination %s %s by %s",
        name,
        done,
        by,
        extra={"destination": name, "event": f"destination.{done}", "by": by, "at": at.isoformat()}
        | more,
    )
