"""The audit export, as the CLI prints it and the console downloads it: every task with its
times, decisions and history, one JSON object a line or CSV. No identifier hashes unless asked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from deletion_requests import DeletionTask, task_detail_to_api

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
    "history",
]


def task_json(task: DeletionTask, history: bool = False) -> dict[str, Any]:
    """A task for operators: the API's detail view (with `createdBy` and `purgedTime`, and the
    names and reasons of decisions), with or without its history. Never identifiers."""
    record: dict[str, Any] = task_detail_to_api(task, for_operators=True)
    if not history:
        record.pop("history")
    return record


def _record(task: DeletionTask, with_hashes: bool) -> dict[str, Any]:
    record = task_json(task, history=True)
    if with_hashes:
        record["identifiers"] = sorted(task.identifiers)
    return record


def export_jsonl(tasks: Iterable[DeletionTask], with_hashes: bool = False) -> Iterator[str]:
    """One line of JSON a task."""
    for task in tasks:
        yield json.dumps(_record(task, with_hashes)) + "\n"


def export_csv(tasks: Iterable[DeletionTask], with_hashes: bool = False) -> Iterator[str]:
    """A header line, then a line a task; lists (the history) as JSON in their column."""
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
        record = _record(task, with_hashes)
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()}
        )
        yield taken()
