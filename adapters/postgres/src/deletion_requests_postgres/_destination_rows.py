"""The PostgreSQL store's destination and job rows: their columns, and a `Destination` or a
`Job` to its row and back (a row that cannot be read is a `StoreError` naming it)."""

from __future__ import annotations

from typing import Any

from deletion_requests import Destination, Job, JobState, Mode, Outcome, OutcomeKind, StoreError

DESTINATION_COLUMNS = (
    "name, mode, created_time, webhook_url, secret, credential_digest, accounts, waits_for, "
    "paused, changed_by, changed_time, failures, failing_since, last_error"
)
JOB_COLUMNS = (
    "job_id, task_id, destination, created_time, state, waits_for, outcome, reason, "
    "outcome_time, attempts, last_error, holder, lease_until"
)
JOB_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def destination_row(d: Destination) -> tuple[object, ...]:
    return (
        d.name,
        d.mode.value,
        d.created_time,
        d.webhook_url,
        d.secret,
        d.credential_digest,
        None if d.accounts is None else sorted(d.accounts),
        sorted(d.waits_for),
        d.paused,
        d.changed_by,
        d.changed_time,
        d.failures,
        d.failing_since,
        d.last_error,
    )


def destination_from_row(row: tuple[Any, ...]) -> Destination:
    try:
        name, mode, created, url, secret, digest, accounts, waits, paused = row[:9]
        return Destination(
            name,
            Mode(mode),
            created,
            url,
            secret,
            digest,
            accounts,
            frozenset(waits),
            paused,
            *row[9:],
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"destination row {row[0]!r} cannot be read: {exc}") from exc


def job_row(job: Job) -> tuple[object, ...]:
    return (
        job.job_id,
        job.task_id,
        job.destination,
        job.created_time,
        job.state.value,
        sorted(job.waits_for),
        None if job.outcome is None else job.outcome.kind.value,
        "" if job.outcome is None else job.outcome.reason,
        job.outcome_time,
        job.attempts,
        job.last_error,
        job.holder,
        job.lease_until,
    )


def job_from_row(row: tuple[Any, ...]) -> Job:
    try:
        job_id, task_id, dest, created, state, waits, outcome, reason, at = row[:9]
        attempts, error, holder, lease = row[9:]
        return Job(
            job_id,
            task_id,
            dest,
            created,
            JobState(state),
            frozenset(waits),
            None if outcome is None else Outcome(OutcomeKind(outcome), reason),
            at,
            attempts,
            error,
            holder,
            lease,
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"job row {row[0]!r} cannot be read: {exc}") from exc
