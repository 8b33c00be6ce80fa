"""The schema, created and migrated on open under an advisory lock."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from deletion_requests import StoreError
from deletion_requests.stores import job_id_for

MIGRATIONS: list[str] = [
    """
    CREATE TABLE tasks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_id text NOT NULL UNIQUE,
        account_id text NOT NULL,
        status text NOT NULL,
        creation_time timestamptz NOT NULL,
        ready_time timestamptz,
        actioned_time timestamptz,
        cancelled_time timestamptz,
        created_by text NOT NULL,
        version integer NOT NULL
    );
    CREATE INDEX tasks_by_account_newest
        ON tasks (account_id, creation_time DESC, task_id DESC);
    CREATE INDEX tasks_due ON tasks (status, creation_time)
        WHERE status IN ('pending', 'ready');
    CREATE TABLE task_identifiers (
        task bigint NOT NULL REFERENCES tasks (id),
        hash text NOT NULL,
        PRIMARY KEY (task, hash)
    );
    CREATE TABLE task_history (
        task bigint NOT NULL REFERENCES tasks (id),
        seq integer NOT NULL,
        source text NOT NULL,
        dest text NOT NULL,
        at timestamptz NOT NULL,
        by text NOT NULL,
        PRIMARY KEY (task, seq)
    );
    CREATE TABLE idempotency_keys (
        scope text NOT NULL,
        key text NOT NULL,
        task_id text NOT NULL REFERENCES tasks (task_id),
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE accounts (
        account_id text PRIMARY KEY,
        allowed_time timestamptz NOT NULL
    );
    CREATE TABLE apps (
        app_id text PRIMARY KEY,
        secret_digest text NOT NULL,
        created_time timestamptz NOT NULL,
        revoked boolean NOT NULL DEFAULT false
    );
    CREATE TABLE app_accounts (
        app_id text NOT NULL REFERENCES apps (app_id),
        account_id text NOT NULL,
        PRIMARY KEY (app_id, account_id)
    );
    CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL);
    """,
    # The hand-off: the outbox rides in the task's row (written with the transition that owes
    # it), completion, overdue and purge times, and history entries that are not transitions.
    # Partial indexes hold only the tasks some later step still has to touch.
    """
    ALTER TABLE tasks
        ADD COLUMN outbox text[] NOT NULL DEFAULT '{}',
        ADD COLUMN completed_time timestamptz,
        ADD COLUMN overdue_time timestamptz,
        ADD COLUMN purged_time timestamptz;
    ALTER TABLE task_history
        ADD COLUMN event text NOT NULL DEFAULT 'transition',
        ADD COLUMN detail text NOT NULL DEFAULT '';
    CREATE INDEX tasks_outbox ON tasks (creation_time) WHERE outbox <> '{}';
    CREATE INDEX tasks_incomplete ON tasks (actioned_time)
        WHERE status = 'actioned' AND completed_time IS NULL;
    CREATE INDEX tasks_to_purge ON tasks (completed_time)
        WHERE completed_time IS NOT NULL AND purged_time IS NULL;
    """,
    # Operators look a subject up by its hash (`find_by_identifier`); cancelled tasks are
    # purged too, `retention` after their cancellation.
    """
    CREATE INDEX task_identifiers_by_hash ON task_identifiers (hash);
    CREATE INDEX tasks_cancelled_to_purge ON tasks (cancelled_time)
        WHERE cancelled_time IS NOT NULL AND purged_time IS NULL;
    ALTER TABLE tasks ADD COLUMN held_time timestamptz;
    """,
    # Operators sign in to the console; each app's last use is shown to them. Several servers
    # deliver the outbox: each message is leased to one before it is sent.
    """
    CREATE TABLE operators (
        name text PRIMARY KEY,
        password_hash text NOT NULL,
        created_time timestamptz NOT NULL
    );
    CREATE TABLE app_uses (app_id text PRIMARY KEY, last_used_time timestamptz NOT NULL);
    CREATE TABLE app_callbacks (
        app_id text PRIMARY KEY REFERENCES apps (app_id),
        url text NOT NULL,
        secret text NOT NULL,
        set_time timestamptz NOT NULL
    );
    CREATE TABLE outbox_leases (
        task_id text NOT NULL,
        kind text NOT NULL,
        holder text NOT NULL,
        until_time timestamptz NOT NULL,
        PRIMARY KEY (task_id, kind)
    );
    """,
    # Destinations and one job per (task, destination). Tasks handed off before this version
    # keep their state as jobs of `default` (ids from `job_id_for`, set by `_default_jobs`).
    """
    CREATE TABLE destinations (
        name text PRIMARY KEY,
        mode text NOT NULL,
        created_time timestamptz NOT NULL,
        webhook_url text,
        secret text,
        credential_digest text,
        accounts text[],
        waits_for text[] NOT NULL DEFAULT '{}',
        paused boolean NOT NULL DEFAULT false
    );
    CREATE TABLE jobs (
        job_id text PRIMARY KEY,
        task_id text NOT NULL,
        destination text NOT NULL,
        created_time timestamptz NOT NULL,
        state text NOT NULL,
        waits_for text[] NOT NULL DEFAULT '{}',
        outcome text,
        reason text NOT NULL DEFAULT '',
        outcome_time timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text NOT NULL DEFAULT '',
        holder text,
        lease_until timestamptz
    );
    CREATE INDEX jobs_by_task ON jobs (task_id, destination);
    CREATE INDEX jobs_open ON jobs (destination, created_time) WHERE outcome IS NULL;
    """,
    # A push destination's breaker: who last paused or resumed it (`breaker` when it paused
    # itself) and when, its failed attempts in a row since when, and its last error. Paused
    # destinations before this version were paused by an operator whose name was not kept.
    """
    ALTER TABLE destinations
        ADD COLUMN changed_by text,
        ADD COLUMN changed_time timestamptz,
        ADD COLUMN failures integer NOT NULL DEFAULT 0,
        ADD COLUMN failing_since timestamptz,
        ADD COLUMN last_error text NOT NULL DEFAULT '';
    """,
    # Every task carries its due time (creation plus the due period, later when an operator
    # extended it); tasks stored before get the default policy's 30 days. The tasks handed off
    # and not completed, by due time, are what overdue marks and lists read.
    """
    ALTER TABLE tasks ADD COLUMN due_time timestamptz;
    UPDATE tasks SET due_time = creation_time + interval '30 days';
    ALTER TABLE tasks ALTER COLUMN due_time SET NOT NULL;
    CREATE INDEX tasks_incomplete_by_due ON tasks (due_time)
        WHERE status = 'actioned' AND completed_time IS NULL;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
