"""The audit export, as the CLI prints it and the console downloads it: every task with its
times, decisions and history, one JSON object a line or CSV. No identifier hashes unless asked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from deletion_requests import DeletionTask, Job
from deletion_requests.wire import task_detail_to_api, task_outcome

JobsOf = Callable[[str], list[Job]]
"""The jobs of a task, by its id (`DeletionService.jobs`)."""

EXPORT_FIELDS = [
    "taskId",
    "accountId",
    "status",
    "creationTime",
    "readyTime",
    "actionedTime",
    "cancelledTime",
    "heldTime",
    "dueTime",
    "completedTime",
    "purgedTime",
    "overdue",
    "createdBy",
    "outcome",
    "destinations",
    "history",
]


def task_json(task: DeletionTask, history: bool = False) -> dict[str, Any]:
    """A task for operators: the API's detail view (with `createdBy` and `purgedTime`, and the
    names and reasons of decisions), with or without its history. Never identifiers."""
    record: dict[str, Any] = task_detail_to_api(task, for_operators=True)
    if not history:
        record.pop("history")
    return record


def _iso(moment: Any) -> str | None:
    return None if moment is None else str(moment.isoformat())


def job_json(job: Job) -> dict[str, Any]:
    """One destination's job for operators: where it stands and what it reported."""
    return {
        "destination": job.destination,
        "state": job.state.value,
        "outcome": None if job.outcome is None else job.outcome.kind.value,
        "reason": None if job.outcome is None else job.outcome.reason or None,
        "outcomeTime": _iso(job.outcome_time),
        "attempts": job.attempts,
        "lastError": job.last_error or None,
        "waitsFor": sorted(job.waits_for),
        "leaseUntil": _iso(job.lease_until),
    }


def with_destinations(record: dict[str, Any], task: DeletionTask, jobs: list[Job]) -> None:
    """Add to *record* the task's one-word `outcome` and its `destinations` (`job_json`)."""
    record["outcome"] = task_outcome(task, jobs)
    record["destinations"] = [job_json(job) for job in jobs]


def _record(task: DeletionTask, with_hashes: bool, jobs_of: JobsOf | None) -> dict[str, Any]:
    record = task_json(task, history=True)
    with_destinations(record, task, [] if jobs_of is None else jobs_of(task.task_id))
    if with_hashes:
        record["identifiers"] = sorted(task.identifiers)
    return record


def export_jsonl(
    tasks: Iterable[DeletionTask], with_hashes: bool = False, jobs_of: JobsOf | None = None
) -> Iterator[str]:
    """One line of JSON a task, with its `outcome` and each destination's job (from
    *jobs_of*; none without it)."""
    for task in tasks:
        yield json.dumps(_record(task, with_hashes, jobs_of)) + "\n"


def export_csv(
    tasks: Iterable[DeletionTask], with_hashes: bool = False, jobs_of: JobsOf | None = None
) -> Iterator[str]:
    """A header line, then a line a task; lists (the destinations, the history) as JSON in
    their column."""
    fields = [*EXPORT_FIELDS, *(["identifiers"] if with_hashes else [])]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writeheader()
    yield taken()
    for task in tasks:
        record = _record(task, with_hashes, jobs_of)
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()}
        )
        yield taken()
