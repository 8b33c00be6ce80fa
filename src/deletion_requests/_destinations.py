"""Destinations and their jobs: the downstream systems that must act on every actioned task.

A `Destination` is a named system (the warehouse, the CRM, the backups) that receives each
actioned task it serves, by **push** (a signed webhook) or **pull** (it claims its work over
HTTP with credentials of its own). Each (task, destination) pair is one `Job`:

    owed -> delivered (push, the webhook answered 2xx) | claimed (pull, leased) -> final

A final job holds exactly one `Outcome`. Everything here is pure: stores persist jobs, and call
`apply_outcome` to decide what an outcome report changes. Jobs hold no identifier hashes: those
are read from the task when a job is sent, so the purge of a task removes them from its jobs.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable, Sequence

import attrs

from ._access import digest_secret
from ._clock import as_utc
from ._errors import DeletionRequestError, InvalidRequest
from ._secrets import new_credential, new_signing_secret
from ._task import DeletionTask, frozen_strings
from ._text import check_text

DEFAULT = "default"
"""The push destination that the service's single hand-off URL (`--handoff-url`) becomes."""
SKIPPED = "destination.skipped"
"""The history event of an operator giving up on a job (its outcome `failed`)."""
RETRIED = "destination.retried"
"""The history event of an operator sending a job again; its detail is `NAME: reason`."""

BREAKER = "breaker"
"""`Destination.changed_by` of a destination that its breaker paused."""

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
"""A destination's name, matched whole (`fullmatch`: a `$` would let a final newline in)."""
_JOB_NAMESPACE = uuid.UUID("6f1c7a52-8d3e-4d0c-9a43-2f7d4b1e0c55")


class Mode(enum.Enum):
    """How a destination gets its jobs."""

    PUSH = "push"
    PULL = "pull"


class JobState(enum.Enum):
    """Where a job stands. `OWED` jobs are the ones a destination is sent (or may claim)."""

    OWED = "owed"
    DELIVERED = "delivered"
    """Push: the webhook answered 2xx, which means received; the outcome comes later."""
    CLAIMED = "claimed"
    """Pull: leased to a worker of the destination until `lease_until`; an expired lease makes
    the job owed again."""
    FINAL = "final"

    @property
    def in_progress(self) -> bool:
        return self in (JobState.DELIVERED, JobState.CLAIMED)


class OutcomeKind(enum.Enum):
    """The words a destination (or an operator) reports a job's outcome with."""

    DELETED = "deleted"
    NOT_FOUND = "not_found"
    EXEMPT = "exempt"
    """Kept for a reason the law allows (a legal retention, say): the reason is required."""
    FAILED = "failed"
    """Given up on by an operator, with a reason; a destination cannot report it."""


REPORTED_WORDS = (OutcomeKind.DELETED, OutcomeKind.NOT_FOUND, OutcomeKind.EXEMPT)
"""The outcome words a destination may report (an operator may also give `failed`)."""
MAX_REASON = 500
"""The most characters an outcome's reason holds, as sent (before its ends are trimmed)."""


class UnknownDestination(DeletionRequestError):
    """No destination of that name."""

    error = "NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"no destination named {name!r}")
        self.name = name


class UnknownJob(DeletionRequestError):
    """No such job (for that task, or that destination)."""

    error = "NOT_FOUND"


class OutcomeConflict(DeletionRequestError):
    """The job is final with a different outcome; a job never gets two outcomes."""

    error = "CONFLICT"


class DestinationConflict(DeletionRequestError):
    """A destination of that name exists, or the change would leave one that cannot work
    (waiting for itself or for a destination that does not exist, removing one that owes or
    that others wait for)."""

    error = "CONFLICT"


@attrs.frozen
class Outcome:
    """One job's outcome: a word and, for `exempt` and `failed`, the reason."""

    kind: OutcomeKind
    reason: str = ""

    @classmethod
    def parse(cls, word: object, reason: object = None, *, operator: bool = False) -> Outcome:
        """The outcome a report names, or `InvalidRequest` naming what is wrong (an unknown
        word lists the words allowed). The reason is checked as sent, as the OpenAPI schema
        says (at most `MAX_REASON` characters, no control character), then its ends are
        trimmed; a blank reason is none."""
        allowed = REPORTED_WORDS + ((OutcomeKind.FAILED,) if operator else ())
        words = ", ".join(kind.value for kind in allowed)
        if not isinstance(word, str) or word not in {kind.value for kind in allowed}:
            raise InvalidRequest(f"outcome must be one of: {words}")
        kind = OutcomeKind(word)
        if reason is not None and not isinstance(reason, str):
            raise InvalidRequest("reason must be a string")
        given = reason or ""
        if len(given) > MAX_REASON:
            raise InvalidRequest(f"reason is longer than {MAX_REASON} characters")
        text = check_text(given, "reason").strip()
        if kind in (OutcomeKind.EXEMPT, OutcomeKind.FAILED) and not text:
            raise InvalidRequest(f"an outcome of {word} needs a reason")
        if kind in (OutcomeKind.DELETED, OutcomeKind.NOT_FOUND) and text:
            raise InvalidRequest(f"an outcome of {word} takes no reason")
        return cls(kind, text)


