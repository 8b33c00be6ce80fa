"""What a SQLite store leaves on disk: purged hashes leave every file (the WAL included),
and the files that hold secrets are readable by their owner only."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import attrs
from deletion_requests_sqlite import SqliteStore

from deletion_requests import (
    HANDOFF,
    AccessAdmin,
    CallableSink,
    DeletionService,
    DeletionTask,
    DeliveryFailed,
    ManualClock,
    Policy,
)
from deletion_requests import _handoff as handoff
from deletion_requests._lifecycle import catch_up
from deletion_requests.testing import (
    make_task,
)
from deletion_requests.wire import hash_email

POLICY = Policy()


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
