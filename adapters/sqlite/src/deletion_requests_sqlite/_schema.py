"""The schema, created and migrated with sqlite-utils, one numbered migration at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sqlite_utils import Database
from sqlite_utils.db import DescIndex

from deletion_requests import StoreError
from deletion_requests.stores import job_id_for


def _v1(db: Database) -> None:
    # `id` is the rowid: tasks, their identifiers and their history sit in creation order, so
    # the writes of a batch (advance_due moves the oldest tasks) touch neighbouring pages.
    db.table("tasks").create(
        {
            "id": int,
            "task_id": str,
            "account_id": str,
            "status": str,
            "creation_us": int,
            "ready_us": int,
            "actioned_us": int,
            "cancelled_us": int,
            "created_by": str,
            "version": int,
        },
        pk="id",
        not_null={"task_id", "account_id", "status", "creation_us", "created_by", "version"},
    )
    db.table("tasks").create_index(["task_id"], index_name="tasks_by_task_id", unique=True)
    # Listing newest first per account, keyset on (creation, task id): one index range scan.
    db.table("tasks").create_index(
        ["account_id", DescIndex("creation_us"), DescIndex("task_id")],
        index_name="tasks_by_account_newest",
    )
    # Tasks due for a transition: status, then oldest first.
    db.table("tasks").create_index(["status", "creation_us"], index_name="tasks_due")
    db.table("task_identifiers").create(
        {"task": int, "hash": str},
        pk=("task", "hash"),
        not_null={"task", "hash"},
        foreign_keys=[("task", "tasks", "id")],
    )
    db.table("task_history").create(
        {"task": int, "seq": int, "source": str, "dest": str, "at_us": int, "by": str},
        pk=("task", "seq"),
        not_null={"task", "seq", "source", "dest", "at_us", "by"},
        foreign_keys=[("task", "tasks", "id")],
    )
    db.table("idempotency_keys").create(
        {"scope": str, "key": str, "task_id": str},
        pk=("scope", "key"),
        not_null={"scope", "key", "task_id"},
        foreign_keys=[("task_id", "tasks", "task_id")],
    )
    db.table("accounts").create({"account_id": str, "allowed_us": int}, pk="account_id")
    db.table("apps").create(
        {"app_id": str, "secret_digest": str, "created_us": int, "revoked": int},
        pk="app_id",
        not_null={"secret_digest", "created_us", "revoked"},
    )
    db.table("app_accounts").create(
        {"app_id": str, "account_id": str},
        pk=("app_id", "account_id"),
        foreign_keys=[("app_id", "apps", "app_id")],
    )
    db.table("settings").create({"name": str, "value": str}, pk="name", not_null={"value"})


def _v2(db: Database) -> None:
    # The hand-off: the outbox rides in the task's row (written with the transition that owes
    # it), completion, overdue and purge times, and history entries that are not transitions.
    tasks = db.table("tasks")
    tasks.add_column("outbox", str, not_null_default="")
    for column in ("completed_us", "overdue_us", "purged_us"):
        tasks.add_column(column, int)
    history = db.table("task_history")
    history.add_column("event", str, not_null_default="transition")
    history.add_column("detail", str, not_null_default="")
    # Partial indexes: each holds only the tasks some later step still has to touch.
    db.execute("CREATE INDEX tasks_outbox ON tasks (creation_us) WHERE outbox != ''")
    db.execute(
        "CREATE INDEX tasks_incomplete ON tasks (actioned_us) "
        "WHERE status = 'actioned' AND completed_us IS NULL"
    )
    db.execute(
        "CREATE INDEX tasks_to_purge ON tasks (completed_us) "
        "WHERE completed_us IS NOT NULL AND purged_us IS NULL"
    )


def _v3(db: Database) -> None:
    # Operators look a subject up by its hash (`find_by_identifier`); cancelled tasks are
    # purged too, `retention` after their cancellation.
    db.execute("CREATE INDEX task_identifiers_by_hash ON task_identifiers (hash)")
    # Operators hold tasks: a held task is never handed off.
    db.table("tasks").add_column("held_us", int)
    db.execute(
        "CREATE INDEX tasks_cancelled_to_purge ON tasks (cancelled_us) "
        "WHERE cancelled_us IS NOT NULL AND purged_us IS NULL"
    )


def _v4(db: Database) -> None:
    # Operators sign in to the console; each app's last use is shown to them.
    db.table("operators").create(
        {"name": str, "password_hash": str, "created_us": int},
        pk="name",
        not_null={"password_hash", "created_us"},
    )
    db.table("app_uses").create(
        {"app_id": str, "last_used_us": int}, pk="app_id", not_null={"last_used_us"}
    )
    # Several servers deliver the outbox: each message is leased to one before it is sent.
    db.table("outbox_leases").create(
        {"task_id": str, "kind": str, "holder": str, "until_us": int},
        pk=("task_id", "kind"),
        not_null={"holder", "until_us"},
    )
    # Apps' status callbacks, registered by operators.
    db.table("app_callbacks").create(
        {"app_id": str, "url": str, "secret": str, "set_us": int},
        pk="app_id",
        not_null={"url", "secret", "set_us"},
    )
    # The held tasks, few at any time: counting by status reads them apart.
    db.execute("CREATE INDEX tasks_held ON tasks (creation_us) WHERE held_us IS NOT NULL")
    # Purged tasks, counted for metrics from an index rather than the table.
    db.execute("CREATE INDEX tasks_purged ON tasks (purged_us) WHERE purged_us IS NOT NULL")


HASH_KEY = "substr(hash, 1, 8)"
"""The key of `task_identifiers_by_hash`: a hash's first 8 base64 characters (48 bits), which
tell hashes apart all but never; a lookup compares the whole hash too."""


def _v5(db: Database) -> None:
    # The lookup by hash keyed on a prefix of the hash: a shorter key makes a smaller index,
    # and each create's insert into it (at a random place) touches fewer pages.
    db.execute("DROP INDEX task_identifiers_by_hash")
    db.execute(f"CREATE INDEX task_identifiers_by_hash ON task_identifiers ({HASH_KEY})")


def _v6(db: Database) -> None:
    # Destinations and one job per (task, destination). Tasks handed off before this version
    # keep their state as jobs of `default`, the push destination the hand-off URL becomes:
    # owed while the hand-off is owed, delivered once it was, final (deleted) when completed.
    db.execute(
        "CREATE TABLE destinations (name TEXT PRIMARY KEY, mode TEXT NOT NULL, "
        "created_us INTEGER NOT NULL, webhook_url TEXT, secret TEXT, credential_digest TEXT, "
        "accounts TEXT, waits_for TEXT NOT NULL DEFAULT '', paused INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute(
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, "
        "destination TEXT NOT NULL, created_us INTEGER NOT NULL, state TEXT NOT NULL, "
        "waits_for TEXT NOT NULL DEFAULT '', outcome TEXT, reason TEXT NOT NULL DEFAULT '', "
        "outcome_us INTEGER, attempts INTEGER NOT NULL DEFAULT 0, "
        "last_error TEXT NOT NULL DEFAULT '', holder TEXT, lease_us INTEGER)"
    )
    db.execute("CREATE INDEX jobs_by_task ON jobs (task_id, destination)")
    # The jobs still open, per destination, oldest first: what claims and counts read.
    db.execute("CREATE INDEX jobs_open ON jobs (destination, created_us) WHERE outcome IS NULL")
    db.conn.create_function("job_id_for", 2, job_id_for, deterministic=True)
    db.execute(
        "INSERT INTO jobs (job_id, task_id, destination, created_us, state, outcome, outcome_us) "
        "SELECT job_id_for(task_id, 'default'), task_id, 'default', actioned_us, "
        "CASE WHEN completed_us IS NOT NULL THEN 'final' "
        "WHEN instr(outbox, 'handoff') > 0 THEN 'owed' ELSE 'delivered' END, "
        "CASE WHEN completed_us IS NOT NULL THEN 'deleted' END, completed_us "
        "FROM tasks WHERE status = 'actioned'"
    )


def _v7(db: Database) -> None:
    # A push destination's breaker: who last paused or resumed it (`breaker` when it paused
    # itself) and when, its failed attempts in a row since when, and its last error. Paused
    # destinations before this version were paused by an operator whose name was not kept.
    destinations = db.table("destinations")
    destinations.add_column("changed_by", str)
    destinations.add_column("changed_us", int)
    destinations.add_column("failures", int, not_null_default=0)
    destinations.add_column("failing_since_us", int)
    destinations.add_column("last_error", str, not_null_default="")


DUE_PERIOD_US = 30 * 86_400 * 1_000_000
"""The due period tasks stored before due dates get: the default policy's 30 days."""