def _utc(value: dt.datetime) -> dt.datetime:
    return as_utc(value, "time")


def _utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else as_utc(value, "time")


def _accounts(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozen_strings(value)


@attrs.frozen
class Destination:
    """A downstream system that acts on every actioned task of the accounts it serves."""

    name: str
    mode: Mode
    created_time: dt.datetime = attrs.field(converter=_utc)
    webhook_url: str | None = None
    """Push only: where jobs are POSTed."""
    secret: str | None = attrs.field(default=None, repr=False)
    """Push only: the `whsec_` secret that signs the jobs sent and the outcomes received."""
    credential_digest: str | None = attrs.field(default=None, repr=False)
    """Pull only: the SHA-256 digest (hex) of the destination's credential."""
    accounts: frozenset[str] | None = attrs.field(default=None, converter=_accounts)
    """The accounts served; None serves every account."""
    waits_for: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_strings)
    """Destinations whose outcome for a task comes before this one is sent the task."""
    paused: bool = False
    """A paused destination is sent nothing; its jobs stay owed."""
    changed_by: str | None = None
    """Who last paused or resumed it: `operator:NAME`, or `breaker` when its breaker opened
    (None: nobody since it was added, or a pause recorded without a name)."""
    changed_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """When it was last paused or resumed."""
    failures: int = 0
    """Push: failed attempts in a row, across its jobs, since the last push it received."""
    failing_since: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """Push: when the first of those `failures` happened (None when there are none)."""
    last_error: str = ""
    """Push: the error of its last failed attempt (`HTTP 503`, `timeout`; never a body)."""

    def __attrs_post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise InvalidRequest(
                f"destination name {self.name!r} must be 1 to 63 lowercase letters, digits, "
                "'-' or '_', starting with a letter"
            )
        if self.mode is Mode.PUSH and (not self.webhook_url or not self.secret):
            raise InvalidRequest("a push destination needs a webhook URL and a whsec_ secret")
        if self.mode is Mode.PULL and not self.credential_digest:
            raise InvalidRequest("a pull destination needs a credential")
        if self.name in self.waits_for:
            raise InvalidRequest(f"destination {self.name!r} cannot wait for itself")

    @property
    def paused_by_breaker(self) -> bool:
        """Paused by its breaker (see `deletion_requests.Breaker`), not by an operator."""
        return self.paused and self.changed_by == BREAKER

    def serves(self, account_id: str) -> bool:
        return self.accounts is None or account_id in self.accounts

    def verify(self, credential: str) -> bool:
        """Constant-time check of a pull destination's *credential*."""
        if self.credential_digest is None:
            return False
        return hmac.compare_digest(digest_secret(credential), self.credential_digest)


@attrs.frozen
class Job:
    """What one destination owes one task."""

    job_id: str
    task_id: str
    destination: str
    created_time: dt.datetime = attrs.field(converter=_utc)
    state: JobState = JobState.OWED
    waits_for: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_strings)
    """The destinations of the same task still to report before this job may be sent."""
    outcome: Outcome | None = None
    outcome_time: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    attempts: int = 0
    last_error: str = ""
    holder: str | None = None
    lease_until: dt.datetime | None = attrs.field(default=None, converter=_utc_or_none)
    """Claimed: until when the claim holds. Owed after a failed push: not sent before it."""

    def sendable(self, now: dt.datetime) -> bool:
        """Whether a claim at *now* may take this job (its destination not being paused)."""
        if self.waits_for or self.state is JobState.FINAL or self.state is JobState.DELIVERED:
            return False
        return self.lease_until is None or self.lease_until <= now

    def late(self, task: DeletionTask, now: dt.datetime) -> bool:
        """Whether this job, of *task*, is late at *now*: it has no outcome yet and *task* is
        past its due time. The flag of the console's and `tasks show`'s destinations tables,
        and of a claim."""
        return self.outcome is None and task.past_due(now)


def delivered(job: Job) -> Job:
    """*job* after its push was received (a 2xx): delivered, one more attempt."""
    return attrs.evolve(
        job, state=JobState.DELIVERED, attempts=job.attempts + 1, holder=None, lease_until=None
    )


def attempt_failed(job: Job, error: str, retry_at: dt.datetime) -> Job:
    """*job* after a failed push: owed again, one more attempt, not sent before *retry_at*."""
    return attrs.evolve(
        job,
        state=JobState.OWED,
        attempts=job.attempts + 1,
        last_error=error,
        holder=None,
        lease_until=retry_at,
    )


