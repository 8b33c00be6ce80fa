"""Creates committed by a writer process (`WriterProcess`): what crosses the process boundary
comes back as the thread committer would give it, on the server's clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import pickle
import signal
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from deletion_requests_http._logs import LOG_FORMAT, AccessEntry, LogFormatter
from deletion_requests_http._wiring import Server
from deletion_requests_http._writer import _INCOMPLETE, WriterProcess, _frame, _take_frame
from starlette.testclient import TestClient

from deletion_requests import (
    AuthenticationFailed,
    DeletionTask,
    ManualClock,
    NewTask,
    Status,
    StoreError,
    Transition,
    UnauthorizedAccount,
)

from .conftest import KEY, T0, basic


class Setup:
    """A SQLite store with two allow-listed accounts and an app for both, a server on it with a
    manual clock, and a writer process over the same store."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path}/writer.db"
        self.clock = ManualClock(T0)
        self.server = Server.open(self.url, clock=self.clock, signing_key=KEY)
        for account in ("acct-1", "acct-2"):
            self.server.admin.allow_account(account)
        app, self.secret = self.server.admin.create_app(["acct-1", "acct-2"])
        self.app_id = app.app_id
        self.writer = WriterProcess(self.url, self.server.service)

    def prepare(self, email: str, account: str = "acct-1", key: str | None = None) -> NewTask:
        service = self.server.service
        caller = service.authenticate(self.app_id, self.secret, confirmed=False)
        return service.prepare(caller, account, raw_emails=[email], idempotency_key=key)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.server.close()


def test_a_batch_is_stored_and_each_create_gets_its_own_task(setup: Setup) -> None:
    async def run() -> list[DeletionTask]:
        await setup.writer.start()
        try:
            return await asyncio.gather(
                *(setup.writer.store(setup.prepare(f"p{n}@example.com")) for n in range(20))
            )
        finally:
            await setup.writer.stop()

    tasks = asyncio.run(run())
    assert len({task.task_id for task in tasks}) == 20
    for task in tasks:
        assert setup.server.store.get(task.task_id) == task


def test_a_key_bound_meanwhile_replays_the_bound_task_on_the_servers_clock(setup: Setup) -> None:
    prepared = setup.prepare("same@example.com", key="key-1")
    first = setup.prepare("same@example.com", key="key-1")
    setup.server.service.store_new([first])  # binds the key after `prepared` was prepared
    setup.clock.advance(dt.timedelta(days=13))  # the child's own clock would not know this

    async def run() -> DeletionTask:
        try:
            return await setup.writer.store(prepared)
        finally:
            await setup.writer.stop()

    replayed = asyncio.run(run())
    assert replayed.task_id == first.task.task_id
    assert replayed.status is Status.READY


def test_access_revoked_after_prepare_is_refused_with_the_same_errors(setup: Setup) -> None:
    for_revoked_account = setup.prepare("a@example.com", account="acct-2")
    setup.server.admin.revoke_account("acct-2")

    async def run() -> tuple[BaseException | DeletionTask, ...]:
        try:
            refused = await asyncio.gather(
                setup.writer.store(for_revoked_account), return_exceptions=True
            )
            setup.server.admin.revoke_app(setup.app_id)  # prepare's caller comes from its cache
            refused += await asyncio.gather(
                setup.writer.store(setup.prepare("b@example.com")), return_exceptions=True
            )
            return tuple(refused)
        finally:
            await setup.writer.stop()

    account_refusal, app_refusal = asyncio.run(run())
    assert isinstance(account_refusal, UnauthorizedAccount)
    assert isinstance(app_refusal, AuthenticationFailed)
    assert setup.server.store.get(for_revoked_account.task.task_id) is None


def test_a_dead_child_fails_its_creates_with_store_error_and_the_next_create_starts_another(
    setup: Setup,
) -> None:
    async def run() -> tuple[BaseException | DeletionTask, DeletionTask, int | None]:
        await setup.writer.start()
        assert setup.writer.child is not None
        first_child = setup.writer.child.process
        os.kill(first_child.pid, signal.SIGKILL)
        lost = await asyncio.gather(
            setup.writer.store(setup.prepare("lost@example.com")), return_exceptions=True
        )
        stored = await setup.writer.store(setup.prepare("kept@example.com"))
        await setup.writer.stop()
        return lost[0], stored, first_child.poll()

    lost, stored, status = asyncio.run(run())
    assert isinstance(lost, StoreError)
    assert setup.server.store.get(stored.task_id) == stored
    assert status == -signal.SIGKILL


def test_the_apps_lifespan_starts_and_stops_the_writer_process(setup: Setup) -> None:
    app = setup.server.app(writer_process=True)
    with TestClient(app) as client:
        response = client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-1", "rawEmails": ["person@example.com"]},
            headers=basic(setup.app_id, setup.secret),
        )
        assert response.status_code == 202, response.text
        children = _writer_children()
        assert len(children) == 1
    assert setup.server.store.get(response.json()["taskId"]) is not None
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)


def test_stores_other_than_sqlite_keep_the_thread_committer() -> None:
    server = Server.open("memory://", signing_key=KEY)
    server.admin.allow_account("acct-1")
    app, secret = server.admin.create_app(["acct-1"])
    with TestClient(server.app(writer_process=True)) as client:
        response = client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-1", "rawEmails": ["person@example.com"]},
            headers=basic(app.app_id, secret),
        )
        assert response.status_code == 202, response.text
        assert _writer_children() == []


