"""What the server's paths read and write in SQLite: a page's summaries (its tasks' own
fields), a batch of adds in one transaction, and the lookup by hash on its shorter key, in a
new file and in one migrated from schema version 4."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import attrs
from deletion_requests_sqlite import SCHEMA_VERSION, SqliteStore
from deletion_requests_sqlite._schema import MIGRATIONS
from sqlite_utils import Database

from deletion_requests import Status, TaskSummary
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict, TaskQuery, Transition
from deletion_requests.testing._contract import make_task
from deletion_requests.wire import hash_email

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ACCOUNTS = frozenset({"acct-1"})


def test_summaries_are_the_summaries_of_the_listed_tasks(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        for n in range(5):
            task = make_task(creation_time=T0 + dt.timedelta(seconds=n))
            created = Transition(Status.PENDING, Status.PENDING, T0, "app", "created")
            store.add(attrs.evolve(task, history=(created,)))
        query = TaskQuery(accounts=ACCOUNTS, limit=3)
        whole = store.list_tasks(query)
        assert all(task.identifiers and task.history for task in whole)
        assert store.list_summaries(query) == [TaskSummary.of(task) for task in whole]


def test_a_batch_is_added_in_one_transaction_with_each_refusal_its_own(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "b.db") as store:
        taken = make_task()
        store.add(taken, ("app", "key"))
        fresh = [make_task() for _ in range(3)]
        items = [(fresh[0], None), (taken, None), (fresh[1], ("app", "key")), (fresh[2], None)]
        outcomes = store.add_batch(items)
        assert outcomes[0] is None
        assert isinstance(outcomes[1], DuplicateTask)
        assert isinstance(outcomes[2], IdempotencyKeyConflict)
        assert outcomes[3] is None
        assert store.get(fresh[0].task_id) == fresh[0]
        assert store.get(fresh[1].task_id) is None
        assert store.get(fresh[2].task_id) == fresh[2]
        assert store.add_batch([]) == []


def _lookup_plan(store: SqliteStore, identifier: str) -> str:
    """The query plan of the statement `find_by_identifier` runs."""
    conn = store._connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    store.find_by_identifier(identifier, 10)
    conn.set_trace_callback(None)
    (lookup,) = [s for s in statements if "substr(" in s]
    return " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {lookup}"))


def test_the_lookup_by_hash_reads_its_index_on_the_shorter_key(tmp_path: Path) -> None:
    one, other = hash_email("one@example.com"), hash_email("other@example.com")
    with SqliteStore(tmp_path / "h.db") as store:
        a, b = make_task(identifiers=frozenset({one})), make_task(identifiers={one, other})
        store.add_batch([(a, None), (b, None)])
        assert "USING INDEX task_identifiers_by_hash" in _lookup_plan(store, one)
        assert [t.task_id for t in store.find_by_identifier(one, 10)] == sorted(
            [a.task_id, b.task_id], key=lambda task_id: (T0, task_id)
        )
        assert store.find_by_identifier(other, 10) == [b]
        # The same first 8 characters, another hash: not a match.
        assert store.find_by_identifier(one[:8] + other[8:], 10) == []


def test_a_version_4_file_migrates_to_the_shorter_key_and_keeps_its_lookups(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, migration in enumerate(MIGRATIONS[:4], start=1):
        migration(Database(conn))
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    identifier = hash_email("person@example.com")
    conn.execute(
        "INSERT INTO tasks (id, task_id, account_id, status, creation_us, created_by, version) "
        "VALUES (1, '00000000-0000-4000-8000-000000000001', 'acct-1', 'pending', 1, 'app', 1)"
    )
    conn.execute("INSERT INTO task_identifiers (task, hash) VALUES (1, ?)", (identifier,))
    conn.close()
    with SqliteStore(path) as store:
        found = store.find_by_identifier(identifier, 10)
        assert [task.task_id for task in found] == ["00000000-0000-4000-8000-000000000001"]
        assert "USING INDEX task_identifiers_by_hash" in _lookup_plan(store, identifier)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'task_identifiers_by_hash'"
    ).fetchone()
    assert "substr(hash, 1, 8)" in sql
