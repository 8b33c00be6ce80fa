"""The client reads as statements and rows, shared by the store's connections and its
`LoopReads`: what each read sends, and the values its rows make."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from deletion_requests import DeletionTask, Status, StoreError, TaskSummary
from deletion_requests.stores import App, TaskQuery, Transition, apps_from_grants

from ._rows import TASK_COLUMNS

_STATUSES = {status.value: status for status in Status}

TASK_BY_ID = f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.task_id = %s"  # noqa: S608 (fixed)
TASKS_BY_IDS = f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.task_id = ANY(%s)"  # noqa: S608
TASKS_BY_IDS_LOCKED = f"{TASKS_BY_IDS} ORDER BY t.task_id FOR UPDATE OF t"
LOCK_TASKS = "SELECT 1 FROM tasks WHERE task_id = ANY(%s) ORDER BY task_id FOR NO KEY UPDATE"
"""Locks the tasks of the ids given, in id order: the order every write of many tasks takes."""
TASK_BY_KEY = (
    f"SELECT {TASK_COLUMNS} FROM idempotency_keys k "  # noqa: S608 (fixed text)
    "JOIN tasks t ON t.task_id = k.task_id WHERE k.scope = %s AND k.key = %s"
)
IDENTIFIERS_OF = "SELECT task, hash FROM task_identifiers WHERE task = ANY(%s)"
HISTORY_OF = (
    "SELECT task, source, dest, at, by, event, detail FROM task_history "
    "WHERE task = ANY(%s) ORDER BY task, seq"
)
APP_ACCESS = (
    "SELECT a.app_id, a.secret_digest, a.created_time, a.revoked, g.account_id, "
    "c.account_id IS NOT NULL FROM apps a "
    "LEFT JOIN app_accounts g ON g.app_id = a.app_id "
    "LEFT JOIN accounts c ON c.account_id = g.account_id WHERE a.app_id = %s"
)


def list_statement(query: TaskQuery, columns: str = TASK_COLUMNS) -> tuple[str, list[Any]]:
    """The one statement of a listing (a keyset scan per account, one `LATERAL` query) of
    *columns* and its arguments; *query* has at least one account."""
    conditions = ["t.account_id = a.account"]
    args: list[Any] = [sorted(query.accounts)]
    for column, wanted in (
        ("cancelled_time", query.cancelled),
        ("held_time", query.held),
        ("completed_time", query.completed),
    ):
        if wanted is not None:
            conditions.append(f"t.{column} IS {'NOT ' if wanted else ''}NULL")
    if query.created_after is not None:
        conditions.append("t.creation_time > %s")
        args.append(query.created_after)
    if query.created_at_or_before is not None:
        conditions.append("t.creation_time <= %s")
        args.append(query.created_at_or_before)
    if query.before is not None:
        conditions.append("(t.creation_time, t.task_id) < (%s, %s)")
        args.extend(query.before)
    if query.after is not None:
        conditions.append("(t.creation_time, t.task_id) > (%s, %s)")
        args.extend(query.after)
    args += [query.limit, query.limit]
    order = "ASC" if query.oldest_first else "DESC"
    statement = (
        f"SELECT page.* FROM unnest(%s::text[]) AS a(account) "  # noqa: S608
        f"CROSS JOIN LATERAL (SELECT {columns} FROM tasks t "
        f"WHERE {' AND '.join(conditions)} "
        f"ORDER BY t.creation_time {order}, t.task_id {order} LIMIT %s) AS page "
        f"ORDER BY page.creation_time {order}, page.task_id {order} LIMIT %s"
    )
    return statement, args


def tasks_from(
    rows: Sequence[tuple[Any, ...]],
    identifier_rows: Iterable[tuple[Any, ...]],
    history_rows: Iterable[tuple[Any, ...]],
    where: str,
) -> list[DeletionTask]:
    """Tasks from `TASK_COLUMNS` *rows*, with the identifiers and history of the rows of
    `IDENTIFIERS_OF` and `HISTORY_OF` (none when a read leaves them out); a row that makes
    no task is a `StoreError` naming the store (*where*)."""
    identifiers: dict[int, set[str]] = {row[0]: set() for row in rows}
    history: dict[int, list[Transition]] = {row[0]: [] for row in rows}
    for row_id, value in identifier_rows:
        identifiers[row_id].add(value)
    for row_id, source, dest, at, by, event, detail in history_rows:
        history[row_id].append(Transition(source, dest, at, by, event, detail))
    found = []
    for row in rows:
        (row_id, task_id, account, status, created, ready, actioned, cancelled, by, version) = row[
            :10
        ]
        outbox, completed, overdue, purged, held, due = row[10:]
        try:
            # psycopg types the row as the initialiser's converters would (timestamptz in a
            # UTC session arrives with `datetime.UTC`), but for the status and sets.
            found.append(
                DeletionTask.from_fields(
                    task_id,
                    account,
                    Status(status),
                    created,
                    frozenset(identifiers[row_id]),
                    ready,
                    actioned,
                    cancelled,
                    by,
                    version,
                    tuple(history[row_id]),
                    frozenset(outbox),
                    completed,
                    overdue,
                    purged,
                    held,
                    due,
                )
            )
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"postgres store {where}: tasks row {task_id!r} cannot be read: {exc}"
            ) from exc
    return found


def summaries_from(rows: Sequence[tuple[Any, ...]], where: str) -> list[TaskSummary]:
    """Summaries from `SUMMARY_COLUMNS` *rows* (psycopg types the times as a summary holds
    them); a row that makes none is a `StoreError` naming the store (*where*)."""
    statuses = _STATUSES
    try:
        return [TaskSummary(row[0], row[1], statuses[row[2]], *row[3:]) for row in rows]
    except (KeyError, TypeError):
        for row in rows:  # which row: the message names it
            if row[2] not in statuses:
                raise StoreError(
                    f"postgres store {where}: tasks row {row[0]!r} cannot be read: "
                    f"{row[2]!r} is not a status"
                ) from None
        raise


def access_from(rows: Sequence[tuple[Any, ...]]) -> tuple[App, frozenset[str]] | None:
    """`app_access`'s answer from the rows of `APP_ACCESS`."""
    if not rows:
        return None
    (app,) = apps_from_grants(row[:5] for row in rows)
    return app, frozenset(row[4] for row in rows if row[5])


def read_failure(exc: psycopg.Error, what: str, where: str, last: bool) -> StoreError | None:
    """The `StoreError` a read that failed with *exc* raises, or None when it is tried once
    more: a lost connection on an attempt that is not the *last*. A pool timeout (an
    `OperationalError` too) is never retried: no connection was to be had."""
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, PoolTimeout) and not last:
        return None
    return StoreError(f"postgres store {where}: {what} failed: {exc}")
