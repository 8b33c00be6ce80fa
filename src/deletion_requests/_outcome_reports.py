"""Outcome reports: one job's (`report`) and a pull destination's batch (`report_batch`),
each one store write with the completion of every task it leaves with all its jobs final."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence

import attrs

from . import _handoff as handoff
from ._callbacks import Callback
from ._context import Context
from ._destinations import Job, Outcome
from ._errors import InvalidRequest
from ._outcome_batch import Complete, Recorded, Report
from ._port_destinations import Destinations
from ._task import DeletionTask, Transition

MAX_BATCH = 1000
"""The most outcomes one batch report may hold (as many as one claim takes)."""


def report(
    context: Context,
    store: Destinations,
    name: str,
    job_id: str,
    outcome: Outcome,
    by: str | None = None,
    noted: tuple[str, str] | None = None,
) -> Recorded:
    """Destination *name* reports *outcome* for its job *job_id* (`UnknownJob` when it has
    none); the outcome that leaves every job of the task final completes the task, in the same
    write, recorded as *by* (`destination:NAME` unless given). With *noted* (an event and its
    detail), the task's history records it by *by* in that same write."""
    now = context.clock.now()
    by = by or f"destination:{name}"
    change = None if noted is None else functools.partial(_noted, now=now, by=by, noted=noted)
    complete = _completer(context, now, by)
    return store.record_outcome(job_id, outcome, now, complete, name, change)


def report_batch(
    context: Context, store: Destinations, name: str, outcomes: Sequence[tuple[str, Outcome]]
) -> list[Recorded]:
    """Destination *name* reports each `(job_id, outcome)` of *outcomes* in one store write,
    completing every task whose jobs it leaves all final. Nothing is written when any is
    refused: more than `MAX_BATCH`, none, or one job twice (`InvalidRequest`); a job that is
    not *name*'s (`UnknownJob`); a different outcome for a final job (`OutcomeConflict`)."""
    if not 1 <= len(outcomes) <= MAX_BATCH:
        raise InvalidRequest(f"a batch holds 1 to {MAX_BATCH} outcomes, not {len(outcomes)}")
    seen: dict[str, int] = {}
    for index, (job_id, _) in enumerate(outcomes):
        if job_id in seen:
            raise InvalidRequest(
                f"outcomes[{index}]: job {job_id} is reported twice (first at "
                f"outcomes[{seen[job_id]}])"
            )
        seen[job_id] = index
    now = context.clock.now()
    reports = [Report(job_id, outcome, name) for job_id, outcome in outcomes]
    return store.record_outcomes(reports, now, _completer(context, now, f"destination:{name}"))


def _completer(context: Context, now: dt.datetime, by: str) -> Complete:
    apps = context.callbacks()  # read before the store's write: `complete` runs inside it
    return functools.partial(_completed, context, now=now, by=by, apps=apps)


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
    return context.owe(task, done, apps)


def _noted(task: DeletionTask, now: dt.datetime, by: str, noted: tuple[str, str]) -> DeletionTask:
    """*task* with the history entry *noted* by *by* (its status unchanged)."""
    event, detail = noted
    entry = Transition(task.status, task.status, now, by, event, detail)
    return attrs.evolve(task, history=(*task.history, entry))
