"""Power cuts under load: every durable store keeps every create and cancel it acknowledged.

Each store lives on the lossy FUSE file system of `deletion_requests.testing._power`, which
keeps in memory what was written and drops whatever was not synced (file bytes until `fsync`,
directory entries until `fsync` of the directory) when the power goes. A cut: clients create
and cancel over HTTP against the real `deletion-requests serve` (and PostgreSQL, for the
PostgreSQL store), every writer's process group is killed with SIGKILL at a random moment, the
file system drops what was not synced and mounts again, and the store, opened afresh, must hold
every task whose create was answered 202 and have cancelled every task whose cancel was answered
200, in that cut or an earlier one. Several cuts a test, one after another on the same store.

Where FUSE cannot run the tests skip, saying why; in CI (CI=true) they fail instead.
`DELETION_REQUESTS_POWER_CUTS` sets the number of cuts a test (3 unless set).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import psycopg
import pytest
from deletion_requests_http.testing import free_port, wait_healthy

from deletion_requests import AccessAdmin, Status, SystemClock, open_store
from deletion_requests.stores import TaskQuery
from deletion_requests.testing._power import LossyMount, fuse_unavailable, kill_group, seed_state

CUTS = int(os.environ.get("DELETION_REQUESTS_POWER_CUTS", "3"))
CLIENTS = 6
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
TASKS = "/data/deletion-requests"
SERVE = (sys.executable, "-m", "deletion_requests_http", "serve")
INITDB = ("-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
POSTGRES = ("-c", "listen_addresses=127.0.0.1", "-c", "shared_buffers=16MB")
DURABLE = ("-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
AS_POSTGRES: dict[str, Any] = {"user": "postgres", "group": "postgres", "extra_groups": []}


def unavailable(reason: str) -> None:
    """Skip, saying why; in CI, where these tests must run, fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"power-loss tests cannot run in CI: {reason}")
    pytest.skip(reason)


@attrs.define
class Figures:
    """What the cuts of one test acknowledged, and what of it was missing after them."""

    cuts: int = 0
    created: list[str] = attrs.Factory(list)
    cancelled: list[str] = attrs.Factory(list)
    lost_creates: set[str] = attrs.Factory(set)
    lost_cancels: set[str] = attrs.Factory(set)

    def line(self, name: str) -> str:
        return (
            f"power cuts {name}: {self.cuts} cuts, {len(self.created)} creates and"
            f" {len(self.cancelled)} cancels acknowledged, {len(self.lost_creates)} creates and"
            f" {len(self.lost_cancels)} cancels lost"
        )