def _v8(db: Database) -> None:
    # Every task carries its due time (creation plus the due period, later when an operator
    # extended it). Tasks stored before get the default policy's 30 days.
    db.execute("ALTER TABLE tasks ADD COLUMN due_us INTEGER")
    db.execute(f"UPDATE tasks SET due_us = creation_us + {DUE_PERIOD_US}")  # noqa: S608 (a constant)
    # The tasks handed off and not completed, by due time: what overdue marks and lists read.
    db.execute(
        "CREATE INDEX tasks_incomplete_by_due ON tasks (due_us) "
        "WHERE status = 'actioned' AND completed_us IS NULL"
    )


JOB_KEY = "substr(job_id, 1, 8)"
"""The key of `jobs_by_id`: a job id's first 8 hex digits (32 bits), which tell the jobs of a
store apart all but never; a lookup compares the whole id too."""

JOB_TALLY_TRIGGERS = (
    "CREATE TRIGGER jobs_tally_delete AFTER DELETE ON jobs BEGIN "
    "UPDATE job_tallies SET n = n - 1 WHERE destination = OLD.destination "
    "AND outcome = coalesce(OLD.outcome, '') AND state = OLD.state; END",
    "CREATE TRIGGER jobs_tally_update AFTER UPDATE OF destination, state, outcome ON jobs "
    "WHEN OLD.destination IS NOT NEW.destination OR OLD.state IS NOT NEW.state "
    "OR OLD.outcome IS NOT NEW.outcome BEGIN "
    "UPDATE job_tallies SET n = n - 1 WHERE destination = OLD.destination "
    "AND outcome = coalesce(OLD.outcome, '') AND state = OLD.state; "
    "INSERT INTO job_tallies VALUES (NEW.destination, coalesce(NEW.outcome, ''), NEW.state, 1) "
    "ON CONFLICT DO UPDATE SET n = n + 1; END",
)
"""What keeps `job_tallies` equal to a count of the jobs in the statement that changes or
deletes one. (The jobs a hand-off inserts are added by `write_actioned`, a batch at a time, in
the same transaction: a trigger a row would double the cost of the insert.)"""


