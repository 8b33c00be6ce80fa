from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest
from deletion_requests_sqlite import SCHEMA_VERSION, SqliteStore
from deletion_requests_sqlite._schema import MIGRATIONS
from sqlite_utils import Database

from deletion_requests import (
    HANDOFF,
    AccessAdmin,
    AuthenticationFailed,
    CallableSink,
    DeletionService,
    DeletionTask,
    DeliveryFailed,
    ManualClock,
    Policy,
    Store,
    StoreError,
    UnauthorizedAccount,
    open_store,
)
from deletion_requests import _handoff as handoff
from deletion_requests._lifecycle import catch_up
from deletion_requests.testing import (
    AccessRecordsContract,
    BackgroundLeaseContract,
    OperatorRecordsContract,
    OutboxContract,
    ReportsContract,
    ServerSettingsContract,
    StoreComparison,
    StoreContract,
    TaskRecordsContract,
    crash_drill,
    make_task,
    open_together,
    race_drill,
)
from deletion_requests.wire import hash_email

POLICY = Policy()
TASK_ID = "3bc2e8b0-88ee-400c-8696-44897bc95cd3"


class SqliteStores:
    """The factory every contract case below runs on: a new, empty store."""

    persistent = True

    def create_store(self, directory: Path) -> SqliteStore:
        return SqliteStore(directory / "tasks.db")


class TestSqliteTaskRecords(SqliteStores, TaskRecordsContract):
    pass


class TestSqliteOutbox(SqliteStores, OutboxContract):
    pass


class TestSqliteReports(SqliteStores, ReportsContract):
    pass


class TestSqliteAccessRecords(SqliteStores, AccessRecordsContract):
    pass


class TestSqliteOperatorRecords(SqliteStores, OperatorRecordsContract):
    pass


class TestSqliteServerSettings(SqliteStores, ServerSettingsContract):
    pass


class TestSqliteBackgroundLease(SqliteStores, BackgroundLeaseContract):
    pass


class TestSqliteStore(SqliteStores, StoreContract):
    pass


class SqliteComparison(StoreComparison):
    def create_store(self, directory: Path) -> Store:
        return SqliteStore(directory / "tasks.db", synchronous="NORMAL")


TestSqliteAgreesWithMemory = SqliteComparison.TestCase


def test_url_opens_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///relative.db") as store:
        assert isinstance(store, SqliteStore)
        assert store.synchronous == "FULL"
    assert (tmp_path / "relative.db").exists()
    with open_store(f"sqlite:///{tmp_path}/absolute.db?synchronous=normal") as store:
        assert isinstance(store, SqliteStore)
        assert store.synchronous == "NORMAL"
    assert (tmp_path / "absolute.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/x.db", "not a sqlite URL"),
        ("sqlite:///x.db?synchronous=off", "synchronous must be full or normal"),
        ("sqlite:///x.db?fast=1", "unknown sqlite URL option"),
        ("sqlite:///no/such/dir/x.db", "does not exist"),
        ("sqlite:///:memory:", "use memory://"),
    ],
)
def test_bad_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_store(url)


def test_schema_is_versioned_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    with conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match="newer deletion-requests-sqlite"):
        SqliteStore(path)


def test_stores_opened_together_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    open_together(f"sqlite:///{path}", 8)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_a_version_1_file_is_migrated_and_keeps_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    MIGRATIONS[0](Database(conn))
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute(
        "INSERT INTO tasks (id, task_id, account_id, status, creation_us, ready_us, actioned_us, "
        "cancelled_us, created_by, version) VALUES (1, ?, 'acct-1', 'ready', 1, 2, NULL, NULL, "
        "'app_a', 2)",
        (TASK_ID,),
    )
    conn.execute("INSERT INTO task_identifiers (task, hash) VALUES (1, 'h')")
    conn.execute(
        "INSERT INTO task_history (task, seq, source, dest, at_us, by) "
        "VALUES (1, 0, 'pending', 'ready', 2, 'system')"
    )
    conn.close()
    with SqliteStore(path) as store:
        task = store.get(TASK_ID)
    assert task is not None
    assert (task.status, task.identifiers, task.outbox, task.completed_time) == (
        "ready",
        frozenset({"h"}),
        frozenset(),
        None,
    )
    assert [(h.event, h.detail) for h in task.history] == [("transition", "")]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_purged_hashes_leave_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    marker = "PURGEME" + "x" * 36 + "="
    task = make_task(identifiers=frozenset({marker}))
    now = task.creation_time + POLICY.cancel_period
    with SqliteStore(path) as store:
        store.add(task)
        done = attrs.evolve(handoff.complete(catch_up(task, now, POLICY), now, "d"), version=2)
        store.update([done])
        store._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert marker.encode() in path.read_bytes()
        store.update([handoff.purge(done, now + POLICY.retention, POLICY)])
        store._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for file in tmp_path.iterdir():
        assert marker.encode() not in file.read_bytes(), file.name


