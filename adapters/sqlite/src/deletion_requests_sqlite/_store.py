from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import heapq
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit
from urllib.request import pathname2url

from deletion_requests import (
    Callback,
    DayCount,
    DeletionTask,
    Operator,
    Status,
    Store,
    StoreError,
)
from deletion_requests.stores import (
    Account,
    App,
    Awaiting,
    Backlog,
    DuplicateTask,
    FileLease,
    IdempotencyKeyConflict,
    TaskQuery,
    Transition,
    apps_from_grants,
)

from ._schema import HASH_KEY, migrate

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = dt.timedelta(microseconds=1)
Synchronous = Literal["FULL", "NORMAL"]
# Result codes after which a connection is reopened: READONLY, IOERR, CANTOPEN.
_REOPEN_ON = frozenset({8, 10, 14})

TASK_COLUMNS = (
    "task_id, account_id, status, creation_us, ready_us, actioned_us, cancelled_us, "
    "created_by, version, outbox, completed_us, overdue_us, purged_us, held_us"
)
HISTORY_COLUMNS = "task, seq, source, dest, at_us, by, event, detail"
READ_COLUMNS = "id, " + TASK_COLUMNS
# A new task's VALUES: a time it lacks is bound as '' and stored as NULL, since binding None costs
# `sqlite3` a failed adapter lookup (two AttributeErrors made and dropped) each time. An integer
# never equals ''.
_TASK_VALUES = "(?, ?, ?, ?, {0}, {0}, {0}, ?, ?, ?, {0}, {0}, {0}, {0})".format("nullif(?, '')")
_ONE_TASK = f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES {_TASK_VALUES}"  # noqa: S608
_ID_AND_TASK_VALUES = "(?, " + _TASK_VALUES.removeprefix("(")  # the row id first, for a batch


def to_us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


def from_us(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)


