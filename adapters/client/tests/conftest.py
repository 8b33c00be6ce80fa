"""A real server for the client's tests: the HTTP adapter's app over a SQLite store, with a
`ManualClock` the tests move, under Granian on a loopback port in this process; transports
that put faults between the client and it; and a receiver that keeps callbacks as sent."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from deletion_requests_http.testing import bootstrapped, serving_app

from deletion_requests import (
    Destination,
    DestinationWork,
    ManualClock,
    Mode,
    Outcome,
    Policy,
)
from deletion_requests._access import digest_secret

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ACCOUNT = "acct-1"
OTHER_ACCOUNT = "acct-2"
NO_SUCH_TASK = "3bc2e8b0-88ee-400c-8696-44897bc95cd3"


class CallbackRecorder:
    """An HTTP server on 127.0.0.1 that answers every POST 204 and keeps its headers and body
    exactly as they arrived, unverified."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Deployment:
    """The server's parts, one app granted `ACCOUNT` (whose callbacks go to `callbacks`), and
    the base URL once served."""

    def __init__(self, directory: Path, callbacks: CallbackRecorder, **settings: object) -> None:
        self.clock = ManualClock(T0)
        self.server = bootstrapped(
            f"sqlite:///{directory}/client.db",
            clock=self.clock,
            deliver=True,
            advance_interval=0.1,
            deliver_interval=0.1,
            **settings,
        )
        for account in (ACCOUNT, OTHER_ACCOUNT):
            self.server.admin.allow_account(account)
        app, self.secret = self.server.admin.create_app([ACCOUNT])
        self.app_id = app.app_id
        self.callback_secret = self.server.admin.set_callback(
            app.app_id, callbacks.url, allow_http=True
        )
        self.callbacks = callbacks
        self.base_url = ""

    def pull_destinations(self, *names: str) -> DestinationWork:
        """Pull destinations *names*, each owed a job for every task actioned from now on."""
        work = DestinationWork(self.server.service)
        for name in names:
            work.add(Destination(name, Mode.PULL, T0, credential_digest=digest_secret(name)))
        return work

    def action(self, task_id: str, timeout: float = 20) -> None:
        """Move the server's clock to the hand-off of the tasks created at its time, and wait
        until *task_id* is stored handed off (with its jobs): an advance that loses a race
        with another write of the task leaves it to the next."""
        self.clock.advance(Policy().cancel_period)
        deadline = time.monotonic() + timeout
        while True:
            self.server.service.advance_due()
            stored = self.server.store.get(task_id)
            if stored is not None and stored.actioned_time is not None:
                return
            assert time.monotonic() < deadline, f"task {task_id} was not handed off"
            time.sleep(0.05)

    def report(self, task_id: str, name: str, kind: str, reason: str = "") -> None:
        """Destination *name* reports the outcome *kind* for the task."""
        outcome = Outcome.parse(kind, reason or None)
        DestinationWork(self.server.service).report_for_task(task_id, name, outcome)

    def extend(self, task_id: str, days: int) -> None:
        """An operator makes the task due *days* later."""
        self.server.operators.extend_due(task_id, "alice", days, "a backlog at the warehouse")


@contextlib.contextmanager
def deployed(directory: Path, **settings: object) -> Iterator[Deployment]:
    """A deployment whose app runs its background work; *settings* are `Settings` fields."""
    with CallbackRecorder() as callbacks:
        made = Deployment(directory, callbacks, **settings)
        with serving_app(made.server.http(background=True)) as base_url:
            made.base_url = base_url
            yield made
        made.server.close()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with deployed(tmp_path) as made:
        yield made


Fault = Callable[[httpx.Request, Callable[[], httpx.Response]], httpx.Response]
"""What a fault does to one request: given it and a way to forward it to the real server,
an answer, or an exception raised."""


def lose_answer(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
    """The server handles the request, but its answer never arrives."""
    forward().read()
    raise httpx.ReadError("connection reset after the request was sent", request=request)


def refuse(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
    """The request never reaches the server."""
    raise httpx.ConnectError("connection refused", request=request)


def bad_gateway(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
    """The server handles the request; a proxy in between answers 502 instead."""
    forward().read()
    return httpx.Response(502, text="<html>Bad Gateway</html>", request=request)


class Faults:
    """What the transports saw, and the faults still to play, by (method, path)."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.answered: list[tuple[str, int]] = []
        """(path, status) of each answer the real server gave."""
        self.planned: dict[tuple[str, str], list[Fault]] = {}

    def plan(self, method: str, path: str, *faults: Fault) -> None:
        self.planned.setdefault((method, path), []).extend(faults)

    def next_fault(self, request: httpx.Request) -> Fault | None:
        self.seen.append(request)
        waiting = self.planned.get((request.method, request.url.path))
        return waiting.pop(0) if waiting else None

    def paths(self, method: str | None = None) -> list[str]:
        return [r.url.path for r in self.seen if method is None or r.method == method]


class FaultyTransport(httpx.BaseTransport):
    """The real network to the server, with the planned faults on the way."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.faults.next_fault(request)
        if fault is None:
            answer = self.inner.handle_request(request)
            self.faults.answered.append((request.url.path, answer.status_code))
            return answer
        return fault(request, lambda: self.inner.handle_request(request))

    def close(self) -> None:
        self.inner.close()


class AsyncFaultyTransport(httpx.AsyncBaseTransport):
    """`FaultyTransport` for the async client; a fault forwards through a blocking transport
    (the faults are plain functions)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.inner = httpx.AsyncHTTPTransport()
        self.blocking = httpx.HTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.faults.next_fault(request)
        if fault is None:
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        answer = fault(request, lambda: self.blocking.handle_request(copy))
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.read())

    async def aclose(self) -> None:
        await self.inner.aclose()
        self.blocking.close()


class Sleeps:
    """An injected sleep that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.waits.append(seconds)


class MonotonicClock:
    """An injected monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def token_requests(faults: Faults) -> int:
    return faults.paths("POST").count("/auth/oauth2/token")