def test_durability_settings_are_applied(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "tasks.db")
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (30000,)
    assert conn.execute("PRAGMA temp_store").fetchone() == (2,)  # MEMORY: no pages in /var/tmp


def test_queries_use_their_indexes(tmp_path: Path) -> None:
    """No OFFSET, no full scans: list and due read one index range."""
    store = SqliteStore(tmp_path / "tasks.db")
    conn = store._connection()
    plans = {
        "list": conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id FROM tasks INDEXED BY tasks_by_account_newest "
            "WHERE account_id = ? AND cancelled_us IS NULL AND (creation_us, task_id) < (?, ?) "
            "ORDER BY creation_us DESC, task_id DESC LIMIT 10",
            ("a", 1, "x"),
        ).fetchall(),
        "due": conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id FROM tasks INDEXED BY tasks_due "
            "WHERE status = ? AND creation_us <= ? ORDER BY creation_us LIMIT 10",
            ("pending", 1),
        ).fetchall(),
    }
    for name, plan in plans.items():
        text = " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX" in text or "USING COVERING INDEX" in text, (name, text)
        assert "TEMP B-TREE" not in text, (name, text)


def test_a_corrupted_row_is_reported_by_table_and_key(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "tasks.db")
    task = make_task()
    store.add(task)
    conn = sqlite3.connect(tmp_path / "tasks.db")
    with conn:
        conn.execute("UPDATE tasks SET status = 'exploded' WHERE task_id = ?", (task.task_id,))
    with pytest.raises(StoreError, match=f"tasks row '{task.task_id}' cannot be read"):
        store.get(task.task_id)
    with conn:
        conn.execute(
            "UPDATE tasks SET status = 'pending', creation_us = 'yesterday' WHERE task_id = ?",
            (task.task_id,),
        )
    with pytest.raises(StoreError, match=task.task_id):
        store.get(task.task_id)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"tasks\.db"):
        SqliteStore(path)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "tasks.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("x")


def test_survives_sigkill_of_a_writer(tmp_path: Path) -> None:
    acknowledged = crash_drill(f"sqlite:///{tmp_path}/crash.db", rounds=12, seed=1)
    assert acknowledged > 12


def test_cancel_and_advance_race_across_processes(tmp_path: Path) -> None:
    race_drill(f"sqlite:///{tmp_path}/race.db?synchronous=normal", tasks=150)


def test_a_revocation_in_another_process_is_seen_at_once(tmp_path: Path) -> None:
    """The service caches apps by the store's access version, which every writer bumps in the
    file: a revocation through another connection (another process) takes effect at once."""
    path = tmp_path / "tasks.db"
    with SqliteStore(path) as server_store, SqliteStore(path) as cli_store:
        admin = AccessAdmin(cli_store)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        service = DeletionService(server_store)
        assert service.authenticate(app.app_id, secret).accounts == {"acct-1"}
        assert service.caller_for(app.app_id).accounts == {"acct-1"}  # now from the cache
        admin.revoke_account("acct-1")
        assert service.caller_for(app.app_id).accounts == frozenset()
        admin.revoke_app(app.app_id)
        with pytest.raises(AuthenticationFailed):
            service.authenticate(app.app_id, secret)
        with pytest.raises(AuthenticationFailed):
            service.caller_for(app.app_id)


def test_a_revocation_through_another_connection_refuses_the_next_create(
    tmp_path: Path,
) -> None:
    """The service caches callers by the store's access version: a revocation written by
    another process (here, another connection) is seen by the very next request."""
    path = tmp_path / "tasks.db"
    with SqliteStore(path) as server_store, SqliteStore(path) as cli_store:
        admin = AccessAdmin(cli_store)
        admin.allow_account("acct-1")
        admin.allow_account("acct-2")
        app, secret = admin.create_app(["acct-1", "acct-2"])
        service = DeletionService(server_store)

        def create(account: str) -> object:
            caller = service.authenticate(app.app_id, secret)
            return service.create(caller, account, raw_emails=[f"someone@{account}.example"])

        create("acct-2")
        admin.revoke_account("acct-2")
        with pytest.raises(UnauthorizedAccount):
            create("acct-2")
        admin.allow_account("acct-2")
        create("acct-2")
        admin.revoke_app(app.app_id)
        with pytest.raises(AuthenticationFailed):
            create("acct-1")


