"""Tasks as rows: the columns, times as microseconds since the epoch, and the INSERT of new
tasks with their identifiers, history and idempotency keys."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from deletion_requests import DeletionTask, Status, TaskSummary
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = dt.timedelta(microseconds=1)

TASK_COLUMNS = (
    "task_id, account_id, status, creation_us, ready_us, actioned_us, cancelled_us, "
    "created_by, version, outbox, completed_us, overdue_us, purged_us, held_us, due_us"
)
SUMMARY_COLUMNS = (
    "task_id, account_id, status, creation_us, ready_us, actioned_us, cancelled_us, "
    "completed_us, overdue_us, held_us, due_us"
)
"""The columns of a `TaskSummary`, in its fields' order (`summary_from_row`)."""
HISTORY_COLUMNS = "task, seq, source, dest, at_us, by, event, detail"
READ_COLUMNS = "id, " + TASK_COLUMNS
# A new task's VALUES: a time it lacks is bound as '' and stored as NULL, since binding None costs
# `sqlite3` a failed adapter lookup (two AttributeErrors made and dropped) each time. An integer
# never equals ''.
_TASK_VALUES = "(?, ?, ?, ?, {0}, {0}, {0}, ?, ?, ?, {0}, {0}, {0}, {0}, ?)".format("nullif(?, '')")
_ONE_TASK = f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES {_TASK_VALUES}"  # noqa: S608
_ID_AND_TASK_VALUES = "(?, " + _TASK_VALUES.removeprefix("(")  # the row id first, for a batch


def to_us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


def from_us(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(0, 0, value)  # positional: (days, seconds, microseconds)


_STATUSES = {status.value: status for status in Status}


def status_of(value: str) -> Status:
    """The `Status` stored as *value*; `ValueError` for anything else."""
    try:
        return _STATUSES[value]
    except KeyError:
        raise ValueError(f"{value!r} is not a status") from None


def summaries_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[TaskSummary]:
    """The summaries of rows of `SUMMARY_COLUMNS`; `KeyError` for a status that is none,
    `TypeError` or `OverflowError` for a time that is not what the column holds."""
    statuses, epoch, delta = _STATUSES, EPOCH, dt.timedelta
    # `from_us` and `opt_time`, written out: they run eight times a row of a page.
    return [
        TaskSummary(
            task_id,
            account_id,
            statuses[status],
            epoch + delta(0, 0, creation),
            None if ready is None else epoch + delta(0, 0, ready),
            None if actioned is None else epoch + delta(0, 0, actioned),
            None if cancelled is None else epoch + delta(0, 0, cancelled),
            None if done is None else epoch + delta(0, 0, done),
            None if overdue is None else epoch + delta(0, 0, overdue),
            None if held is None else epoch + delta(0, 0, held),
            epoch + delta(0, 0, due),
        )
        for (
            task_id,
            account_id,
            status,
            creation,
            ready,
            actioned,
            cancelled,
            done,
            overdue,
            held,
            due,
        ) in rows
    ]


def opt_us(moment: dt.datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def opt_time(value: int | None) -> dt.datetime | None:
    return None if value is None else from_us(value)


def history_rows(row_id: int, task: DeletionTask) -> list[tuple[object, ...]]:
    return [
        (
            row_id,
            seq,
            step.source.value,
            step.dest.value,
            to_us(step.at),
            step.by,
            step.event,
            step.detail,
        )
        for seq, step in enumerate(task.history)
    ]


def _us_or_blank(moment: dt.datetime | None) -> int | str:
    return "" if moment is None else to_us(moment)


def _task_row(task: DeletionTask) -> tuple[object, ...]:
    """The values of TASK_COLUMNS for *task*, to insert with `_TASK_VALUES`."""
    return (
        task.task_id,
        task.account_id,
        task.status.value,
        to_us(task.creation_time),
        _us_or_blank(task.ready_time),
        _us_or_blank(task.actioned_time),
        _us_or_blank(task.cancelled_time),
        task.created_by,
        task.version,
        outbox_column(task),
        _us_or_blank(task.completed_time),
        _us_or_blank(task.overdue_time),
        _us_or_blank(task.purged_time),
        _us_or_blank(task.held_time),
        to_us(task.due_time),
    )


def _insert_rows(
    conn: sqlite3.Connection,
    into: str,
    rows: Sequence[tuple[object, ...]],
    group: str | None = None,
) -> None:
    """INSERT *rows* with one multi-row statement per chunk, not one statement per row: the
    thread then gives up and takes back the GIL once a chunk rather than once a row, which
    matters when it shares the GIL with a busy event loop. *group* is a row's VALUES (by
    default, a placeholder a column)."""
    if not rows:
        return
    width = len(rows[0])
    per_chunk = 30_000 // width  # under SQLite's limit of 32,766 parameters a statement
    group = group or "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        values = ", ".join([group] * len(chunk))
        conn.execute(
            f"INSERT INTO {into} VALUES {values}",  # noqa: S608 (only placeholders are interpolated)
            list(itertools.chain.from_iterable(chunk)),
        )


def outbox_column(task: DeletionTask) -> str:
    return ",".join(sorted(task.outbox))


class PendingAdd:
    __slots__ = ("error", "key", "task")

    def __init__(self, task: DeletionTask, key: tuple[str, str] | None) -> None:
        self.task = task
        self.key = key
        self.error: DuplicateTask | IdempotencyKeyConflict | None = None


def write_new(conn: sqlite3.Connection, adds: Sequence[PendingAdd]) -> None:
    """INSERT new tasks with their identifiers, history and idempotency keys, one statement a
    table. The caller holds the write lock (BEGIN IMMEDIATE), so the row ids after the current
    largest are free to assign here."""
    if len(adds) == 1:  # SQLite picks the id and says which: no max(id) to read first
        first = conn.execute(_ONE_TASK, _task_row(adds[0].task)).lastrowid
        assert first is not None
    else:
        (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()
        first = last + 1
        _insert_rows(
            conn,
            f"tasks (id, {TASK_COLUMNS})",
            [(row_id, *_task_row(item.task)) for row_id, item in enumerate(adds, start=first)],
            _ID_AND_TASK_VALUES,
        )
    identifiers, history, keys = [], [], []
    for row_id, item in enumerate(adds, start=first):
        task = item.task
        identifiers.extend([(row_id, value) for value in task.identifiers])
        if task.history:
            history.extend(history_rows(row_id, task))
        if item.key is not None:
            keys.append((*item.key, task.task_id))
    _insert_rows(conn, "task_identifiers (task, hash)", identifiers)
    _insert_rows(conn, f"task_history ({HISTORY_COLUMNS})", history)
    _insert_rows(conn, "idempotency_keys (scope, key, task_id)", keys)