def _v9(db: Database) -> None:
    # Jobs in creation order: the rows keyed by a rowid, a job's id looked up by a short key
    # of it. Under the id as primary key every batch of new jobs (random ids) wrote into every
    # page of that index. The jobs keep their ids and states, in the order they were created.
    db.execute("DROP INDEX jobs_by_task")
    db.execute("DROP INDEX jobs_open")
    db.execute("ALTER TABLE jobs RENAME TO jobs_v8")
    db.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, "
        "task_id TEXT NOT NULL, destination TEXT NOT NULL, created_us INTEGER NOT NULL, "
        "state TEXT NOT NULL, waits_for TEXT NOT NULL DEFAULT '', outcome TEXT, "
        "reason TEXT NOT NULL DEFAULT '', outcome_us INTEGER, "
        "attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', "
        "holder TEXT, lease_us INTEGER)"
    )
    columns = (
        "job_id, task_id, destination, created_us, state, waits_for, outcome, reason, "
        "outcome_us, attempts, last_error, holder, lease_us"
    )
    db.execute(
        f"INSERT INTO jobs ({columns}) SELECT {columns} FROM jobs_v8 "  # noqa: S608 (constants)
        "ORDER BY created_us, task_id, destination"
    )
    db.execute("DROP TABLE jobs_v8")
    # One job per task and destination; a task's jobs read together.
    db.execute("CREATE UNIQUE INDEX jobs_by_task ON jobs (task_id, destination)")
    db.execute(f"CREATE INDEX jobs_by_id ON jobs ({JOB_KEY})")
    # The jobs still open, per destination, oldest first: what claims and counts read.
    db.execute("CREATE INDEX jobs_open ON jobs (destination, created_us) WHERE outcome IS NULL")
    # The jobs counted per destination, outcome ('' while open) and state, kept in the
    # transaction that writes the jobs: what counts read instead of every job.
    db.execute(
        "CREATE TABLE job_tallies (destination TEXT NOT NULL, outcome TEXT NOT NULL, "
        "state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (destination, outcome, state)) "
        "WITHOUT ROWID"
    )
    db.execute(
        "INSERT INTO job_tallies SELECT destination, coalesce(outcome, ''), state, count(*) "
        "FROM jobs GROUP BY destination, coalesce(outcome, ''), state"
    )
    for trigger in JOB_TALLY_TRIGGERS:
        db.execute(trigger)


MIGRATIONS: list[Callable[[Database], None]] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
    _v9,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database at *path* to `SCHEMA_VERSION` in one immediate transaction.

    Several processes may open one file at once: the first to take the write lock migrates, the
    others then find nothing to do. A file from a newer schema is refused, never touched.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer deletion-requests-sqlite (schema version "
                f"{current}; this one knows up to {SCHEMA_VERSION}): upgrade the package"
            )
        db = Database(conn, recursive_triggers=False)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
