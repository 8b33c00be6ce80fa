"""The SQLite store's destinations and jobs (`SqliteStore` mixes this in).

Every write is one `BEGIN IMMEDIATE` transaction on the store's write lock, so a claim, an
outcome and the completion it brings are serialised against every other writer of the file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager

from deletion_requests import (
    DeletionTask,
    Destination,
    DestinationConflict,
    Job,
    JobState,
    Recorded,
)
from deletion_requests.stores import (
    Complete,
    Destinations,
    JobCounts,
    Report,
    apply_reports,
    attempt_failed,
    changed_job,
    check_waits_for,
    check_written,
    counts_from_groups,
    delivered,
    open_jobs_message,
    waited_for_message,
)

from ._job_rows import (
    DESTINATION_COLUMNS,
    DESTINATION_VALUES,
    JOB_COLUMNS,
    destination_from_row,
    destination_row,
    from_us,
    job_from_row,
    job_row,
    to_us,
)
from ._schema import JOB_KEY

BY_JOB_ID = f"{JOB_KEY} = substr(?, 1, 8) AND +job_id = ?"
"""A job by its id, through `jobs_by_id`; the id is given twice. (The `+` keeps SQLite from
putting the id given into the key's expression, which would leave the index unused.)"""


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
            check_waits_for(
                destination, (n for (n,) in conn.execute("SELECT name FROM destinations"))
            )
            try:
                conn.execute(
                    f"INSERT INTO destinations ({DESTINATION_COLUMNS}) "  # noqa: S608
                    f"VALUES {DESTINATION_VALUES}",
                    destination_row(destination),
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
        return None if row is None else destination_from_row(row)

    def list_destinations(self) -> list[Destination]:
        with self._read("list destinations") as conn:
            rows = conn.execute(
                f"SELECT {DESTINATION_COLUMNS} FROM destinations ORDER BY name"  # noqa: S608
            ).fetchall()
        return [destination_from_row(row) for row in rows]

    @staticmethod
    def _put_destination(conn: sqlite3.Connection, destination: Destination) -> bool:
        row = destination_row(destination)
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
            before = destination_from_row(row)
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
            waiting = conn.execute(
                "SELECT name FROM destinations "
                "WHERE instr(',' || waits_for || ',', ',' || ? || ',') > 0",
                (name,),
            ).fetchall()
            if waiting:
                raise DestinationConflict(waited_for_message(name, [w for (w,) in waiting]))
            (open_jobs,) = conn.execute(
                "SELECT count(*) FROM jobs WHERE destination = ? AND outcome IS NULL", (name,)
            ).fetchone()
            if open_jobs:
                raise DestinationConflict(open_jobs_message(name, open_jobs))
            conn.execute("DELETE FROM jobs WHERE destination = ?", (name,))
            # The triggers counted the jobs out; their rows, all zero now, go too.
            conn.execute("DELETE FROM job_tallies WHERE destination = ? AND n = 0", (name,))
            conn.execute("DELETE FROM destinations WHERE name = ?", (name,))
        return True

    def write_actioned(
        self, changes: Sequence[tuple[DeletionTask, Sequence[Job]]]
    ) -> frozenset[str]:
        if not changes:
            return frozenset()
        with self._write("write actioned") as conn:
            written, _ = self._update_in(conn, [task for task, _ in changes])
            self._insert_jobs(
                conn, [job for task, jobs in changes if task.task_id in written for job in jobs]
            )
        return frozenset(task.task_id for task, _ in changes if task.task_id not in written)

    @staticmethod
    def _insert_jobs(conn: sqlite3.Connection, jobs: Sequence[Job]) -> None:
        """Insert the *jobs* not stored yet, and add those inserted to `job_tallies`."""
        groups: dict[tuple[str, str, str], list[tuple[object, ...]]] = {}
        for job in jobs:
            word = "" if job.outcome is None else job.outcome.kind.value
            groups.setdefault((job.destination, word, job.state.value), []).append(job_row(job))
        inserted = []
        for group, rows in groups.items():
            count = conn.executemany(
                f"INSERT OR IGNORE INTO jobs ({JOB_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            ).rowcount
            inserted.append((*group, count))
        conn.executemany(
            "INSERT INTO job_tallies VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET n = n + excluded.n",
            inserted,
        )

    def get_job(self, job_id: str) -> Job | None:
        with self._read("get job") as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {BY_JOB_ID}",  # noqa: S608
                (job_id, job_id),
            ).fetchone()
        return None if row is None else job_from_row(row)

    @staticmethod
    def _jobs_of(conn: sqlite3.Connection, task_id: str) -> list[Job]:
        rows = conn.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = ? ORDER BY destination",  # noqa: S608
            (task_id,),
        ).fetchall()
        return [job_from_row(row) for row in rows]

    def task_jobs(self, task_id: str) -> list[Job]:
        with self._read("task jobs") as conn:
            return self._jobs_of(conn, task_id)

    def claim_jobs(
        self, destination: str, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Job]:
        with self._write("claim jobs") as conn:
            rows = conn.execute(
                f"UPDATE jobs SET state = 'claimed', holder = ?, lease_us = ? "  # noqa: S608
                "WHERE id IN (SELECT j.id FROM jobs j JOIN destinations d "
                "ON d.name = j.destination AND d.paused = 0 "
                "WHERE j.destination = ? AND j.outcome IS NULL AND j.waits_for = '' "
                "AND j.state IN ('owed', 'claimed') AND (j.lease_us IS NULL OR j.lease_us <= ?) "
                "ORDER BY j.created_us, j.job_id LIMIT ?) "
                f"RETURNING {JOB_COLUMNS}",
                (holder, to_us(until), destination, to_us(now), limit),
            ).fetchall()
        return sorted((job_from_row(row) for row in rows), key=lambda j: (j.created_time, j.job_id))

    def _settle_attempt(
        self, what: str, job_id: str, holder: str, change: Callable[[Job], Job]
    ) -> Job | None:
        with self._write(what) as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {BY_JOB_ID} "  # noqa: S608
                "AND state = 'claimed' AND holder = ?",
                (job_id, job_id, holder),
            ).fetchone()
            if row is None:
                return None
            job = change(job_from_row(row))
            self._put_jobs(conn, [job])
        return job

    @staticmethod
    def _put_jobs(conn: sqlite3.Connection, jobs: Sequence[Job]) -> None:
        # In place: the row keeps its place in creation order (and the tallies' triggers fire).
        conn.executemany(
            "UPDATE jobs SET created_us = ?, state = ?, waits_for = ?, outcome = ?, reason = ?, "
            "outcome_us = ?, attempts = ?, last_error = ?, holder = ?, lease_us = ? "
            "WHERE task_id = ? AND destination = ?",
            [(*row[3:], row[1], row[2]) for row in map(job_row, jobs)],
        )

    def mark_delivered(self, job_id: str, holder: str) -> Job | None:
        return self._settle_attempt("mark delivered", job_id, holder, delivered)

    def change_job(self, job_id: str, change: Callable[[Job], Job]) -> Job | None:
        with self._write("change job") as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {BY_JOB_ID}",  # noqa: S608
                (job_id, job_id),
            ).fetchone()
            if row is None:
                return None
            job = changed_job(job_from_row(row), change)
            self._put_jobs(conn, [job])
        return job

    def mark_attempt_failed(
        self, job_id: str, holder: str, error: str, retry_at: dt.datetime
    ) -> Job | None:
        return self._settle_attempt(
            "mark attempt failed", job_id, holder, lambda j: attempt_failed(j, error, retry_at)
        )

    def record_outcomes(
        self, reports: Sequence[Report], at: dt.datetime, complete: Complete
    ) -> list[Recorded]:
        with self._write("record outcomes") as conn:
            task_ids: dict[str, None] = {}
            for report in reports:
                row = conn.execute(
                    f"SELECT task_id FROM jobs WHERE {BY_JOB_ID}",  # noqa: S608 (fixed text)
                    (report.job_id, report.job_id),
                ).fetchone()
                if row is not None:
                    task_ids[row[0]] = None
            jobs = [job for task_id in task_ids for job in self._jobs_of(conn, task_id)]

            def tasks_of(ids: Collection[str]) -> dict[str, DeletionTask]:
                found = ((task_id, self._task_in(conn, task_id)) for task_id in ids)
                return {task_id: task for task_id, task in found if task is not None}

            batch = apply_reports(reports, jobs, tasks_of, at, complete)
            self._put_jobs(conn, batch.jobs)
            if batch.tasks:
                written, _ = self._update_in(conn, batch.tasks)
                check_written(batch, written)
        return list(batch.recorded)

    def job_counts(self) -> dict[str, JobCounts]:
        groups: dict[tuple[str, str | None], list[int]] = {}
        with self._read("job counts") as conn:
            for name, word, state, n in conn.execute(
                "SELECT destination, outcome, state, n FROM job_tallies WHERE n > 0"
            ):
                group = groups.setdefault((name, word or None), [0, 0, 0])
                group[0] += n if state == JobState.OWED.value else 0
                group[1] += n if JobState(state).in_progress else 0
                group[2] += n
            oldest = {
                name: conn.execute(
                    "SELECT min(created_us) FROM jobs WHERE destination = ? AND outcome IS NULL",
                    (name,),
                ).fetchone()[0]
                for name, word in groups
                if word is None
            }
        return counts_from_groups(
            (name, word, owed, busy, count, None if word else from_us(oldest[name]))
            for (name, word), (owed, busy, count) in groups.items()
        )
