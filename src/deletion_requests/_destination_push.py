"""Push delivery: one round of sending the owed jobs of every push destination, at least once,
leased, with backoff, every attempt recorded on its job.

The `default` destination is left to the outbox's hand-off (`DeletionService.deliver`), which
sends it through the hand-off sink.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import orjson

from ._breaker import Breaker, received
from ._breaker import opened as breaker_opened
from ._context import Context, Deliveries
from ._destinations import BREAKER, DEFAULT, Destination, Job, Mode, Outcome
from ._errors import DeletionRequestError
from ._handoff import DeliveryFailed
from ._outcome_reports import report
from ._policy import Policy
from ._port_destinations import Destinations
from ._task import DeletionTask

log = logging.getLogger("deletion_requests.destinations")


class JobSender(Protocol):
    """Sends one job to a push destination. Returns the outcome the destination gave in its
    2xx answer, or None (received, outcome to follow); raises `DeliveryFailed` (or any
    exception) when it was not received."""

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None: ...


def job_body(job: Job, task: DeletionTask, policy: Policy) -> bytes:
    """What a push destination receives: the job, its task, the hashes and the due time."""
    document: dict[str, Any] = {
        "type": "job",
        "jobId": job.job_id,
        "taskId": job.task_id,
        "destination": job.destination,
        "accountId": task.account_id,
        "identifiers": sorted(task.identifiers),
        "actionedTime": None if task.actioned_time is None else task.actioned_time.isoformat(),
        "dueTime": task.due_time.isoformat(),
    }
    return orjson.dumps(document)


def retry_at(job: Job, now: dt.datetime, base: dt.timedelta, cap: dt.timedelta) -> dt.datetime:
    """When a job that just failed its attempt `job.attempts + 1` may be sent again:
    exponential, capped, with a jitter in [0.5, 1) that is a hash of the job and attempt."""
    n = job.attempts + 1
    delay = min(cap, base * 2 ** min(n - 1, 40))
    seed = hashlib.sha256(f"{job.job_id}:{n}".encode()).digest()
    jitter = 0.5 + int.from_bytes(seed[:4], "big") / 2**33
    moment: dt.datetime = now + delay * jitter
    return moment


@attrs.frozen
class PushRound:
    """What one round did; `opened` holds the destinations whose breaker it opened."""

    delivered: int = 0
    failed: int = 0
    reported: int = 0
    opened: tuple[Destination, ...] = ()


def push_groups(
    context: Context,
    store: Destinations,
    sender: JobSender,
    limit: int = 100,
    breaker: Breaker | None = None,
) -> list[Callable[[], Deliveries]]:
    """One group of work for each active push destination (but `default`): its owed jobs, up
    to *limit*, each sent to it in turn. A group ends at its destination's first failure,
    which counts in the destination's *breaker* (`Breaker()` unless given)."""
    breaker = Breaker() if breaker is None else breaker
    return [
        functools.partial(_push_to, context, store, sender, destination, limit, breaker)
        for destination in store.list_destinations()
        if destination.mode is Mode.PUSH and not destination.paused and destination.name != DEFAULT
    ]


def push_round(
    context: Context,
    store: Destinations,
    sender: JobSender,
    limit: int = 100,
    breaker: Breaker | None = None,
) -> PushRound:
    """Send up to *limit* owed jobs of each active push destination (but `default`), the
    destinations side by side in the context's `lanes` (see `push_groups`)."""
    done = Deliveries()
    for part in context.lanes.run(push_groups(context, store, sender, limit, breaker)):
        done.add(part)
    return PushRound(done.delivered, done.failed, done.reported, tuple(done.opened))


def _push_to(
    context: Context,
    store: Destinations,
    sender: JobSender,
    destination: Destination,
    limit: int,
    breaker: Breaker,
) -> Deliveries:
    """Up to *limit* of *destination*'s owed jobs, each leased to this service just before it
    is sent (so the lease outlasts the attempt), until the first that fails: the rest most
    likely would too, and wait for the next round.

    A failed attempt counts in the destination's *breaker*; when that opens it, the
    destination is paused (its jobs stay owed) and a warning is logged. A received push
    closes the count."""
    done = Deliveries()
    name, holder = destination.name, context.holder
    failing = destination.failures > 0
    for _ in range(limit):
        now = context.clock.now()
        claimed = store.claim_jobs(name, holder, now, now + context.lease, 1)
        if not claimed:
            break
        job = claimed[0]
        task = context.store.get(job.task_id)
        if task is None:
            continue
        try:
            outcome = sender.send(destination, job, job_body(job, task, context.policy))
        except Exception as exc:  # noqa: BLE001 (any failure of a send is a failed attempt)
            detail = exc.detail if isinstance(exc, DeliveryFailed) else type(exc).__name__
            backoff = context.backoff
            store.mark_attempt_failed(
                job.job_id, holder, detail, retry_at(job, now, backoff.base, backoff.cap)
            )
            done.failed += 1
            changed = store.change_destination(
                name, functools.partial(breaker.failed, error=detail, at=now)
            )
            if changed is not None and breaker_opened(*changed):
                done.opened.append(changed[1])
                _log_opened(changed[1])
            break
        store.mark_delivered(job.job_id, holder)
        done.delivered += 1
        if failing:
            store.change_destination(name, received)
            failing = False
        if outcome is not None:
            try:
                report(context, store, name, job.job_id, outcome)
                done.reported += 1
            except DeletionRequestError:
                # A different outcome already recorded stays; this job stays delivered.
                continue
    return done


def _log_opened(destination: Destination) -> None:
    since, at = destination.failing_since, destination.changed_time
    log.warning(
        "destination %s paused by its breaker: %d failed attempts in a row since %s, the last "
        "%s; its jobs stay owed until an operator resumes it",
        destination.name,
        destination.failures,
        None if since is None else since.isoformat(),
        destination.last_error,
        extra={
            "destination": destination.name,
            "event": "destination.breaker_opened",
            "by": BREAKER,
            "at": None if at is None else at.isoformat(),
            "failures": destination.failures,
            "reason": destination.last_error,
        },
    )