def _opt_us(moment: dt.datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def _opt_time(value: int | None) -> dt.datetime | None:
    return None if value is None else from_us(value)


def _history_rows(row_id: int, task: DeletionTask) -> list[tuple[object, ...]]:
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
        _outbox(task),
        _us_or_blank(task.completed_time),
        _us_or_blank(task.overdue_time),
        _us_or_blank(task.purged_time),
        _us_or_blank(task.held_time),
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


def _outbox(task: DeletionTask) -> str:
    return ",".join(sorted(task.outbox))


class _PendingAdd:
    __slots__ = ("error", "key", "task")

    def __init__(self, task: DeletionTask, key: tuple[str, str] | None) -> None:
        self.task = task
        self.key = key
        self.error: DuplicateTask | IdempotencyKeyConflict | None = None


def _write_new(conn: sqlite3.Connection, adds: Sequence[_PendingAdd]) -> None:
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
            history.extend(_history_rows(row_id, task))
        if item.key is not None:
            keys.append((*item.key, task.task_id))
    _insert_rows(conn, "task_identifiers (task, hash)", identifiers)
    _insert_rows(conn, f"task_history ({HISTORY_COLUMNS})", history)
    _insert_rows(conn, "idempotency_keys (scope, key, task_id)", keys)


class _Refused(Exception):
    """A batch hit a taken task id or idempotency key: roll it back and add one by one."""


class SqliteStore(Store):
    """Tasks, accounts and apps in one SQLite file.

    - WAL journal, `busy_timeout`, and `BEGIN IMMEDIATE` for every write: safe for many threads
      (one connection per thread) and many processes on one file.
    - Durable by default: `synchronous=FULL` makes an acknowledged write survive power loss;
      `synchronous="NORMAL"` keeps it across a crash of the process but may lose the last
      transactions on power loss, for faster commits.
    - Reads of a task or a page run in one read transaction, so they see one snapshot.
    - `sqlite3` errors are raised as `StoreError`; rows that cannot be read (edited by hand)
      are a `StoreError` naming the table and key.
    """

    local_reads = True

    def __init__(
        self,
        path: str | Path,
        synchronous: Synchronous = "FULL",
        busy_timeout_ms: int = 30_000,
        cache_kib: int = 65_536,
        mmap_bytes: int = 1 << 30,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.cache_kib = cache_kib
        self.mmap_bytes = mmap_bytes
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Writers queue on these locks rather than on SQLite's busy handler, which sleeps:
        # threads of this process on the lock, processes on an flock of a file beside the
        # database (see `_exclusive`).
        self._write_lock = threading.RLock()
        self._write_depth = 0
        self._closed = False
        if not os.path.exists(self.path):
            # Created private: the file holds the token signing key and secret digests, and
            # SQLite gives its -wal and -shm files the database file's mode. (Only a new file
            # is opened here: closing a descriptor of a file that SQLite has open in this
            # process would drop SQLite's locks on it.)
            with contextlib.suppress(FileExistsError):
                try:
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                except FileExistsError:
                    raise
                except OSError as exc:
                    raise StoreError(f"sqlite store {self.path}: cannot open: {exc}") from exc
        try:
            self._lock_fd = os.open(f"{self.path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"sqlite store {self.path}: cannot open: {exc}") from exc
        self._lease = FileLease(f"{self.path}-lease")
        with self._translated("open"):
            migrate(self._connection(), self.path)

    # -- connections and transactions ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"store {self.path} is closed")
            # mode=rw: never create a file here (a database deleted under a running server is
            # an error, not a new empty store).
            uri = f"file:{pathname2url(os.path.abspath(self.path))}?mode=rw"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA cache_size = -{int(self.cache_kib)}")
            conn.execute(f"PRAGMA mmap_size = {int(self.mmap_bytes)}")
            # Deleted content is overwritten, so purged hashes do not linger in free pages.
            conn.execute("PRAGMA secure_delete = ON")
            # Statement journals and other temporary tables stay in memory: no copy of a page,
            # hashes included, goes to a temporary file.
            conn.execute("PRAGMA temp_store = MEMORY")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _forget_connection(self) -> None:
        """Close this thread's connection, so that the next call opens the file afresh: a
        connection that SQLite opened read-only (the file was not writable then) stays
        read-only for good, and one that lost its file cannot find it again."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _REOPEN_ON:
                self._forget_connection()
            raise StoreError(f"sqlite store {self.path}: {what} failed: {exc}") from exc

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This store's turn to write, among the threads of this process and the processes that
        use this store on the same file: both queue, and wake the moment the writer before
        them is done. (Writers that do not take it, such as the sqlite3 shell, still meet
        ours in SQLite's busy handler.)"""
        with self._write_lock:
            self._write_depth += 1
            try:
                if self._write_depth == 1:
                    try:
                        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                    except OSError as exc:
                        raise StoreError(f"sqlite store {self.path}: cannot lock: {exc}") from exc
                try:
                    yield
                finally:
                    if self._write_depth == 1:
                        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                self._write_depth -= 1

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._exclusive(), self._translated(what):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._translated(what):
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def check(self) -> None:
        """Take the write lock and let it go: fails while the file cannot be written."""
        with self._exclusive(), self._translated("check"):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")

    def take_lease(self) -> bool:
        """Whether this store object holds the background lease (an flock of the file
        `<database>-lease`), taking it when no other holder has it."""
        return self._lease.take()

    def release_lease(self) -> None:
        self._lease.release()

    def close(self) -> None:
        self._lease.release()
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    # -- rows <-> tasks ------------------------------------------------------------------------

    def _tasks_from_rows(
        self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]
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
                    history[row_id].append(
                        Transition(source, dest, from_us(at_us), by, event, detail)
                    )
                except (ValueError, TypeError, OverflowError) as exc:
                    task_id = next(row[1] for row in rows if row[0] == row_id)
                    raise StoreError(
                        f"sqlite store {self.path}: task_history row {_seq} of task {task_id} "
                        f"cannot be read: {exc}"
                    ) from exc
        return [self._task(row[1:], identifiers[row[0]], history[row[0]]) for row in rows]

    def _task(
        self, row: tuple[Any, ...], identifiers: set[str], history: list[Transition]
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
        ) = row
        try:
            if not isinstance(version, int) or not isinstance(creation, int):
                raise TypeError("version and creation_us must be integers")
            return DeletionTask(
                task_id=task_id,
                account_id=account_id,
                status=Status(status),
                creation_time=from_us(creation),
                identifiers=frozenset(identifiers),
                ready_time=_opt_time(ready),
                actioned_time=_opt_time(actioned),
                cancelled_time=_opt_time(cancelled),
                created_by=by,
                version=version,
                history=tuple(history),
                outbox=frozenset(outbox.split(",")) if outbox else frozenset(),
                completed_time=_opt_time(completed),
                overdue_time=_opt_time(overdue),
                purged_time=_opt_time(purged),
                held_time=_opt_time(held),
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise StoreError(
                f"sqlite store {self.path}: tasks row {task_id!r} cannot be read: {exc}"
            ) from exc

    # -- tasks ---------------------------------------------------------------------------------

    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        refused = self.add_batch([(task, idempotency_key)])[0]
        if refused is not None:
            raise refused

    def add_batch(
        self, items: Sequence[tuple[DeletionTask, tuple[str, str] | None]]
    ) -> list[DuplicateTask | IdempotencyKeyConflict | None]:
        """`add` each (task, idempotency key), all in one transaction and one commit; per
        item, None when it was added, or the `DuplicateTask` / `IdempotencyKeyConflict` that
        refused it (which wrote nothing of it, and nothing else of the batch). Any other
        failure raises `StoreError`, and none of them is stored."""
        adds = [_PendingAdd(task, key) for task, key in items]
        if not adds:
            return []
        try:
            with self._write("add") as conn:
                try:
                    _write_new(conn, adds)
                except sqlite3.IntegrityError:
                    raise _Refused from None  # `_write` rolls the whole batch back
        except _Refused:
            # Some add is refused (a task id or idempotency key already taken): again, in a
            # new transaction, one savepoint each, to find which and keep the others.
            with self._write("add") as conn:
                for item in adds:
                    conn.execute("SAVEPOINT one_add")
                    try:
                        self._insert(conn, item)
                    except (DuplicateTask, IdempotencyKeyConflict) as exc:
                        conn.execute("ROLLBACK TO one_add")
                        item.error = exc
                    conn.execute("RELEASE one_add")
        return [item.error for item in adds]

    @staticmethod
    def _insert(conn: sqlite3.Connection, item: _PendingAdd) -> None:
        """Insert one task, or raise what refuses it."""
        task = item.task
        if conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task.task_id,)).fetchone():
            raise DuplicateTask(f"task {task.task_id} already exists")
        if item.key is not None:
            bound = conn.execute(
                "SELECT task_id FROM idempotency_keys WHERE scope = ? AND key = ?", item.key
            ).fetchone()
            if bound is not None:
                raise IdempotencyKeyConflict(bound[0])
        _write_new(conn, [item])

    def get(self, task_id: str) -> DeletionTask | None:
        with self._read("get") as conn:
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM tasks WHERE task_id = ?",  # noqa: S608
                (task_id,),
            ).fetchall()
            found = self._tasks_from_rows(conn, rows)
        return found[0] if found else None

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        with self._read("find_by_idempotency_key") as conn:
            rows = conn.execute(
                f"SELECT {', '.join('t.' + c for c in READ_COLUMNS.split(', '))} "  # noqa: S608
                "FROM idempotency_keys k JOIN tasks t ON t.task_id = k.task_id "
                "WHERE k.scope = ? AND k.key = ?",
                (scope, key),
            ).fetchall()
            found = self._tasks_from_rows(conn, rows)
        return found[0] if found else None

    def find_by_identifier(self, identifier: str, limit: int) -> list[DeletionTask]:
        with self._read("find_by_identifier") as conn:
            # `+hash`: an equality on the bare column would have SQLite put the value into
            # the key's expression, which then no longer matches the index.
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM tasks WHERE id IN "  # noqa: S608 (fixed text only)
                f"(SELECT task FROM task_identifiers WHERE {HASH_KEY} = substr(?, 1, 8) "
                "AND +hash = ?) ORDER BY creation_us, task_id LIMIT ?",
                (identifier, identifier, limit),
            ).fetchall()
            return self._tasks_from_rows(conn, rows)

    def list_tasks(self, query: TaskQuery) -> list[DeletionTask]:
        return self._list(query, whole=True)

    def list_summaries(self, query: TaskQuery) -> list[DeletionTask]:
        return self._list(query, whole=False)

    def _list(self, query: TaskQuery, whole: bool) -> list[DeletionTask]:
        conditions: list[str] = ["account_id = ?"]
        base_args: list[object] = []
        if query.cancelled is True:
            conditions.append("cancelled_us IS NOT NULL")
        elif query.cancelled is False:
            conditions.append("cancelled_us IS NULL")
        if query.held is True:
            conditions.append("held_us IS NOT NULL")
        elif query.held is False:
            conditions.append("held_us IS NULL")
        if query.completed is True:
            conditions.append("completed_us IS NOT NULL")
        elif query.completed is False:
            conditions.append("completed_us IS NULL")
        if query.created_after is not None:
            conditions.append("creation_us > ?")
            base_args.append(to_us(query.created_after))
        if query.created_at_or_before is not None:
            conditions.append("creation_us <= ?")
            base_args.append(to_us(query.created_at_or_before))
        if query.before is not None:
            conditions.append("(creation_us, task_id) < (?, ?)")
            base_args.extend([to_us(query.before[0]), query.before[1]])
        if query.after is not None:
            conditions.append("(creation_us, task_id) > (?, ?)")
            base_args.extend([to_us(query.after[0]), query.after[1]])
        order = "ASC" if query.oldest_first else "DESC"
        sql = (
            f"SELECT {READ_COLUMNS} FROM tasks INDEXED BY tasks_by_account_newest "  # noqa: S608
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY creation_us {order}, task_id {order} LIMIT ?"
        )
        with self._read("list") as conn:
            # One index range scan per account, merged: O(accounts x limit), never O(store).
            per_account = [
                conn.execute(sql, (account, *base_args, query.limit)).fetchall()
                for account in sorted(query.accounts)
            ]
            merged = heapq.merge(
                *per_account, key=lambda row: (row[4], row[1]), reverse=not query.oldest_first
            )
            rows = list(itertools.islice(merged, query.limit))
            if whole:
                return self._tasks_from_rows(conn, rows)
        return [self._task(row[1:], set(), []) for row in rows]

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        if not tasks:
            return frozenset()
        ids = [task.task_id for task in tasks]
        with self._write("update") as conn:
            if len(set(ids)) == len(ids):
                written = self._update_set(conn, tasks)
            else:  # the same task twice: apply in order, as one writer after another would
                written = {}
                for task in tasks:
                    written.update(self._update_set(conn, [task]))
            conn.executemany(
                f"INSERT OR IGNORE INTO task_history ({HISTORY_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    row
                    for task in tasks
                    if task.task_id in written
                    for row in _history_rows(written[task.task_id], task)
                ],
            )
            # A purge is the one change that deletes identifiers.
            purged = conn.executemany(
                "DELETE FROM task_identifiers WHERE task = ?",
                [(written[t.task_id],) for t in tasks if t.purged_time and t.task_id in written],
            ).rowcount
        if purged > 0:
            self._forget_purged()
        return frozenset(task_id for task_id in ids if task_id not in written)

    def _forget_purged(self) -> None:
        """Copy the WAL into the database and empty it, so that the page images that still
        held purged hashes leave the WAL too (`secure_delete` has already overwritten them in
        the database). A reader in another process can hold the copy back; the next purge
        tries again."""
        with self._exclusive(), self._translated("checkpoint"):
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _update_set(conn: sqlite3.Connection, tasks: Sequence[DeletionTask]) -> dict[str, int]:
        """Compare-and-set *tasks* (distinct ids) in one statement per chunk; returns the row
        ids of those written, by task id. Earlier steps of the history stay as stored."""
        written: dict[str, int] = {}
        for start in range(0, len(tasks), 2000):
            chunk = tasks[start : start + 2000]
            values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            args: list[object] = []
            for task in chunk:
                args += (
                    task.task_id,
                    task.status.value,
                    _opt_us(task.ready_time),
                    _opt_us(task.actioned_time),
                    _opt_us(task.cancelled_time),
                    task.version,
                    task.account_id,
                    to_us(task.creation_time),
                    _outbox(task),
                    _opt_us(task.completed_time),
                    _opt_us(task.overdue_time),
                    _opt_us(task.purged_time),
                    _opt_us(task.held_time),
                )
            rows = conn.execute(
                "WITH new (task_id, status, ready_us, actioned_us, cancelled_us, version, "  # noqa: S608 (only placeholders are interpolated)
                "account_id, creation_us, outbox, completed_us, overdue_us, purged_us, held_us) "
                f"AS (VALUES {values}) "
                "UPDATE tasks SET status = new.status, ready_us = new.ready_us, "
                "actioned_us = new.actioned_us, cancelled_us = new.cancelled_us, "
                "version = new.version, outbox = new.outbox, completed_us = new.completed_us, "
                "overdue_us = new.overdue_us, purged_us = new.purged_us, held_us = new.held_us "
                "FROM new "
                "WHERE tasks.task_id = new.task_id AND tasks.version = new.version - 1 "
                "AND tasks.account_id = new.account_id AND tasks.creation_us = new.creation_us "
                "RETURNING tasks.task_id, tasks.id",
                args,
            ).fetchall()
            written.update(rows)
        return written

    def due(
        self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime, limit: int
    ) -> list[DeletionTask]:
        sql = (
            f"SELECT {READ_COLUMNS} FROM tasks INDEXED BY tasks_due "  # noqa: S608
            "WHERE status = ? AND creation_us <= ? AND (status = 'pending' OR held_us IS NULL) "
            "ORDER BY creation_us LIMIT ?"
        )
        with self._read("due") as conn:
            rows = conn.execute(sql, ("pending", to_us(pending_cutoff), limit)).fetchall()
            if len(rows) < limit:
                rows += conn.execute(
                    sql, ("ready", to_us(ready_cutoff), limit - len(rows))
                ).fetchall()
            return self._tasks_from_rows(conn, rows)

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        # Each query reads one partial index, which holds only the tasks still to be touched.
        where = {
            Awaiting.HANDOFF: "INDEXED BY tasks_outbox WHERE outbox != '' "
            "AND instr(outbox, 'handoff') AND ?1 IS NOT NULL",
            Awaiting.REVIEW: "INDEXED BY tasks_outbox WHERE outbox != '' "
            "AND instr(outbox, 'review') AND ?1 IS NOT NULL",
            Awaiting.CALLBACK: "INDEXED BY tasks_outbox WHERE outbox != '' "
            "AND instr(outbox, 'callback.') AND ?1 IS NOT NULL",
            Awaiting.OVERDUE: "INDEXED BY tasks_incomplete WHERE status = 'actioned' "
            "AND completed_us IS NULL AND overdue_us IS NULL AND actioned_us <= ?1",
            Awaiting.INCOMPLETE: "INDEXED BY tasks_incomplete WHERE status = 'actioned' "
            "AND completed_us IS NULL AND actioned_us <= ?1",
            Awaiting.PURGE: "INDEXED BY tasks_to_purge WHERE completed_us IS NOT NULL "
            "AND purged_us IS NULL AND completed_us <= ?1",
            Awaiting.PURGE_CANCELLED: "INDEXED BY tasks_cancelled_to_purge WHERE cancelled_us "
            "IS NOT NULL AND purged_us IS NULL AND cancelled_us <= ?1",
            Awaiting.PURGE_DELIVERED: "INDEXED BY tasks_incomplete WHERE status = 'actioned' "
            "AND completed_us IS NULL AND purged_us IS NULL AND instr(outbox, 'handoff') = 0 "
            "AND actioned_us <= ?1",
        }[what]
        with self._read("awaiting") as conn:
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM tasks {where} "  # noqa: S608 (fixed text only)
                "ORDER BY creation_us, task_id LIMIT ?2",
                (to_us(cutoff), limit),
            ).fetchall()
            return self._tasks_from_rows(conn, rows)

    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        # From indexes only: the stored statuses (one pass over `tasks_due`, which holds no
        # row data), the pending and ready tasks old enough to move (two range counts on it),
        # and the held tasks, which do not all move (a partial index of the few held ones).
        pending_us, ready_us = to_us(pending_cutoff), to_us(ready_cutoff)
        counts = dict.fromkeys([*(s.value for s in Status), "held", "purged", "completed"], 0)
        with self._read("count_tasks") as conn:
            for status, number in conn.execute(
                "SELECT status, count(*) FROM tasks INDEXED BY tasks_due GROUP BY status"
            ):
                counts[status] += number
            (to_ready,) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_due "
                "WHERE status = 'pending' AND creation_us <= ?",
                (pending_us,),
            ).fetchone()
            (to_actioned,) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_due "
                "WHERE status IN ('pending', 'ready') AND creation_us <= ?",
                (ready_us,),
            ).fetchone()
            held = conn.execute(
                "SELECT status, creation_us FROM tasks INDEXED BY tasks_held "
                "WHERE held_us IS NOT NULL"
            ).fetchall()
            (counts["purged"],) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_purged WHERE purged_us IS NOT NULL"
            ).fetchone()
            # Only an actioned task completes: the stored actioned ones less the incomplete.
            (incomplete,) = conn.execute(
                "SELECT count(*) FROM tasks INDEXED BY tasks_incomplete "
                "WHERE status = 'actioned' AND completed_us IS NULL"
            ).fetchone()
        counts["completed"] = counts["actioned"] - incomplete
        counts["held"] = len(held)
        to_actioned -= sum(
            1 for status, created in held if status in ("pending", "ready") and created <= ready_us
        )
        counts["pending"] -= to_ready
        counts["ready"] += to_ready - to_actioned
        counts["actioned"] += to_actioned
        return counts

    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        day = 86_400_000_000
        with self._read("daily_counts") as conn:
            rows = conn.execute(
                f"SELECT day, sum(c), sum(x), sum(a), sum(f), sum(o) FROM ("  # noqa: S608
                f"SELECT creation_us / {day} AS day, 1 AS c, 0 AS x, 0 AS a, 0 AS f, 0 AS o "
                "FROM tasks WHERE creation_us >= ?1 "
                f"UNION ALL SELECT cancelled_us / {day}, 0, 1, 0, 0, 0 FROM tasks "
                "WHERE cancelled_us >= ?1 "
                f"UNION ALL SELECT actioned_us / {day}, 0, 0, 1, 0, 0 FROM tasks "
                "WHERE actioned_us >= ?1 "
                f"UNION ALL SELECT completed_us / {day}, 0, 0, 0, 1, 0 FROM tasks "
                "WHERE completed_us >= ?1 "
                f"UNION ALL SELECT overdue_us / {day}, 0, 0, 0, 0, 1 FROM tasks "
                "WHERE overdue_us >= ?1) GROUP BY day ORDER BY day",
                (to_us(since),),
            ).fetchall()
        return [DayCount((EPOCH + dt.timedelta(days=row[0])).date(), *row[1:]) for row in rows]

    def backlog(self, kind: str) -> Backlog:
        since = "ready_us" if kind == "review" else "actioned_us"
        with self._read("backlog") as conn:
            count, oldest = conn.execute(
                f"SELECT count(*), min({since}) FROM tasks INDEXED BY tasks_outbox "  # noqa: S608
                "WHERE outbox != '' AND instr(outbox, ?)",
                (kind,),
            ).fetchone()
        return Backlog(count, _opt_time(oldest))

    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        # Under the write lock, so that claims never interleave.
        claimed: set[str] = set()
        with self._write("claim") as conn:
            for start in range(0, len(task_ids), 500):
                chunk = list(task_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT t.task_id FROM tasks t LEFT JOIN outbox_leases l "  # noqa: S608
                    "ON l.task_id = t.task_id AND l.kind = ? "
                    f"WHERE t.task_id IN ({marks}) AND instr(t.outbox, ?) "
                    "AND (l.until_us IS NULL OR l.until_us <= ?)",
                    (kind, *chunk, kind, to_us(now)),
                ).fetchall()
                conn.executemany(
                    "INSERT INTO outbox_leases (task_id, kind, holder, until_us) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (task_id, kind) DO UPDATE "
                    "SET holder = excluded.holder, until_us = excluded.until_us",
                    [(task_id, kind, holder, to_us(until)) for (task_id,) in rows],
                )
                claimed.update(task_id for (task_id,) in rows)
        return frozenset(claimed)

    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        with self._write("release") as conn:
            conn.executemany(
                "DELETE FROM outbox_leases WHERE task_id = ? AND kind = ? AND holder = ?",
                [(task_id, kind, holder) for task_id in task_ids],
            )

    # -- access --------------------------------------------------------------------------------

    @staticmethod
    def _bump_access_version(conn: sqlite3.Connection) -> None:
        """In the transaction of every access write, so readers in any process see it."""
        conn.execute(
            "INSERT INTO settings (name, value) VALUES ('access_version', '1') "
            "ON CONFLICT (name) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def access_version(self) -> int:
        with self._translated("access_version"):
            row = (
                self._connection()
                .execute("SELECT value FROM settings WHERE name = 'access_version'")
                .fetchone()
            )
        return 0 if row is None else int(row[0])

    def allow_account(self, account: Account) -> Account:
        with self._write("allow_account") as conn:
            self._bump_access_version(conn)
            conn.execute(
                "INSERT OR IGNORE INTO accounts (account_id, allowed_us) VALUES (?, ?)",
                (account.account_id, to_us(account.allowed_time)),
            )
            (allowed,) = conn.execute(
                "SELECT allowed_us FROM accounts WHERE account_id = ?", (account.account_id,)
            ).fetchone()
        return Account(account.account_id, from_us(allowed))

    def revoke_account(self, account_id: str) -> bool:
        with self._write("revoke_account") as conn:
            self._bump_access_version(conn)
            return (
                conn.execute("DELETE FROM accounts WHERE account_id = ?", (account_id,)).rowcount
                == 1
            )

    def get_account(self, account_id: str) -> Account | None:
        with self._translated("get_account"):
            row = (
                self._connection()
                .execute(
                    "SELECT account_id, allowed_us FROM accounts WHERE account_id = ?",
                    (account_id,),
                )
                .fetchone()
            )
        return None if row is None else Account(row[0], from_us(row[1]))

    def list_accounts(self) -> list[Account]:
        with self._read("list_accounts") as conn:
            rows = conn.execute(
                "SELECT account_id, allowed_us FROM accounts ORDER BY account_id"
            ).fetchall()
        return [Account(account_id, from_us(allowed)) for account_id, allowed in rows]

    def add_app(self, app: App) -> None:
        with self._write("add_app") as conn:
            self._bump_access_version(conn)
            if conn.execute("SELECT 1 FROM apps WHERE app_id = ?", (app.app_id,)).fetchone():
                raise StoreError(f"app {app.app_id} already exists")
            conn.execute(
                "INSERT INTO apps (app_id, secret_digest, created_us, revoked) VALUES (?, ?, ?, ?)",
                (app.app_id, app.secret_digest, to_us(app.created_time), int(app.revoked)),
            )
            conn.executemany(
                "INSERT INTO app_accounts (app_id, account_id) VALUES (?, ?)",
                [(app.app_id, account) for account in sorted(app.accounts)],
            )

    def _apps(self, where: str, args: tuple[str, ...]) -> list[App]:
        # One statement, so one snapshot without an explicit transaction: this runs on every
        # authenticated request.
        with self._translated("apps"):
            rows = (
                self._connection()
                .execute(
                    "SELECT a.app_id, a.secret_digest, a.created_us, a.revoked, g.account_id "  # noqa: S608
                    f"FROM apps a LEFT JOIN app_accounts g ON g.app_id = a.app_id {where} "
                    "ORDER BY a.app_id",
                    args,
                )
                .fetchall()
            )
        return apps_from_grants(
            (app_id, digest, from_us(created), bool(revoked), account)
            for app_id, digest, created, revoked, account in rows
        )

    def get_app(self, app_id: str) -> App | None:
        found = self._apps("WHERE a.app_id = ?", (app_id,))
        return found[0] if found else None

    def list_apps(self) -> list[App]:
        return self._apps("", ())

    def revoke_app(self, app_id: str) -> bool:
        with self._write("revoke_app") as conn:
            self._bump_access_version(conn)
            return (
                conn.execute("UPDATE apps SET revoked = 1 WHERE app_id = ?", (app_id,)).rowcount
                == 1
            )

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        with self._write("record_app_use") as conn:
            conn.execute(
                "INSERT INTO app_uses (app_id, last_used_us) VALUES (?1, ?2) "
                "ON CONFLICT (app_id) DO UPDATE SET last_used_us = max(last_used_us, ?2)",
                (app_id, to_us(moment)),
            )

    def app_last_used(self) -> dict[str, dt.datetime]:
        with self._read("app_last_used") as conn:
            rows = conn.execute("SELECT app_id, last_used_us FROM app_uses").fetchall()
        return {app_id: from_us(used) for app_id, used in rows}

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        with self._write("set_callback") as conn:
            if not conn.execute("SELECT 1 FROM apps WHERE app_id = ?", (app_id,)).fetchone():
                return False
            self._bump_access_version(conn)
            conn.execute("DELETE FROM app_callbacks WHERE app_id = ?", (app_id,))
            if callback is not None:
                conn.execute(
                    "INSERT INTO app_callbacks (app_id, url, secret, set_us) VALUES (?, ?, ?, ?)",
                    (app_id, callback.url, callback.secret, to_us(callback.set_time)),
                )
            return True

    def callbacks(self) -> dict[str, Callback]:
        with self._read("callbacks") as conn:
            rows = conn.execute("SELECT app_id, url, secret, set_us FROM app_callbacks").fetchall()
        return {app: Callback(url, secret, from_us(at)) for app, url, secret, at in rows}

    def add_operator(self, operator: Operator) -> None:
        with self._write("add_operator") as conn:
            try:
                conn.execute(
                    "INSERT INTO operators (name, password_hash, created_us) VALUES (?, ?, ?)",
                    (operator.name, operator.password_hash, to_us(operator.created_time)),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"operator {operator.name} already exists") from None

    def _operators(self, where: str, args: tuple[str, ...]) -> list[Operator]:
        with self._read("operators") as conn:
            rows = conn.execute(
                "SELECT name, password_hash, created_us FROM operators "  # noqa: S608
                f"{where} ORDER BY name",
                args,
            ).fetchall()
        return [Operator(name, hashed, from_us(created)) for name, hashed, created in rows]

    def get_operator(self, name: str) -> Operator | None:
        found = self._operators("WHERE name = ?", (name,))
        return found[0] if found else None

    def list_operators(self) -> list[Operator]:
        return self._operators("", ())

    def remove_operator(self, name: str) -> bool:
        with self._write("remove_operator") as conn:
            return conn.execute("DELETE FROM operators WHERE name = ?", (name,)).rowcount == 1

    def setting(self, name: str, default: Callable[[], str]) -> str:
        with self._read("setting") as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        with self._write("setting") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)", (name, default())
            )
            (value,) = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return str(value)

    def put_setting(self, name: str, value: str) -> None:
        with self._write("put_setting") as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )


