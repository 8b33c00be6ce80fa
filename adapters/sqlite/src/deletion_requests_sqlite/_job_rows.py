"""Destinations and jobs as the SQLite store's rows, and back."""

from __future__ import annotations

import datetime as dt

import orjson

from deletion_requests import (
    Destination,
    Job,
    JobState,
    Mode,
    Outcome,
    OutcomeKind,
    StoreError,
)

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

DESTINATION_COLUMNS = (
    "name, mode, created_us, webhook_url, secret, credential_digest, accounts, waits_for, paused, "
    "changed_by, changed_us, failures, failing_since_us, last_error"
)
DESTINATION_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
JOB_COLUMNS = (
    "job_id, task_id, destination, created_us, state, waits_for, outcome, reason, outcome_us, "
    "attempts, last_error, holder, lease_us"
)


def to_us(moment: dt.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)


def _names(value: frozenset[str]) -> str:
    return ",".join(sorted(value))


def _name_set(value: str) -> frozenset[str]:
    return frozenset(value.split(",")) if value else frozenset()


def destination_row(d: Destination) -> tuple[object, ...]:
    accounts = None if d.accounts is None else orjson.dumps(sorted(d.accounts)).decode()
    return (
        d.name,
        d.mode.value,
        to_us(d.created_time),
        d.webhook_url,
        d.secret,
        d.credential_digest,
        accounts,
        _names(d.waits_for),
        int(d.paused),
        d.changed_by,
        None if d.changed_time is None else to_us(d.changed_time),
        d.failures,
        None if d.failing_since is None else to_us(d.failing_since),
        d.last_error,
    )


def destination_from_row(row: tuple[object, ...]) -> Destination:
    try:
        name, mode, created, url, secret, digest, accounts, waits, paused = row[:9]
        changed_by, changed, failures, since, error = row[9:]
        return Destination(
            str(name),
            Mode(mode),
            from_us(int(str(created))),
            None if url is None else str(url),
            None if secret is None else str(secret),
            None if digest is None else str(digest),
            None if accounts is None else frozenset(orjson.loads(str(accounts))),
            _name_set(str(waits)),
            bool(paused),
            None if changed_by is None else str(changed_by),
            None if changed is None else from_us(int(str(changed))),
            int(str(failures)),
            None if since is None else from_us(int(str(since))),
            str(error),
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"destination row {row[0]!r} cannot be read: {exc}") from exc


def job_row(job: Job) -> tuple[object, ...]:
    return (
        job.job_id,
        job.task_id,
        job.destination,
        to_us(job.created_time),
        job.state.value,
        _names(job.waits_for),
        None if job.outcome is None else job.outcome.kind.value,
        "" if job.outcome is None else job.outcome.reason,
        None if job.outcome_time is None else to_us(job.outcome_time),
        job.attempts,
        job.last_error,
        job.holder,
        None if job.lease_until is None else to_us(job.lease_until),
    )


def job_from_row(row: tuple[object, ...]) -> Job:
    try:
        (job_id, task_id, dest, created, state, waits, outcome, reason, at, attempts, error) = row[
            :11
        ]
        holder, lease = row[11:]
        return Job(
            str(job_id),
            str(task_id),
            str(dest),
            from_us(int(str(created))),
            JobState(state),
            _name_set(str(waits)),
            None if outcome is None else Outcome(OutcomeKind(outcome), str(reason)),
            None if at is None else from_us(int(str(at))),
            int(str(attempts)),
            str(error),
            None if holder is None else str(holder),
            None if lease is None else from_us(int(str(lease))),
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"job row {row[0]!r} cannot be read: {exc}") from exc