def _writer_children() -> list[int]:
    """Process ids of this process's children that run the writer."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == os.getpid() and b"_writer" in command:
            found.append(int(entry.name))
    return found


def test_the_wire_format_keeps_every_field_of_a_task() -> None:
    """Tasks cross the socket by field position (`_by_position`): a task with every field set
    comes back equal, and so does the prepared create around it."""
    at = T0 + dt.timedelta(days=16)
    task = DeletionTask(
        task_id="01a233ff-e2fd-70b8-acc9-c677efa392f3",
        account_id="acct-1",
        status=Status.ACTIONED,
        creation_time=T0,
        identifiers={"kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="},
        ready_time=T0 + dt.timedelta(days=12),
        actioned_time=T0 + dt.timedelta(days=15),
        created_by="app_1",
        version=3,
        history=(Transition(Status.PENDING, Status.READY, T0 + dt.timedelta(days=12), "system"),),
        outbox={"handoff"},
        completed_time=at,
        overdue_time=at,
        purged_time=at,
    )
    prepared = NewTask(task, ("app_1", "key-1"), replayed=False, access_version=7)
    frame = _frame((at, [prepared]))
    assert int.from_bytes(frame[:4]) == len(frame) - 4
    assert pickle.loads(frame[4:]) == (at, [prepared])  # noqa: S301 (our own frame)


def test_frames_are_read_whole_however_the_bytes_arrive() -> None:
    """Both ends read with `_take_frame`: nothing until a frame is complete, then each frame
    once, in order, leaving the start of the next in the buffer."""
    frames = _frame(("log", ["first"])) + _frame(("log", ["second"]))
    buffer, read = bytearray(), []
    for at in range(len(frames)):  # one byte at a time
        buffer += frames[at : at + 1]
        while (message := _take_frame(buffer)) is not _INCOMPLETE:
            read.append(message)
        if at < len(frames) // 2 - 1:
            assert read == []
    assert read == [("log", ["first"]), ("log", ["second"])]
    assert buffer == bytearray()


ENDED = 1_790_000_000.25  # a fixed end time, so the line's time is known


def _entry(number: int, app_id: str | None = "app_1") -> AccessEntry:
    return (
        ENDED + number,
        f"request-{number}",
        "POST",
        "/data/deletion-requests/emails",
        202,
        1.5,
        app_id,
    )


def _message(entry: AccessEntry) -> str:
    keys = ("request_id", "method", "path", "status", "duration_ms", "app_id")
    return orjson.dumps(dict(zip(keys, entry[1:], strict=True))).decode()


def _line(entry: AccessEntry) -> str:
    """The line `serve`'s logging writes for *entry*."""
    record = logging.LogRecord(
        "deletion_requests.http.access", logging.INFO, "", 0, _message(entry), (), None
    )
    record.created = entry[0]
    record.msecs = (entry[0] - int(entry[0])) * 1000
    return LogFormatter(LOG_FORMAT).format(record)


def test_with_a_log_level_the_child_writes_the_access_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Entries go to the child a turn of the loop at a time; it writes them, in order and at
    the times the requests ended, to the stderr it shares with the server."""
    setup = Setup(tmp_path)
    writer = WriterProcess(setup.url, setup.server.service, log_level="info")

    async def run() -> None:
        await writer.start()
        writer.log_access(_entry(0))
        writer.log_access(_entry(1))
        await asyncio.sleep(0)  # the next turn ships those two
        assert writer.entries == []
        writer.log_access(_entry(2))
        await writer.stop()  # ships the last one before the socket closes

    asyncio.run(run())
    setup.server.close()
    written = [line for line in capfd.readouterr().err.splitlines() if ".http.access" in line]
    assert written == [_line(_entry(n)) for n in range(3)]


def test_without_a_child_the_server_writes_the_access_log_itself(
    setup: Setup, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    writer = WriterProcess(setup.url, setup.server.service, log_level="info")
    with caplog.at_level(logging.INFO, logger="deletion_requests.http.access"):
        writer.log_access(_entry(0, app_id=None))  # no child started
    (record,) = caplog.records
    assert record.created == ENDED
    assert record.getMessage() == _message(_entry(0, app_id=None))
    assert ".http.access" not in capfd.readouterr().err  # not sent anywhere else


def test_serve_s_app_logs_each_request_once_from_the_writer_process(
    setup: Setup, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    app = setup.server.app(writer_process=True, log_level="info")
    with caplog.at_level(logging.INFO), TestClient(app) as client:
        headers = basic(setup.app_id, setup.secret)
        created = client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-1", "rawEmails": ["person@example.com"]},
            headers=headers,
        )
        listed = client.get("/data/deletion-requests", headers=headers)
    assert [created.status_code, listed.status_code] == [202, 200]
    written = [line for line in capfd.readouterr().err.splitlines() if ".http.access" in line]
    assert len(written) == 2
    assert created.headers["x-request-id"] in written[0]
    assert listed.headers["x-request-id"] in written[1]
    assert "person@example.com" not in "\n".join(written)
    assert not [r for r in caplog.records if r.name.endswith(".access")]  # none written here
