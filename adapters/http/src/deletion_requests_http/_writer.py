"""Creates committed by a writer process, so that storing them takes no time from the event loop.

The thread committer (`Committer`) shares the server's GIL: its batch waits for the loop to let
go of the GIL before it starts, and again around every SQLite call. Measured under `wrk` at 32
connections, a batch waited about 1.8 ms to start and spent 2.3 ms storing 0.9 ms of work
(docs/performance.md, "Creates (eighth session)"). A child process has a GIL of its own: the
loop hands it a batch over a socket and goes on serving.

The child is a new Python process running this module's `main`. It opens the same SQLite store
(which is safe for several processes on one file), runs `DeletionService.store_new` on each
batch, and answers on the same socket; each message is a 4-byte length and a pickle. Only the
server and its own child hold the two ends of that socket. The child leaves when the socket
closes, so it never outlives the server.

Given a log level (`serve` gives its own), the child also writes the server's access log: it
configures its logging as `serve` does, to the stderr it shares with the server, and the server
sends it each turn of the event loop's entries in one message, which it answers with nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import operator
import pickle
import select
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs

from deletion_requests import (
    DeletionRequestError,
    DeletionService,
    DeletionTask,
    NewTask,
    Policy,
    StoreError,
    open_store,
)

from ._logs import AccessEntry, configure_logging, write_access

_LENGTH = struct.Struct("!I")
_STORE, _LOG = "store", "log"  # what a message from the server asks of the child
_MANY_LINES = 256
_CHILD = "import sys; from deletion_requests_http._writer import main; main(int(sys.argv[1]))"
logger = logging.getLogger("deletion_requests.http.writer")

Outcome = DeletionTask | DeletionRequestError | StoreError | None
"""What the child answers for one prepared create: None for stored as prepared, the task an
idempotency key is bound to, or the error."""


def _by_position(cls: type[Any]) -> Callable[[Any], tuple[type[Any], tuple[Any, ...]]]:
    """Pickle an attrs instance as its class and its fields in order, rebuilt by calling the
    class (which converts and checks them again): a third of the time of pickling the
    attribute dictionary attrs' slotted classes give (2.8 against 7.2 us a task)."""
    fields = operator.attrgetter(*(field.name for field in attrs.fields(cls)))
    return lambda instance: (cls, fields(instance))


_COMPACT = {DeletionTask: _by_position(DeletionTask), NewTask: _by_position(NewTask)}


def _frame(value: object) -> bytes:
    """*value* pickled, after its length."""
    buffer = io.BytesIO()
    buffer.write(bytes(_LENGTH.size))
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _COMPACT
    pickler.dump(value)
    frame = buffer.getbuffer()
    _LENGTH.pack_into(frame, 0, len(frame) - _LENGTH.size)
    return bytes(frame)


_INCOMPLETE = object()


def _take_frame(buffer: bytearray) -> Any:
    """The first whole message in *buffer* (see `_frame`), unpickled and removed from it; or
    `_INCOMPLETE` while it has not all arrived. Both ends read with it: each other's frames
    only, from the socket pair that only the server and its own child hold."""
    if len(buffer) < _LENGTH.size:
        return _INCOMPLETE
    (length,) = _LENGTH.unpack_from(buffer)
    end = _LENGTH.size + length
    if len(buffer) < end:
        return _INCOMPLETE
    message = pickle.loads(buffer[_LENGTH.size : end])  # noqa: S301 (see above)
    del buffer[:end]
    return message


