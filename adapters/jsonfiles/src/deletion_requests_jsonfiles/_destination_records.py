"""The JSON files store's destination and job records: a `Destination` or a `Job` to its
document and back (a record that cannot be read raises what `BAD_RECORD` names)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from deletion_requests import Destination, Job, JobState, Mode, Outcome, OutcomeKind


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def time_of(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def job_record(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "task_id": job.task_id,
        "destination": job.destination,
        "created_time": job.created_time.isoformat(),
        "state": job.state.value,
        "waits_for": sorted(job.waits_for),
        "outcome": None if job.outcome is None else job.outcome.kind.value,
        "reason": "" if job.outcome is None else job.outcome.reason,
        "outcome_time": iso(job.outcome_time),
        "attempts": job.attempts,
        "last_error": job.last_error,
        "holder": job.holder,
        "lease_until": iso(job.lease_until),
    }


def job_from_record(record: dict[str, Any]) -> Job:
    outcome = record["outcome"]
    created = time_of(record["created_time"])
    assert created is not None
    return Job(
        record["job_id"],
        record["task_id"],
        record["destination"],
        created,
        JobState(record["state"]),
        frozenset(record["waits_for"]),
        None if outcome is None else Outcome(OutcomeKind(outcome), record["reason"]),
        time_of(record["outcome_time"]),
        int(record["attempts"]),
        record["last_error"],
        record["holder"],
        time_of(record["lease_until"]),
    )


def destination_record(d: Destination) -> dict[str, Any]:
    return {
        "name": d.name,
        "mode": d.mode.value,
        "created_time": d.created_time.isoformat(),
        "webhook_url": d.webhook_url,
        "secret": d.secret,
        "credential_digest": d.credential_digest,
        "accounts": None if d.accounts is None else sorted(d.accounts),
        "waits_for": sorted(d.waits_for),
        "paused": d.paused,
        "changed_by": d.changed_by,
        "changed_time": iso(d.changed_time),
        "failures": d.failures,
        "failing_since": iso(d.failing_since),
        "last_error": d.last_error,
    }


def destination_from_record(record: dict[str, Any]) -> Destination:
    created = time_of(record["created_time"])
    assert created is not None
    accounts = record["accounts"]
    return Destination(
        record["name"],
        Mode(record["mode"]),
        created,
        record["webhook_url"],
        record["secret"],
        record["credential_digest"],
        None if accounts is None else frozenset(accounts),
        frozenset(record["waits_for"]),
        bool(record["paused"]),
        # Documents written before the breaker have none of these: read as never changed.
        record.get("changed_by"),
        time_of(record.get("changed_time")),
        int(record.get("failures", 0)),
        time_of(record.get("failing_since")),
        record.get("last_error", ""),
    )