def test_files_that_hold_secrets_are_private(tmp_path: Path) -> None:
    """The database (token signing key, secret digests) and its WAL and shared-memory files
    are created readable by their owner only, whatever the umask."""
    path = tmp_path / "tasks.db"
    previous = os.umask(0o022)
    try:
        with SqliteStore(path) as store:
            AccessAdmin(store).allow_account("acct-1")
            files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
            assert all(f.exists() for f in files)
            assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    finally:
        os.umask(previous)


def test_a_database_deleted_under_the_store_is_an_error_not_a_new_empty_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.db"
    with SqliteStore(path) as store:
        AccessAdmin(store).allow_account("acct-1")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink()
        # a new thread opens a connection of its own
        with ThreadPoolExecutor(1) as thread, pytest.raises(StoreError):
            thread.submit(store.list_accounts).result()
    assert not path.exists()


def test_check_fails_while_another_writer_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with SqliteStore(path, busy_timeout_ms=50) as store:
        store.check()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            store.check()
        holder.execute("ROLLBACK")
        holder.close()
        store.check()


RECOVERY_CHILD = """
import sys
from concurrent.futures import ThreadPoolExecutor
from deletion_requests import AccessAdmin, StoreError
from deletion_requests_sqlite import SqliteStore

store = SqliteStore(sys.argv[1])
admin = AccessAdmin(store)
writer = ThreadPoolExecutor(1)  # one thread, so one connection, for every write below
print("opened", flush=True)
sys.stdin.readline()  # the file is read-only now: the thread's connection opens read-only
try:
    writer.submit(admin.allow_account, "acct-while-read-only").result()
    print("written", flush=True)
except StoreError as exc:
    print("refused", "readonly" in str(exc), flush=True)
sys.stdin.readline()  # the file is writable again
writer.submit(admin.allow_account, "acct-after").result()
print("recovered", [a.account_id for a in admin.list_accounts()], flush=True)
"""


def _without_root_file_access() -> list[str]:
    """A command prefix under which even root obeys file modes (it drops the capabilities
    that let root write any file); none when not root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_a_store_whose_file_turned_read_only_recovers_once_it_is_writable(
    tmp_path: Path,
) -> None:
    """Writes fail while the file is read-only, and succeed again once it is writable, with no
    restart: a connection SQLite opened read-only is not kept."""
    path = tmp_path / "tasks.db"
    with SqliteStore(path):
        pass
    child = subprocess.Popen(
        [*_without_root_file_access(), sys.executable, "-c", RECOVERY_CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "opened"
    for file in tmp_path.iterdir():
        os.chmod(file, 0o400)
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "refused True"
    for file in tmp_path.iterdir():
        os.chmod(file, 0o600)
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "recovered ['acct-after']"
    assert child.wait(timeout=30) == 0


def test_a_purge_leaves_no_hash_of_a_cancelled_or_a_delivered_task_in_any_file(
    tmp_path: Path,
) -> None:
    """A cancelled task, and a task handed off (after a failed attempt) but never reported
    complete, lose their hashes `retention` after the cancel and the delivery: no file of the
    store holds them afterwards, the WAL included, with no checkpoint by hand."""
    path = tmp_path / "tasks.db"
    clock = ManualClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    attempts: list[str] = []

    def deleter(task: DeletionTask) -> None:
        attempts.append(task.task_id)
        if len(attempts) == 1:
            raise DeliveryFailed("HTTP 503")

    with SqliteStore(path) as store:
        admin = AccessAdmin(store, clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        service = DeletionService(store, clock)
        caller = service.authenticate(app.app_id, secret)
        cancelled = service.create(caller, "acct-1", raw_emails=["cancelled@example.com"])
        handed = service.create(caller, "acct-1", raw_emails=["handed@example.com"])
        service.cancel(caller, cancelled.task_id)
        sink = {HANDOFF: CallableSink(deleter, completes=False)}
        clock.advance(POLICY.cancel_period)
        service.maintain(sink)  # the first attempt fails
        clock.advance(dt.timedelta(hours=2))
        service.maintain(sink)  # delivered, never reported complete
        hashes = [hash_email("cancelled@example.com"), hash_email("handed@example.com")]
        assert any(h.encode() in path.read_bytes() + _wal(path) for h in hashes)
        clock.advance(POLICY.retention)
        assert service.maintain()["purged"] == 2
        for task_id in (cancelled.task_id, handed.task_id):
            stored = store.get(task_id)
            assert stored is not None
            assert stored.identifiers == frozenset()
            assert stored.history[-1].event == "purged"
        for file in tmp_path.iterdir():
            content = file.read_bytes()
            assert not [h for h in hashes if h.encode() in content], file.name


def _wal(path: Path) -> bytes:
    wal = Path(f"{path}-wal")
    return wal.read_bytes() if wal.exists() else b""
