"""Push delivery: one round of sending the owed jobs of every push destination, at least once,
leased, with backoff, every attempt recorded on its job.

The `default` destination is left to the outbox's hand-off (`DeletionService.deliver`), which
sends it through the hand-off sink as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Protocol

import attrs
import orjson

from ._context import Context
from ._destination_work import report
from ._destinations import DEFAULT, Destination, Job, Mode, Outcome
from ._errors import DeletionRequestError
from ._handoff import DeliveryFailed
from ._policy import Policy
from ._port_destinations import Destinations
from ._task import DeletionTask


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
    """What one round did."""

    delivered: int = 0
    failed: int = 0
    reported: int = 0


def push_round(
    context: Context, store: Destinations, sender: JobSender, limit: int = 100
) -> PushRound:
    """Send up to *limit* owed jobs of each active push destination (but `default`)."""
    now = context.clock.now()
    delivered = failed = reported = 0
    for destination in store.list_destinations():
        if destination.mode is not Mode.PUSH or destination.paused or destination.name == DEFAULT:
            continue
        holder = context.holder
        for job in store.claim_jobs(destination.name, holder, now, now + context.lease, limit):
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
                failed += 1
                continue
            store.mark_delivered(job.job_id, holder)
            delivered += 1
            if outcome is not None:
                try:
                    report(context, store, destination.name, job.job_id, outcome)
                    reported += 1
                except DeletionRequestError:
                    # A different outcome already recorded stays; this job stays delivered.
                    continue
    return PushRound(delivered, failed, reported)
