"""The PostgreSQL store's destinations and jobs (`PostgresStore` mixes this in).

Claims lock the rows they take with `FOR UPDATE SKIP LOCKED`, so several workers of one
destination, on any number of servers, never share a job and never wait for each other. An
outcome locks every job of its task first, so two reports for one task are serialised, and the
last one writes the completion in the same transaction; the tasks a report writes are read
locked too (in id order, as every write of several tasks locks them), so another writer
changing one (an overdue mark, a hold) is waited for, and the report's compare-and-set cannot
lose to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import errors

from deletion_requests import (
    DeletionTask,
    Destination,
    DestinationConflict,
    Job,
    Recorded,
    StoreError,
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

from ._destination_rows import (
    DESTINATION_COLUMNS,
    JOB_COLUMNS,
    JOB_VALUES,
    destination_from_row,
    destination_row,
    job_from_row,
    job_row,
)

Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresDestinations(Destinations):
    """Destinations and jobs in the store's schema. The host supplies `_write`, `_read`,
    `_update` and `_task_in`."""

    def _write(self, what: str) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def _read(self, what: str, work: Callable[[Conn], Any], single: bool = False) -> Any:
        raise NotImplementedError

    def _update(
        self, conn: Conn, tasks: Sequence[DeletionTask], locked: bool = False
    ) -> dict[str, int]:
        raise NotImplementedError

    def _task_in(self, conn: Conn, task_id: str) -> DeletionTask | None:
        raise NotImplementedError

    def _tasks_in(
        self, conn: Conn, task_ids: Collection[str], lock: bool = False
    ) -> dict[str, DeletionTask]:
        raise NotImplementedError

    def add_destination(self, destination: Destination) -> None:
        try:
            with self._write("add destination") as conn:
                # FOR SHARE: a removal of one of them waits for this write, and then sees it.
                waited = list(destination.waits_for)
                sql = "SELECT name FROM destinations WHERE name = ANY(%s) FOR SHARE"
                check_waits_for(destination, (n for (n,) in conn.execute(sql, (waited,))))
                conn.execute(
                    f"INSERT INTO destinations ({DESTINATION_COLUMNS}) "  # noqa: S608
                    f"VALUES ({', '.join(['%s'] * 14)})",
                    destination_row(destination),
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, errors.UniqueViolation):
                raise DestinationConflict(
                    f"a destination named {destination.name!r} exists"
                ) from None
            raise

    def get_destination(self, name: str) -> Destination | None:
        row = self._read(
            "get destination",
            lambda conn: conn.execute(
                f"SELECT {DESTINATION_COLUMNS} FROM destinations WHERE name = %s",  # noqa: S608
                (name,),
            ).fetchone(),
            single=True,
        )
        return None if row is None else destination_from_row(row)

    def list_destinations(self) -> list[Destination]:
        rows = self._read(
            "list destinations",
            lambda conn: conn.execute(
                f"SELECT {DESTINATION_COLUMNS} FROM destinations ORDER BY name"  # noqa: S608
            ).fetchall(),
            single=True,
        )
        return [destination_from_row(row) for row in rows]

    @staticmethod
    def _put_destination(conn: Conn, destination: Destination) -> bool:
        row = destination_row(destination)
        changed = conn.execute(
            "UPDATE destinations SET mode = %s, created_time = %s, webhook_url = %s, "
            "secret = %s, credential_digest = %s, accounts = %s, waits_for = %s, "
            "paused = %s, changed_by = %s, changed_time = %s, failures = %s, "
            "failing_since = %s, last_error = %s WHERE name = %s",
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
                f"SELECT {DESTINATION_COLUMNS} FROM destinations "  # noqa: S608
                "WHERE name = %s FOR UPDATE",
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
            found = conn.execute(
                "SELECT 1 FROM destinations WHERE name = %s FOR UPDATE", (name,)
            ).fetchone()
            if found is None:
                return False
            waiting = conn.execute(
                "SELECT name FROM destinations WHERE %s = ANY(waits_for)", (name,)
            ).fetchall()
            if waiting:
                raise DestinationConflict(waited_for_message(name, [w for (w,) in waiting]))
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE destination = %s AND outcome IS NULL", (name,)
            ).fetchone()
            open_jobs = int(row[0]) if row else 0
            if open_jobs:
                raise DestinationConflict(open_jobs_message(name, open_jobs))
            conn.execute("DELETE FROM jobs WHERE destination = %s", (name,))
            conn.execute("DELETE FROM destinations WHERE name = %s", (name,))
        return True

    def write_actioned(
        self, changes: Sequence[tuple[DeletionTask, Sequence[Job]]]
    ) -> frozenset[str]:
        if not changes:
            return frozenset()
        with self._write("write actioned") as conn:
            written = self._update(conn, [task for task, _ in changes])
            rows = [
                job_row(job) for task, jobs in changes if task.task_id in written for job in jobs
            ]
            if rows:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES {JOB_VALUES} "  # noqa: S608
                        "ON CONFLICT (job_id) DO NOTHING",
                        rows,
                    )
        return frozenset(task.task_id for task, _ in changes if task.task_id not in written)

    def get_job(self, job_id: str) -> Job | None:
        row = self._read(
            "get job",
            lambda conn: conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = %s",  # noqa: S608
                (job_id,),
            ).fetchone(),
            single=True,
        )
        return None if row is None else job_from_row(row)

    @staticmethod
    def _jobs_of(conn: Conn, task_id: str, lock: bool = False) -> list[Job]:
        rows = conn.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = %s ORDER BY destination"  # noqa: S608
            + (" FOR UPDATE" if lock else ""),
            (task_id,),
        ).fetchall()
        return [job_from_row(row) for row in rows]

    def task_jobs(self, task_id: str) -> list[Job]:
        jobs: list[Job] = self._read("task jobs", lambda conn: self._jobs_of(conn, task_id), True)
        return jobs

    def claim_jobs(
        self, destination: str, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Job]:
        with self._write("claim jobs") as conn:
            rows = conn.execute(
                "UPDATE jobs SET state = 'claimed', holder = %s, lease_until = %s "  # noqa: S608
                "WHERE job_id IN (SELECT j.job_id FROM jobs j JOIN destinations d "
                "ON d.name = j.destination AND NOT d.paused "
                "WHERE j.destination = %s AND j.outcome IS NULL AND j.waits_for = '{}' "
                "AND j.state IN ('owed', 'claimed') "
                "AND (j.lease_until IS NULL OR j.lease_until <= %s) "
                "ORDER BY j.created_time, j.job_id LIMIT %s FOR UPDATE OF j SKIP LOCKED) "
                f"RETURNING {JOB_COLUMNS}",
                (holder, until, destination, now, limit),
            ).fetchall()
        return sorted((job_from_row(row) for row in rows), key=lambda j: (j.created_time, j.job_id))

    def _settle_attempt(
        self, what: str, job_id: str, holder: str, change: Callable[[Job], Job]
    ) -> Job | None:
        with self._write(what) as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = %s AND state = 'claimed' "  # noqa: S608
                "AND holder = %s FOR UPDATE",
                (job_id, holder),
            ).fetchone()
            if row is None:
                return None
            job = change(job_from_row(row))
            self._put_jobs(conn, [job])
        return job

    @staticmethod
    def _put_jobs(conn: Conn, jobs: Sequence[Job]) -> None:
        """Write *jobs* over their rows, in one statement however many they are."""
        rows = [job_row(job) for job in jobs]
        waits = [",".join(sorted(job.waits_for)) for job in jobs]
        conn.execute(
            "UPDATE jobs AS j SET state = n.state, waits_for = string_to_array(n.waits_for, ','), "
            "outcome = n.outcome, reason = n.reason, outcome_time = n.outcome_time, "
            "attempts = n.attempts, last_error = n.last_error, holder = n.holder, "
            "lease_until = n.lease_until FROM unnest(%s::text[], %s::text[], %s::text[], "
            "%s::text[], %s::text[], %s::timestamptz[], %s::int[], %s::text[], %s::text[], "
            "%s::timestamptz[]) AS n(job_id, state, waits_for, outcome, reason, outcome_time, "
            "attempts, last_error, holder, lease_until) WHERE j.job_id = n.job_id",
            (
                [row[0] for row in rows],
                [row[4] for row in rows],
                waits,
                *([row[i] for row in rows] for i in range(6, 13)),
            ),
        )

    def mark_delivered(self, job_id: str, holder: str) -> Job | None:
        return self._settle_attempt("mark delivered", job_id, holder, delivered)

    def change_job(self, job_id: str, change: Callable[[Job], Job]) -> Job | None:
        with self._write("change job") as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = %s FOR UPDATE",  # noqa: S608
                (job_id,),
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
            # Every job of the reports' tasks, locked, in one round trip.
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE task_id IN "  # noqa: S608
                "(SELECT task_id FROM jobs WHERE job_id = ANY(%s)) "
                "ORDER BY task_id, destination FOR UPDATE",
                ([r.job_id for r in reports],),
            ).fetchall()
            jobs = [job_from_row(row) for row in rows]
            # The tasks it will write, locked: another writer's change waits, or is waited for.
            batch = apply_reports(
                reports, jobs, lambda ids: self._tasks_in(conn, ids, lock=True), at, complete
            )
            if batch.jobs:
                self._put_jobs(conn, batch.jobs)
            if batch.tasks:
                check_written(batch, self._update(conn, batch.tasks, locked=True))
        return list(batch.recorded)

    def job_counts(self) -> dict[str, JobCounts]:
        rows: Iterator[tuple[Any, ...]] = self._read(
            "job counts",
            lambda conn: conn.execute(
                "SELECT destination, outcome, count(*) FILTER (WHERE state = 'owed'), "
                "count(*) FILTER (WHERE state IN ('delivered', 'claimed')), count(*), "
                "min(created_time) FROM jobs GROUP BY destination, outcome"
            ).fetchall(),
            single=True,
        )
        return counts_from_groups(rows)
