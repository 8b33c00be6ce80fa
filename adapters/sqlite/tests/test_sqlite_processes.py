"""One SQLite file shared by several writers: a killed writer loses nothing it acknowledged,
cancels race advances safely, revocations through another connection take effect at once,
a held write lock fails the health check, and a file that turned read-only recovers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from deletion_requests_sqlite import SqliteStore

from deletion_requests import (
    AccessAdmin,
    AuthenticationFailed,
    DeletionService,
    StoreError,
    UnauthorizedAccount,
)
from deletion_requests.testing import (
    crash_drill,
    race_drill,
)


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
