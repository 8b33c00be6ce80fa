"""Tasks as rows: the columns a task is read from, and the one statement (with its arrays)
that inserts a batch of new tasks with their identifiers, history and idempotency keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deletion_requests import DeletionTask
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict

TASK_COLUMNS = (
    "t.id, t.task_id, t.account_id, t.status, t.creation_time, t.ready_time, t.actioned_time, "
    "t.cancelled_time, t.created_by, t.version, t.outbox, t.completed_time, t.overdue_time, "
    "t.purged_time, t.held_time, t.due_time"
)
SUMMARY_COLUMNS = (
    "t.task_id, t.account_id, t.status, t.creation_time, t.ready_time, t.actioned_time, "
    "t.cancelled_time, t.completed_time, t.overdue_time, t.held_time, t.due_time"
)
"""The columns of a `TaskSummary`, in its fields' order."""


INSERT_BATCH = """
WITH n AS (
    SELECT * FROM unnest(
        %(task_id)s::text[], %(account_id)s::text[], %(status)s::text[],
        %(creation_time)s::timestamptz[], %(ready_time)s::timestamptz[],
        %(actioned_time)s::timestamptz[], %(cancelled_time)s::timestamptz[],
        %(created_by)s::text[], %(version)s::int[], %(outbox)s::text[],
        %(completed_time)s::timestamptz[], %(overdue_time)s::timestamptz[],
        %(purged_time)s::timestamptz[], %(held_time)s::timestamptz[],
        %(due_time)s::timestamptz[]
    ) AS n (task_id, account_id, status, creation_time, ready_time, actioned_time,
            cancelled_time, created_by, version, outbox, completed_time, overdue_time,
            purged_time, held_time, due_time)
), t AS (
    INSERT INTO tasks (task_id, account_id, status, creation_time, ready_time, actioned_time,
                       cancelled_time, created_by, version, outbox, completed_time,
                       overdue_time, purged_time, held_time, due_time)
    SELECT task_id, account_id, status, creation_time, ready_time, actioned_time,
           cancelled_time, created_by, version, string_to_array(outbox, ','),
           completed_time, overdue_time, purged_time, held_time, due_time FROM n
    RETURNING id, task_id
), i AS (
    INSERT INTO task_identifiers (task, hash)
    SELECT t.id, x.hash FROM unnest(%(identifier_task)s::text[], %(identifier)s::text[])
        AS x (task_id, hash) JOIN t ON t.task_id = x.task_id
), h AS (
    INSERT INTO task_history (task, seq, source, dest, at, by, event, detail)
    SELECT t.id, x.seq, x.source, x.dest, x.at, x.by, x.event, x.detail
    FROM unnest(%(history_task)s::text[], %(seq)s::int[], %(source)s::text[],
                %(dest)s::text[], %(at)s::timestamptz[], %(by)s::text[], %(event)s::text[],
                %(detail)s::text[])
        AS x (task_id, seq, source, dest, at, by, event, detail)
    JOIN t ON t.task_id = x.task_id
)
INSERT INTO idempotency_keys (scope, key, task_id)
SELECT * FROM unnest(%(scope)s::text[], %(key)s::text[], %(key_task)s::text[])
"""


class Add:
    """One queued add: the task, its key, and (once written) the error that refused it."""

    __slots__ = ("error", "key", "task")

    def __init__(self, task: DeletionTask, key: tuple[str, str] | None) -> None:
        self.task = task
        self.key = key
        self.error: DuplicateTask | IdempotencyKeyConflict | None = None


def batch_arguments(batch: Sequence[Add]) -> dict[str, list[Any]]:
    """The arrays `INSERT_BATCH` takes, by parameter name."""
    tasks = [
        (
            t.task_id,
            t.account_id,
            t.status.value,
            t.creation_time,
            t.ready_time,
            t.actioned_time,
            t.cancelled_time,
            t.created_by,
            t.version,
            ",".join(sorted(t.outbox)),
            t.completed_time,
            t.overdue_time,
            t.purged_time,
            t.held_time,
            t.due_time,
        )
        for t in (item.task for item in batch)
    ]
    identifiers = [(i.task.task_id, value) for i in batch for value in sorted(i.task.identifiers)]
    history = [
        (i.task.task_id, seq, s.source.value, s.dest.value, s.at, s.by, s.event, s.detail)
        for i in batch
        for seq, s in enumerate(i.task.history)
    ]
    keys = [(*i.key, i.task.task_id) for i in batch if i.key is not None]
    return {
        **_columns(_TASK_PARAMETERS, tasks),
        **_columns(("identifier_task", "identifier"), identifiers),
        **_columns(_HISTORY_PARAMETERS, history),
        **_columns(("scope", "key", "key_task"), keys),
    }


def _columns(names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, list[Any]]:
    return {name: [row[index] for row in rows] for index, name in enumerate(names)}


_TASK_PARAMETERS = [
    "task_id",
    "account_id",
    "status",
    "creation_time",
    "ready_time",
    "actioned_time",
    "cancelled_time",
    "created_by",
    "version",
    "outbox",
    "completed_time",
    "overdue_time",
    "purged_time",
    "held_time",
    "due_time",
]
_HISTORY_PARAMETERS = ["history_task", "seq", "source", "dest", "at", "by", "event", "detail"]