def settle(
    batch: Sequence[tuple[NewTask, asyncio.Future[DeletionTask]]],
    outcomes: Sequence[DeletionTask | Exception],
) -> None:
    """Answer each create of *batch* with its outcome: the task, or the error to raise. A
    create whose client went away (its future cancelled) is skipped."""
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class WriterProcess:
    """Stores prepared creates in batches in a child process: the same contract as
    `Committer.store`, with one batch in flight at a time and the next gathering meanwhile.
    With *log_level*, the child also writes the access log (`log_access`).

    The app's lifespan starts the child (`start`), or else the first create does, and stops it
    (`stop`). If it dies, the creates it held or that waited for it fail with `StoreError`
    (503: whether they were stored is unknown, and a retry with the same Idempotency-Key is
    safe), and the next create starts a new child. While no child runs, the server writes its
    access log itself; the entries a child had not written when it died are lost."""

    def __init__(
        self, store_url: str, service: DeletionService, log_level: str | None = None
    ) -> None:
        self.store_url = store_url
        self.service = service
        self.log_level = log_level
        self.entries: list[AccessEntry] = []  # access-log entries for the child, this turn
        self.waiting: list[tuple[NewTask, asyncio.Future[DeletionTask]]] = []
        self.sent: list[tuple[NewTask, asyncio.Future[DeletionTask]]] | None = None
        self.child: _Child | None = None
        self.starting: asyncio.Future[_Child] | None = None

    @property
    def running(self) -> bool:
        """Whether a child is there to take batches and access-log entries."""
        return self.child is not None and not self.child.closed

    async def store(self, prepared: NewTask) -> DeletionTask:
        if prepared.replayed:
            return prepared.task
        if not self.running:
            await self._started()
        future: asyncio.Future[DeletionTask] = asyncio.get_running_loop().create_future()
        self.waiting.append((prepared, future))
        if self.sent is None:
            self._send()
        return await future

    async def _started(self) -> None:
        if self.starting is None:
            self.starting = asyncio.ensure_future(self._start())
        try:
            self.child = await asyncio.shield(self.starting)
        except OSError as exc:
            raise StoreError(f"the writer process did not start: {exc}") from exc
        finally:
            self.starting = None

    async def _start(self) -> _Child:
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(  # noqa: S603 (this module, fixed arguments)
                [sys.executable, "-c", _CHILD, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
            )
        child = _Child(self, process)
        try:
            transport, _ = await asyncio.get_running_loop().create_connection(
                lambda: child, sock=ours
            )
        except BaseException:
            ours.close()
            process.kill()
            process.wait()
            raise
        child.connection_made(transport)  # uvloop may call it only on a later turn of the loop
        child.write((self.store_url, self.service.policy, self.log_level))
        return child

    def _send(self) -> None:
        """Hand everything waiting to the child, with the time by the server's clock."""
        assert self.child is not None
        self.sent, self.waiting = self.waiting, []
        self.child.write((_STORE, self.service.clock.now(), [item for item, _ in self.sent]))

    def _answered(self, outcomes: list[Outcome] | StoreError) -> None:
        batch, self.sent = self.sent or [], None
        if self.waiting and self.child is not None:
            self._send()
        if isinstance(outcomes, StoreError):
            settle(batch, [outcomes] * len(batch))
        else:
            stored = zip(batch, outcomes, strict=True)
            settle(batch, [item.task if out is None else out for (item, _), out in stored])

    def log_access(self, entry: AccessEntry) -> None:
        """Have the child write *entry* to the access log: the entries of one turn of the event
        loop go in one message, at the start of the next. Without a child, written here."""
        if not self.running:
            write_access(entry)
            return
        self.entries.append(entry)
        if len(self.entries) == 1:
            asyncio.get_running_loop().call_soon(self._ship)

    def _ship(self) -> None:
        entries, self.entries = self.entries, []
        if not entries:
            return
        if self.running:
            assert self.child is not None
            self.child.write((_LOG, entries))
        else:
            _write_lines(entries)

    def _lost(self, child: _Child) -> None:
        """The child is gone: the creates it held and those waiting for it fail (503), and
        the next create starts a new child."""
        if child is not self.child:
            return
        self.child = None
        logger.error("the writer process exited (status %s)", child.process.poll())
        if self.sent is not None:
            self._answered(StoreError("the writer process exited; the create may not be stored"))
        waiting, self.waiting = self.waiting, []
        settle(waiting, [StoreError("the writer process exited")] * len(waiting))

    async def start(self) -> None:
        """Start the child now rather than with the first create (which would wait for it)."""
        if not self.running:
            await self._started()

    async def stop(self) -> None:
        """Stop the child: it sees the socket close, finishes the batch it holds, writes the
        access-log entries sent to it, and exits."""
        self._ship()
        child, self.child = self.child, None
        if child is not None:
            child.close()
            await asyncio.to_thread(child.reap)


class _Child(asyncio.Protocol):
    """The server's end of the socket to one child process."""

    def __init__(self, writer: WriterProcess, process: subprocess.Popen[bytes]) -> None:
        self.writer = writer
        self.process = process
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called by `_start` with what `create_connection` returned, maybe again by the loop.
        self.transport = cast(asyncio.Transport, transport)

    def write(self, value: object) -> None:
        assert self.transport is not None
        self.transport.write(_frame(value))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (message := _take_frame(self.buffer)) is not _INCOMPLETE:
            self.writer._answered(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.process.poll()  # collects a child that died; one still exiting is reaped by `stop`
        self.writer._lost(self)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def reap(self) -> None:
        """Wait for the child to exit (blocks: call it on a thread)."""
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the child ---------------------------------------------------------------------------------


class _BatchClock:
    """The time the server sent with the batch: the child answers as of the server's clock."""

    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC)

    def now(self) -> dt.datetime:
        return self.at


class _Incoming:
    """The frames the server sends: a 4-byte length, then a pickle."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = bytearray()

    def read(self) -> Any:
        """The next message; None once the server has closed the socket."""
        while (message := _take_frame(self.buffer)) is _INCOMPLETE:
            chunk = self.connection.recv(1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
        return message

    def waiting(self) -> bool:
        """Whether more has arrived (or is arriving) than `read` has returned."""
        return bool(self.buffer) or bool(select.select([self.connection], [], [], 0)[0])


def _store(service: DeletionService, items: list[NewTask]) -> list[Outcome] | StoreError:
    try:
        stored = service.store_new(items)
    except StoreError as exc:
        return StoreError(str(exc))
    except Exception as exc:  # reported to the server, which answers 503
        logger.exception("writer process: store_new failed")
        return StoreError(f"the writer process failed: {type(exc).__name__}")
    return [
        None if outcome is item.task else outcome
        for outcome, item in zip(stored, items, strict=True)
    ]


def main(fd: int) -> None:
    """Serve batches from the server on socket *fd* until it closes."""
    with socket.socket(fileno=fd) as connection:
        incoming = _Incoming(connection)
        config = incoming.read()
        if config is None:
            return
        store_url, policy, log_level = config
        assert isinstance(policy, Policy)
        if log_level is not None:
            configure_logging(log_level)
        clock = _BatchClock()
        store = open_store(store_url)
        try:
            service = DeletionService(store, clock, policy)
            lines: list[AccessEntry] = []  # access-log entries not yet written
            while True:
                # Batches first, as they hold requests up; lines when nothing waits, or many do.
                if lines and (len(lines) >= _MANY_LINES or not incoming.waiting()):
                    _write_lines(lines)
                message = incoming.read()
                if message is None:
                    break
                if message[0] == _LOG:
                    lines += message[1]
                    continue
                _, clock.at, items = message
                connection.sendall(_frame(_store(service, items)))
            _write_lines(lines)
        finally:
            store.close()


def _write_lines(lines: list[AccessEntry]) -> None:
    for entry in lines:
        write_access(entry)
    lines.clear()
