"""A task from its `tasks` row (`READ_COLUMNS`), with its identifiers and history read in as few
statements as the rows allow; a row that cannot be read is a `StoreError` naming the store at
*path* and the row."""

from __future__ import annotations

import sqlite3
from typing import Any

from deletion_requests import DeletionTask, StoreError
from deletion_requests.stores import Transition

from ._rows import HISTORY_COLUMNS, from_us, opt_time, status_of


def tasks_from_rows(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]], path: object
) -> list[DeletionTask]:
    """Tasks from `READ_COLUMNS` rows, with their identifiers and history."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    identifiers: dict[int, set[str]] = {row_id: set() for row_id in ids}
    history: dict[int, list[Transition]] = {row_id: [] for row_id in ids}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        marks = ",".join("?" * len(chunk))
        for row_id, value in conn.execute(
            f"SELECT task, hash FROM task_identifiers WHERE task IN ({marks})",  # noqa: S608 (only placeholders are interpolated)
            chunk,
        ):
            identifiers[row_id].add(value)
        for row_id, _seq, source, dest, at_us, by, event, detail in conn.execute(
            f"SELECT {HISTORY_COLUMNS} FROM task_history "  # noqa: S608
            f"WHERE task IN ({marks}) ORDER BY task, seq",
            chunk,
        ):
            try:
                history[row_id].append(Transition(source, dest, from_us(at_us), by, event, detail))
            except (ValueError, TypeError, OverflowError) as exc:
                task_id = next(row[1] for row in rows if row[0] == row_id)
                raise StoreError(
                    f"sqlite store {path}: task_history row {_seq} of task {task_id} "
                    f"cannot be read: {exc}"
                ) from exc
    return [task_from_row(row[1:], identifiers[row[0]], history[row[0]], path) for row in rows]


def task_from_row(
    row: tuple[Any, ...], identifiers: set[str], history: list[Transition], path: object
) -> DeletionTask:
    (
        task_id,
        account_id,
        status,
        creation,
        ready,
        actioned,
        cancelled,
        by,
        version,
        outbox,
        completed,
        overdue,
        purged,
        held,
        due,
    ) = row
    try:
        if not isinstance(version, int) or not isinstance(creation, int):
            raise TypeError("version and creation_us must be integers")
        # The row's values typed here as the initialiser's converters would type them.
        return DeletionTask.from_fields(
            task_id,
            account_id,
            status_of(status),
            from_us(creation),
            frozenset(identifiers),
            opt_time(ready),
            opt_time(actioned),
            opt_time(cancelled),
            by,
            version,
            tuple(history),
            frozenset(outbox.split(",")) if outbox else frozenset(),
            opt_time(completed),
            opt_time(overdue),
            opt_time(purged),
            opt_time(held),
            from_us(due),
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise StoreError(
            f"sqlite store {path}: tasks row {task_id!r} cannot be read: {exc}"
        ) from exc