def open_sqlite_store(url: str, create: bool = True) -> SqliteStore:
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (as SQLAlchemy), with
    optional `?synchronous=normal` and `?busy_timeout_ms=N`. With `create=False`, the file
    must exist."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        raise StoreError(
            f"not a sqlite URL: {url!r} (use sqlite:///relative.db or sqlite:////absolute.db)"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise StoreError(f"sqlite URL {url!r} names no file")
    if path == ":memory:":
        # Each connection (the store has one a thread) would get a database of its own.
        raise StoreError(
            f"sqlite URL {url!r} names no file: an in-memory SQLite database is private to one "
            "connection; use memory:// for a store in memory"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"synchronous", "busy_timeout_ms"}
    if unknown:
        raise StoreError(f"unknown sqlite URL option(s): {', '.join(sorted(unknown))}")
    synchronous = options.get("synchronous", "full").upper()
    if synchronous not in ("FULL", "NORMAL"):
        raise StoreError(f"synchronous must be full or normal, got {options['synchronous']!r}")
    try:
        timeout = int(options.get("busy_timeout_ms", "30000"))
    except ValueError:
        raise StoreError("busy_timeout_ms must be an integer") from None
    parent = Path(path).parent
    if not parent.is_dir():
        raise StoreError(f"sqlite store {path}: directory {parent} does not exist")
    if not create and not Path(path).is_file():
        raise StoreError(f"no store at {path} (no such SQLite file)")
    return SqliteStore(
        path, synchronous="FULL" if synchronous == "FULL" else "NORMAL", busy_timeout_ms=timeout
    )