@attrs.define
class Tally:
    created: list[str] = attrs.Factory(list)
    cancelled: list[str] = attrs.Factory(list)
    statuses: set[int] = attrs.Factory(set)


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory in /tmp that another user (PostgreSQL's) can reach."""
    reason = fuse_unavailable()
    if reason is not None:
        unavailable(reason)
    base = Path(tempfile.mkdtemp(prefix="power-loss-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def mounted(place: Path, log: Path) -> Iterator[LossyMount]:
    """The lossy file system at *place*/disk, its state in *place*/disk.state."""
    reason = fuse_unavailable()
    if reason is not None:
        unavailable(reason)
    mount = LossyMount(place / "disk", place / "disk.state", log)
    try:
        try:
            mount.start()
        except RuntimeError as exc:
            unavailable(f"FUSE does not mount here: {exc}")
        yield mount
    finally:
        mount.close()


@contextlib.contextmanager
def load(base_url: str, auth: tuple[str, str], tally: Tally, seed: int) -> Iterator[None]:
    """Clients creating and cancelling until the block ends (or the server goes)."""
    stopping = threading.Event()

    def client(n: int) -> None:
        rng = random.Random(seed * 100 + n)
        with httpx.Client(base_url=base_url, auth=auth, timeout=10) as http:
            i = 0
            while not stopping.is_set():
                i += 1
                body = {"accountId": "acct-1", "rawEmails": [f"p{seed}.{n}.{i}@example.com"]}
                try:
                    created = http.post(f"{TASKS}/emails", json=body)
                    tally.statuses.add(created.status_code)
                    if created.status_code != 202:
                        continue
                    task_id = created.json()["taskId"]
                    tally.created.append(task_id)
                    if rng.random() < 0.4:
                        cancelled = http.delete(f"{TASKS}/{task_id}")
                        tally.statuses.add(cancelled.status_code)
                        if cancelled.status_code == 200:
                            tally.cancelled.append(task_id)
                except httpx.TransportError:
                    return  # the power is off

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stopping.set()
        for thread in threads:
            thread.join(30)


def serve(store: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*SERVE, "--store", store, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own, killed whole at the cut
        )
    base_url = f"http://127.0.0.1:{port}"
    if not wait_healthy(base_url, 30, lambda: process.poll() is None):
        kill_group(process)
        raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
    return process, base_url


def check(store: str, tally: Tally, figures: Figures) -> None:
    """Add *tally* to *figures* and count what the store lost of everything acknowledged so far
    (a cut may also take what earlier cuts left). Every task it holds must read (an unreadable
    one is a `StoreError` here), and it must be able to take writes."""
    figures.cuts += 1
    figures.created += tally.created
    figures.cancelled += tally.cancelled
    with open_store(store, create=False) as opened:
        opened.check()
        every = opened.list_tasks(TaskQuery(accounts=frozenset({"acct-1"}), limit=1_000_000))
    held = {task.task_id: task for task in every}
    figures.lost_creates |= {task_id for task_id in figures.created if task_id not in held}
    figures.lost_cancels |= {
        task_id
        for task_id in figures.cancelled
        if task_id not in held or held[task_id].status is not Status.CANCELLED
    }


def power_cuts(
    mount: LossyMount,
    store: str,
    logs: Path,
    database: Callable[[], subprocess.Popen[bytes]] | None = None,
    cuts: int = CUTS,
) -> Figures:
    """*cuts* power cuts under load on *store*, the store checked after each. *database* starts
    the database server the store needs (on the mount), again after each cut."""
    rng = random.Random()
    figures = Figures()
    server = db = None
    try:
        db = database() if database else None
        with open_store(store) as opened:  # as `accounts allow` and `apps create` do
            admin = AccessAdmin(opened, SystemClock())
            admin.allow_account("acct-1")
            app, secret = admin.create_app(["acct-1"])
        auth = (app.app_id, secret)
        for cut in range(cuts):
            server, base_url = serve(store, logs / "server.log")
            tally = Tally()
            with load(base_url, auth, tally, seed=cut):
                going = time.monotonic() + 30
                while not tally.created and time.monotonic() < going:
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.3, 1.0))  # then a random moment under load
                kill_group(server)  # every writer stops at once: the power is off
                kill_group(db)
            mount.power_cut()
            mount.start()
            db = database() if database else None
            assert tally.created, f"no create was acknowledged: {sorted(tally.statuses)}"
            assert tally.statuses <= {200, 202}, sorted(tally.statuses)
            check(store, tally, figures)
    finally:
        kill_group(server)
        kill_group(db)
    return figures


def test_sqlite_full_keeps_every_acknowledged_request(place: Path, tmp_path: Path) -> None:
    with mounted(place, tmp_path / "lossyfs.log") as mount:
        figures = power_cuts(mount, f"sqlite:///{mount.mountpoint}/full.db", tmp_path)
    print(figures.line("sqlite synchronous=full"))
    assert figures.lost_creates == set()
    assert figures.lost_cancels == set()


def test_sqlite_normal_loss_is_measured(place: Path, tmp_path: Path) -> None:
    """`synchronous=normal` promises no durability across a power cut: its loss is counted,
    and only the store's consistency is checked (it opens, and every task it has reads)."""
    with mounted(place, tmp_path / "lossyfs.log") as mount:
        store = f"sqlite:///{mount.mountpoint}/normal.db?synchronous=normal"
        figures = power_cuts(mount, store, tmp_path, cuts=max(CUTS - 1, 1))  # a measurement
    print(figures.line("sqlite synchronous=normal"))
    assert figures.cuts == max(CUTS - 1, 1)


def test_jsonfiles_keeps_every_acknowledged_request(place: Path, tmp_path: Path) -> None:
    with mounted(place, tmp_path / "lossyfs.log") as mount:
        figures = power_cuts(mount, f"jsonfiles:///{mount.mountpoint}/store", tmp_path)
    print(figures.line("jsonfiles"))
    assert figures.lost_creates == set()
    assert figures.lost_cancels == set()


def initdb(place: Path) -> Path:
    """A new PostgreSQL cluster, made on the real disk (then copied in as synced), owned by
    the `postgres` user."""
    if not (POSTGRES_BIN / "initdb").exists():
        unavailable(f"no PostgreSQL server binaries in {POSTGRES_BIN}")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("no user postgres to run PostgreSQL as (it refuses root)")
    seed = place / "seed"
    seed.mkdir()
    shutil.chown(seed, "postgres", "postgres")
    subprocess.run(
        [str(POSTGRES_BIN / "initdb"), "-D", str(seed / "pgdata"), *INITDB],
        check=True,
        capture_output=True,
        timeout=120,
        **AS_POSTGRES,
    )
    return seed


def test_postgres_on_the_disk_keeps_every_acknowledged_request(place: Path, tmp_path: Path) -> None:
    seed = initdb(place)
    seed_state(place / "disk.state", seed)
    shutil.rmtree(seed)
    sockets = place / "sockets"
    sockets.mkdir()
    shutil.chown(sockets, "postgres", "postgres")
    port = free_port()
    log = tmp_path / "postgres.log"

    server = (str(POSTGRES_BIN / "postgres"), "-D", str(place / "disk" / "pgdata"))

    def postgres() -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [*server, "-p", str(port), "-k", str(sockets), *DURABLE, *POSTGRES],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # this process's own child, reaped at the cut: a PID of a postmaster left a
                # zombie would hold the socket's lock file
                **AS_POSTGRES,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres").close()
                return process
            except psycopg.OperationalError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    kill_group(process)
                    raise AssertionError(
                        f"postgres did not start: {log.read_text()[-3000:]}"
                    ) from exc
                time.sleep(0.1)

    with mounted(place, tmp_path / "lossyfs.log") as mount:
        figures = power_cuts(
            mount, f"postgresql://postgres@127.0.0.1:{port}/postgres", tmp_path, postgres
        )
    print(figures.line("postgres fsync=on"))
    assert figures.lost_creates == set()
    assert figures.lost_cancels == set()
