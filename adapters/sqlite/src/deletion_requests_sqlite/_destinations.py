"""The SQLite store's destinations and jobs (`SqliteStore` mixes this in).

Every write is one `BEGIN IMMEDIATE` transaction on the store's write lock, so a claim, an
outcome and the completion it brings are serialised against every other writer of the file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import orjson

from deletion_requests import (
    DeletionTask,
    Destination,
    DestinationConflict,
    Job,
    JobState,
    Mode,
    Outcome,
    OutcomeKind,
    StoreError,
    UnknownJob,
)
from deletion_requests.stores import (
    Complete,
    Destinations,
    JobCounts,
    Recorded,
    apply_outcome,
    attempt_failed,
    changed_job,
    counts_from_groups,
    delivered,
    open_jobs_message,
)

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

DESTINATION_COLUMNS = (
    "name, mode, created_us, webhook_url, secret, credential_digest, accounts, waits_for, paused, "
    "changed_by, changed_us, failures, failing_since_us, last_error"
)
_DESTINATION_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
JOB_COLUMNS = (
    "job_id, task_id, destination, created_us, state, waits_for, outcome, reason, outcome_us, "
    "attempts, last_error, holder, lease_us"
)


def _us(moment: dt.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)


def _names(value: frozenset[str]) -> str:
    return ",".join(sorted(value))


def _name_set(value: str) -> frozenset[str]:
    return frozenset(value.split(",")) if value else frozenset()


def _destination_row(d: Destination) -> tuple[object, ...]:
    accounts = None if d.accounts is None else orjson.dumps(sorted(d.accounts)).decode()
    return (
        d.name,
        d.mode.value,
        _us(d.created_time),
        d.webhook_url,
        d.secret,
        d.credential_digest,
        accounts,
        _names(d.waits_for),
        int(d.paused),
        d.changed_by,
        None if d.changed_time is None else _us(d.changed_time),
        d.failures,
        None if d.failing_since is None else _us(d.failing_since),
        d.last_error,
    )


def _destination(row: tuple[object, ...]) -> Destination:
    try:
        name, mode, created, url, secret, digest, accounts, waits, paused = row[:9]
        changed_by, changed, failures, since, error = row[9:]
        return Destination(
            str(name),
            Mode(mode),
            _time(int(str(created))),
            None if url is None else str(url),
            None if secret is None else str(secret),
            None if digest is None else str(digest),
            None if accounts is None else frozenset(orjson.loads(str(accounts))),
            _name_set(str(waits)),
            bool(paused),
            None if changed_by is None else str(changed_by),
            None if changed is None else _time(int(str(changed))),
            int(str(failures)),
            None if since is None else _time(int(str(since))),
            str(error),
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"destination row {row[0]!r} cannot be read: {exc}") from exc


def _job_row(job: Job) -> tuple[object, ...]:
    return (
        job.job_id,
        job.task_id,
        job.destination,
        _us(job.created_time),
        job.state.value,
        _names(job.waits_for),
        None if job.outcome is None else job.outcome.kind.value,
        "" if job.outcome is None else job.outcome.reason,
        None if job.outcome_time is None else _us(job.outcome_time),
        job.attempts,
        job.last_error,
        job.holder,
        None if job.lease_until is None else _us(job.lease_until),
    )


def _job(row: tuple[object, ...]) -> Job:
    try:
        (job_id, task_id, dest, created, state, waits, outcome, reason, at, attempts, error) = row[
            :11
        ]
        holder, lease = row[11:]
        return Job(
            str(job_id),
            str(task_id),
            str(dest),
            _time(int(str(created))),
            JobState(state),
            _name_set(str(waits)),
            None if outcome is None else Outcome(OutcomeKind(outcome), str(reason)),
            None if at is None else _time(int(str(at))),
            int(str(attempts)),
            str(error),
            None if holder is None else str(holder),
            None if lease is None else _time(int(str(lease))),
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"job row {row[0]!r} cannot be read: {exc}") from exc


class SqliteDestinations(Destinations):
    """Destinations and jobs in the store's file. The host supplies `_write`, `_read`,
    `_update_in` and `_task_in`."""

    def _write(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _read(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _update_in(
        self, conn: sqlite3.Connection, tasks: Sequence[DeletionTask]
    ) -> tuple[dict[str, int], bool]:
        raise NotImplementedError

    def _task_in(self, conn: sqlite3.Connection, task_id: str) -> DeletionTask | None:
        raise NotImplementedError

    def add_destination(self, destination: Destination) -> None:
        with self._write("add destination") as conn:
            try:
                conn.execute(
                    f"INSERT INTO destinations ({DESTINATION_COLUMNS}) "  # noqa: S608
                    f"VALUES {_DESTINATION_VALUES}",
                    _destination_row(destination),
                )
            except sqlite3.IntegrityError:
                raise DestinationConflict(
                    f"a destination named {destination.name!r} exists"
                ) from None

    def get_destination(self, name: str) -> Destination | None:
        with self._read("get destination") as conn:
            row = conn.execute(
                f"SELECT {DESTINATION_COLUMNS} FROM destinations WHERE name = ?",  # noqa: S608
                (name,),
            ).fetchone()
        return None if row is None else _destination(row)

    def list_destinations(self) -> list[Destination]:
        with self._read("list destinations") as conn:
            rows = conn.execute(
                f"SELECT {DESTINATION_COLUMNS} FROM destinations ORDER BY name"  # noqa: S608
            ).fetchall()
        return [_destination(row) for row in rows]

    @staticmethod
    def _put_destination(conn: sqlite3.Connection, destination: Destination) -> bool:
        row = _destination_row(destination)
        changed = conn.execute(
            "UPDATE destinations SET mode = ?, created_us = ?, webhook_url = ?, secret = ?, "
            "credential_digest = ?, accounts = ?, waits_for = ?, paused = ?, changed_by = ?, "
            "changed_us = ?, failures = ?, failing_since_us = ?, last_error = ? WHERE name = ?",
            (*row[1:], row[0]),
        ).rowcount
        return changed > 0

    def put_destination(self, destination: Destination) -> bool:
        with self._write("put destination") as conn:
            return self._put_destination(conn, destination)

    def change_destination(
        self, name: str, change: Callable[[Destination], Destination]
    ) -> tuple[Destination, Destination] | None:
        with self._write("change destination") as conn:
            row = conn.execute(
                f"SELECT {DESTINATION_COLUMNS} FROM destinations WHERE name = ?",  # noqa: S608
                (name,),
            ).fetchone()
            if row is None:
                return None
            before = _destination(row)
            after = change(before)
            if after != before:
                self._put_destination(conn, after)
        return before, after

    def remove_destination(self, name: str) -> bool:
        with self._write("remove destination") as conn:
            if (
                conn.execute("SELECT 1 FROM destinations WHERE name = ?", (name,)).fetchone()
                is None
            ):
                return False
            (open_jobs,) = conn.execute(
                "SELECT count(*) FROM jobs WHERE destination = ? AND outcome IS NULL", (name,)
            ).fetchone()
            if open_jobs:
                raise DestinationConflict(open_jobs_message(name, open_jobs))
            conn.execute("DELETE FROM jobs WHERE destination = ?", (name,))
            conn.execute("DELETE FROM destinations WHERE name = ?", (name,))
        return True

    def write_actioned(
        self, changes: Sequence[tuple[DeletionTask, Sequence[Job]]]
    ) -> frozenset[str]:
        if not changes:
            return frozenset()
        with self._write("write actioned") as conn:
            written, _ = self._update_in(conn, [task for task, _ in changes])
            conn.executemany(
                f"INSERT OR IGNORE INTO jobs ({JOB_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    _job_row(job)
                    for task, jobs in changes
                    if task.task_id in written
                    for job in jobs
                ],
            )
        return frozenset(task.task_id for task, _ in changes if task.task_id not in written)

    def get_job(self, job_id: str) -> Job | None:
        with self._read("get job") as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?",  # noqa: S608
                (job_id,),
            ).fetchone()
        return None if row is None else _job(row)

    @staticmethod
    def _jobs_of(conn: sqlite3.Connection, task_id: str) -> list[Job]:
        rows = conn.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = ? ORDER BY destination",  # noqa: S608
            (task_id,),
        ).fetchall()
        return [_job(row) for row in rows]

    def task_jobs(self, task_id: str) -> list[Job]:
        with self._read("task jobs") as conn:
            return self._jobs_of(conn, task_id)

    def claim_jobs(
        self, destination: str, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Job]:
        with self._write("claim jobs") as conn:
            rows = conn.execute(
                f"UPDATE jobs SET state = 'claimed', holder = ?, lease_us = ? "  # noqa: S608
                "WHERE job_id IN (SELECT j.job_id FROM jobs j JOIN destinations d "
                "ON d.name = j.destination AND d.paused = 0 "
                "WHERE j.destination = ? AND j.outcome IS NULL AND j.waits_for = '' "
                "AND j.state IN ('owed', 'claimed') AND (j.lease_us IS NULL OR j.lease_us <= ?) "
                "ORDER BY j.created_us, j.job_id LIMIT ?) "
                f"RETURNING {JOB_COLUMNS}",
                (holder, _us(until), destination, _us(now), limit),
            ).fetchall()
        return sorted((_job(row) for row in rows), key=lambda j: (j.created_time, j.job_id))

    def _settle_attempt(
        self, what: str, job_id: str, holder: str, change: Callable[[Job], Job]
    ) -> Job | None:
        with self._write(what) as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ? AND state = 'claimed' "  # noqa: S608
                "AND holder = ?",
                (job_id, holder),
            ).fetchone()
            if row is None:
                return None
            job = change(_job(row))
            self._put_jobs(conn, [job])
        return job

    @staticmethod
    def _put_jobs(conn: sqlite3.Connection, jobs: Sequence[Job]) -> None:
        conn.executemany(
            f"REPLACE INTO jobs ({JOB_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_job_row(job) for job in jobs],
        )

    def mark_delivered(self, job_id: str, holder: str) -> Job | None:
        return self._settle_attempt("mark delivered", job_id, holder, delivered)

    def change_job(self, job_id: str, change: Callable[[Job], Job]) -> Job | None:
        with self._write("change job") as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?",  # noqa: S608
                (job_id,),
            ).fetchone()
            if row is None:
                return None
            job = changed_job(_job(row), change)
            self._put_jobs(conn, [job])
        return job

    def mark_attempt_failed(
        self, job_id: str, holder: str, error: str, retry_at: dt.datetime
    ) -> Job | None:
        return self._settle_attempt(
            "mark attempt failed", job_id, holder, lambda j: attempt_failed(j, error, retry_at)
        )

    def record_outcome(
        self, job_id: str, outcome: Outcome, at: dt.datetime, complete: Complete
    ) -> Recorded:
        with self._write("record outcome") as conn:
            row = conn.execute("SELECT task_id FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                raise UnknownJob(f"no job {job_id}")
            jobs = self._jobs_of(conn, row[0])
            applied = apply_outcome(jobs, job_id, outcome, at)
            if applied.repeated:
                return Recorded(next(j for j in jobs if j.job_id == job_id), True)
            self._put_jobs(conn, applied.changed)
            completed = None
            if applied.all_final:
                completed = self._complete_in(conn, row[0], applied.changed, jobs, complete)
        return Recorded(applied.changed[0], False, completed)

    def _complete_in(
        self,
        conn: sqlite3.Connection,
        task_id: str,
        changed: Sequence[Job],
        jobs: Sequence[Job],
        complete: Complete,
    ) -> DeletionTask | None:
        task = self._task_in(conn, task_id)
        if task is None:
            return None
        after = {j.job_id: j for j in jobs} | {j.job_id: j for j in changed}
        successor = complete(task, sorted(after.values(), key=lambda j: j.destination))
        if successor is task:
            return None
        written, _ = self._update_in(conn, [successor])
        return successor if task_id in written else None

    def job_counts(self) -> dict[str, JobCounts]:
        with self._read("job counts") as conn:
            rows = conn.execute(
                "SELECT destination, outcome, sum(state = 'owed'), "
                "sum(state IN ('delivered', 'claimed')), count(*), min(created_us) "
                "FROM jobs GROUP BY destination, outcome"
            ).fetchall()
        return counts_from_groups(
            (name, word, owed, busy, count, _time(oldest))
            for name, word, owed, busy, count, oldest in rows
        )