DEFAULT_JOBS_VERSION = 5
"""The migration after which the tasks already actioned get their `default` jobs."""
LOCK_KEY = 0x6465_6C72  # "delr": the advisory lock replicas take to migrate one at a time


def migrate(conn: psycopg.Connection[tuple[Any, ...]], schema: str, where: str) -> None:
    """Bring *schema* to `SCHEMA_VERSION` in one transaction, one replica at a time."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        current = int(row[0] or 0) if row else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{where} was written by a newer deletion-requests-postgres (schema version "
                f"{current}; this one knows up to {SCHEMA_VERSION}): upgrade the package"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1].encode())
            if version == DEFAULT_JOBS_VERSION:
                _default_jobs(conn)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))


def _default_jobs(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    """A `default` job for every task actioned before destinations, keeping its state: owed
    while the hand-off is owed, delivered once it was, final (deleted) once completed."""
    rows = conn.execute(
        "SELECT task_id, actioned_time, completed_time, 'handoff' = ANY(outbox) FROM tasks "
        "WHERE status = 'actioned'"
    ).fetchall()
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO jobs (job_id, task_id, destination, created_time, state, outcome, "
            "outcome_time) VALUES (%s, %s, 'default', %s, %s, %s, %s)",
            [
                (
                    job_id_for(task_id, "default"),
                    task_id,
                    actioned,
                    "final" if completed else "owed" if owes else "delivered",
                    "deleted" if completed else None,
                    completed,
                )
                for task_id, actioned, completed, owes in rows
            ],
        )