def job_id_for(task_id: str, destination: str) -> str:
    """The one id of the job of *destination* for *task_id* (the same on every store): the
    version-5 UUID of `task_id/destination` in the jobs' namespace, as `uuid.uuid5` makes it,
    built from its SHA-1 directly (an advance makes one a job, so it is kept cheap)."""
    digest = bytearray(
        hashlib.sha1(
            _JOB_NAMESPACE.bytes + f"{task_id}/{destination}".encode(), usedforsecurity=False
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def jobs_for(task: DeletionTask, destinations: Iterable[Destination], at: dt.datetime) -> list[Job]:
    """The jobs an actioned *task* owes: one per destination serving its account. A job waits
    for those of its destination's `waits_for` that also serve the task."""
    serving = [d for d in destinations if d.serves(task.account_id)]
    names = {d.name for d in serving}
    return [
        Job(
            job_id_for(task.task_id, d.name),
            task.task_id,
            d.name,
            at,
            waits_for=d.waits_for & names,
        )
        for d in sorted(serving, key=lambda d: d.name)
    ]


@attrs.frozen
class Applied:
    """What an outcome report changes: the jobs to write, and whether it repeated a final one."""

    changed: tuple[Job, ...]
    repeated: bool
    all_final: bool


def apply_outcome(jobs: Sequence[Job], job_id: str, outcome: Outcome, at: dt.datetime) -> Applied:
    """Record *outcome* on the job *job_id* among a task's *jobs*.

    The job becomes final with *outcome*; the jobs of the task that waited for its destination
    wait for it no more. Repeating a final job's outcome changes nothing (`repeated`); a
    different one raises `OutcomeConflict`. `all_final` says whether every job of the task then
    has an outcome.
    """
    job = next((j for j in jobs if j.job_id == job_id), None)
    if job is None:
        raise UnknownJob(f"no job {job_id}")
    if job.outcome is not None:
        if job.outcome == outcome:
            return Applied((), True, all(j.outcome is not None for j in jobs))
        raise OutcomeConflict(
            f"job {job_id} of destination {job.destination!r} already has the outcome "
            f"{job.outcome.kind.value}; a job never gets two outcomes"
        )
    final = attrs.evolve(
        job, state=JobState.FINAL, outcome=outcome, outcome_time=at, holder=None, lease_until=None
    )
    changed = [final]
    for other in jobs:
        if other.job_id != job_id and job.destination in other.waits_for:
            changed.append(attrs.evolve(other, waits_for=other.waits_for - {job.destination}))
    after = {j.job_id: j for j in jobs} | {j.job_id: j for j in changed}
    return Applied(tuple(changed), False, all(j.outcome is not None for j in after.values()))


def summary(jobs: Iterable[Job]) -> str:
    """The one-word outcome a client sees for a completed task: `deleted` if any destination
    deleted, else `not_found` if any found nothing, else `exempt` (also when every job was
    given up on: nothing was deleted)."""
    kinds = {j.outcome.kind for j in jobs if j.outcome is not None}
    if OutcomeKind.DELETED in kinds:
        return OutcomeKind.DELETED.value
    if OutcomeKind.NOT_FOUND in kinds:
        return OutcomeKind.NOT_FOUND.value
    return OutcomeKind.EXEMPT.value


@attrs.frozen
class JobCounts:
    """One destination's jobs at a glance."""

    owed: int = 0
    in_progress: int = 0
    final: int = 0
    failed: int = 0
    oldest_open: dt.datetime | None = None
    """When the oldest job that has no outcome yet was created."""
    outcomes: dict[str, int] = attrs.field(factory=dict, hash=False)
    """Final jobs by outcome word (`deleted`, `not_found`, `exempt`, `failed`)."""


def open_jobs_message(name: str, count: int) -> str:
    """Why a destination that still owes jobs cannot be removed, and what to do instead."""
    return (
        f"destination {name!r} still has {count} job(s) without an outcome; pause it, and let "
        "it report them or have an operator skip them, before removing it"
    )


def waited_for_message(name: str, waiting: Iterable[str]) -> str:
    """Why a destination that others wait for cannot be removed, and what to do instead."""
    names = ", ".join(sorted(waiting))
    return (
        f"destination {name!r} is waited for by {names}, whose jobs would then wait forever; "
        f"remove {names} first (add them again without waiting for {name!r} to keep them), "
        f"then remove {name!r}"
    )


def rotation(destination: Destination) -> tuple[Destination, str]:
    """*destination* with a new secret (push: a new `whsec_` secret signs what is sent and what
    it reports) or credential (pull: the old one stops working once stored), and that value."""
    if destination.mode is Mode.PULL:
        shown = new_credential()
        return attrs.evolve(destination, credential_digest=digest_secret(shown)), shown
    shown = new_signing_secret()
    return attrs.evolve(destination, secret=shown), shown
