"""Bodies against a real `serve` over real sockets: a body arrives whole within a bound, a
request without valid credentials is answered before its body, and bodies held half-sent do
not starve `/healthz` or an authenticated client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deletion_requests_http._bodies import UNAUTHENTICATED_BODIES, BodyBounds
from deletion_requests_http.testing import RunningServer, bootstrapped, serving
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

CREATE = "/data/deletion-requests/emails"
TOKEN = "/auth/oauth2/token"  # noqa: S105 (a path, not a password)
WAIT = 15.0
"""A generous bound on any answer a test waits for."""


def allowed_app(store: str) -> dict[str, str]:
    """Basic credentials of an app granted acct-1 in *store* (made here: a CLI run costs a
    Python start)."""
    application = bootstrapped(store)
    try:
        application.admin.allow_account("acct-1")
        app, secret = application.admin.create_app(["acct-1"])
    finally:
        application.close()
    token = base64.b64encode(f"{app.app_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def half_sent(
    port: int, path: str, body: bytes, sent: int, headers: dict[str, str] | None = None
) -> socket.socket:
    """A connection that sent a POST head announcing *body* and the first *sent* bytes of it."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        "Content-Type: "
        + ("application/x-www-form-urlencoded" if path == TOKEN else "application/json"),
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[:sent])
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """The status, headers and JSON body of the answer on *sock*."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    while len(rest) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the answer"
        rest += chunk
    return int(status_line.split()[1]), headers, json.loads(rest)


def closed(sock: socket.socket) -> bool:
    """Whether the server closed *sock* (after its answer, which has been read)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@contextlib.contextmanager
def trickled(sock: socket.socket, rest: bytes, every: float = 0.2) -> Iterator[None]:
    """Send *rest* on *sock* one byte every *every* seconds, in a thread, until the block ends
    or the server stops reading."""
    stop = threading.Event()

    def trickle() -> None:
        for byte in rest:
            if stop.wait(every):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    """A `serve` on SQLite with a 1 s body bound, and the credentials of its one app."""
    directory = tmp_path_factory.mktemp("bodies")
    store = f"sqlite:///{directory}/bodies.db"
    credentials = allowed_app(store)
    with serving(store, directory / "server.log", "--body-timeout", "1") as running:
        yield running, credentials


def test_a_trickled_body_is_answered_408_and_nothing_of_it_is_stored(
    served: tuple[RunningServer, dict[str, str]],
) -> None:
    running, credentials = served
    body = json.dumps({"accountId": "acct-1", "rawEmails": ["a@example.com"]}).encode()
    for path, headers, payload in (
        (CREATE, credentials, body),
        (TOKEN, credentials, b"grant_type=client_credentials"),
    ):
        with (
            half_sent(running.port, path, payload, 1, headers) as sock,
            trickled(sock, payload[1:]),
        ):
            status, answer_headers, document = answer(sock)
            assert status == 408, document
            assert document["error"] == {
                "code": 408,
                "error": "REQUEST_TIMEOUT",
                "message": "the request body did not arrive within 1 s; send it whole at once",
            }
            assert answer_headers["connection"] == "close"
            assert closed(sock)
    listed = httpx.get(f"{running.base_url}/data/deletion-requests", headers=credentials)
    assert listed.json() == []
    # A body sent at once is still taken:
    created = httpx.post(
        f"{running.base_url}{CREATE}",
        content=body,
        headers={**credentials, "Content-Type": "application/json"},
    )
    assert created.status_code == 202, created.text


def test_a_request_without_valid_credentials_is_refused_before_its_body_arrives(
    served: tuple[RunningServer, dict[str, str]],
) -> None:
    """403 at once (a server that waited for the body would answer 408), and the connection
    closed: the rest of the body is not waited for."""
    running, _ = served
    body = json.dumps({"accountId": "acct-1", "rawEmails": ["a@example.com"]}).encode()
    wrong = {"Authorization": "Basic " + base64.b64encode(b"nobody:wrong").decode()}
    for path, headers in (
        (CREATE, {}),
        (CREATE, wrong),
        ("/data/deletion-requests/cancellations", wrong),
    ):
        with half_sent(running.port, path, body, 5, headers) as sock:
            status, _, document = answer(sock)
            assert status == 403, document
            assert document["error"]["error"] == "AUTHENTICATION_ERROR"  # type: ignore[index]
            assert closed(sock)


def test_health_and_an_authenticated_create_are_served_while_hundreds_of_bodies_are_held(
    tmp_path: Path,
) -> None:
    """300 half-sent bodies from senders without credentials, half to the data endpoints,
    half to the token endpoint, against a worker that holds at most 100 connections: the
    first are answered 403 at once, the second wait in at most UNAUTHENTICATED_BODIES reads
    (the others are answered 503 at once), so connections stay free for everyone else."""
    store = f"sqlite:///{tmp_path}/held.db"
    credentials = allowed_app(store)
    body = json.dumps({"accountId": "acct-1", "rawEmails": ["a@example.com"]}).encode()
    form = b"grant_type=client_credentials&client_id=someone&client_secret=" + b"x" * 200
    with serving(store, tmp_path / "server.log", "--max-connections", "100") as running:
        creates: list[socket.socket] = []
        tokens: list[socket.socket] = []
        try:
            for n in range(150):
                creates.append(half_sent(running.port, CREATE, body, 5))
                tokens.append(half_sent(running.port, TOKEN, form, 40 + n % 7))
            with httpx.Client(base_url=running.base_url, timeout=WAIT) as client:
                assert client.get("/healthz").status_code == 200
                created = client.post(
                    CREATE,
                    content=body,
                    headers={**credentials, "Content-Type": "application/json"},
                )
                assert created.status_code == 202, created.text
            assert {answer(sock)[0] for sock in creates} == {403}
            busy, waiting = [], list(tokens)
            deadline = time.monotonic() + WAIT
            while len(busy) < len(tokens) - UNAUTHENTICATED_BODIES and time.monotonic() < deadline:
                readable, _, _ = select.select(waiting, [], [], 0.5)
                for sock in readable:
                    busy.append(answer(sock))
                    waiting.remove(sock)
            assert len(waiting) == UNAUTHENTICATED_BODIES, "the held bodies are the capped ones"
            assert {status for status, _, _ in busy} == {503}
            _, headers, document = busy[0]
            assert document["error"]["error"] == "SERVICE_UNAVAILABLE"  # type: ignore[index]
            assert headers["retry-after"] == "5"
        finally:
            for sock in creates + tokens:
                sock.close()


def test_a_request_that_declares_no_body_is_never_counted_nor_timed() -> None:
    """With no unauthenticated read left, a request without a body still reads its (empty)
    body, and waits for its client to leave, past the bound; one with a body is refused 503."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.request"
        assert (await receive())["type"] == "http.disconnect"

    async def client() -> Message:
        await asyncio.sleep(0.05)  # longer than the bound
        return {"type": "http.disconnect"}

    def run(headers: list[tuple[bytes, bytes]]) -> None:
        messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> Message:
            return next(messages, None) or await client()

        async def send(message: Message) -> None:
            raise AssertionError(message)

        bounded = BodyBounds(app, timeout=0.01, unauthenticated=0)
        asyncio.run(bounded({"type": "http", "headers": headers}, receive, send))

    run([(b"content-length", b"0")])
    run([])
    with pytest.raises(HTTPException) as refused:
        run([(b"content-length", b"5")])
    assert refused.value.status_code == 503


def _bounded_read(bounded: BodyBounds, arrives_after: float | None) -> tuple[str, float]:
    """One request with a body through *bounded*, its body arriving after *arrives_after*
    seconds (never, for None), on a new event loop: what its read gave, and when."""

    async def receive() -> Message:
        await asyncio.sleep(3600 if arrives_after is None else arrives_after)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def run() -> str:
        scope = {"type": "http", "headers": [(b"content-length", b"2")], "state": {"app_id": "a"}}
        try:
            await asyncio.wait_for(bounded(scope, receive, _no_send), WAIT)
        except HTTPException as exc:
            return str(exc.status_code)
        except TimeoutError:
            return "never answered"
        return "read"

    started = time.monotonic()
    outcome = asyncio.run(run())
    return outcome, time.monotonic() - started


def test_a_body_past_its_deadline_is_408_on_each_event_loop_and_one_in_time_is_read() -> None:
    """The deadlines of one middleware are kept per event loop: a second loop's read is timed
    as the first one's was, and a read that ends in time does not delay the next one's 408."""
    bounded = BodyBounds(_reads_once, timeout=0.2)
    for _ in range(2):
        assert _bounded_read(bounded, arrives_after=0.01)[0] == "read"
        outcome, took = _bounded_read(bounded, arrives_after=None)
        assert outcome == "408"
        assert 0.15 < took < 2.0


def test_a_body_read_cancelled_from_elsewhere_is_cancelled_not_408() -> None:
    """A read cancelled by someone else (its client left) raises CancelledError, not 408, and
    leaves nothing waiting on the loop's deadlines."""
    bounded = BodyBounds(_reads_once, timeout=30)

    async def receive() -> Message:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    async def run() -> None:
        scope = {"type": "http", "headers": [(b"content-length", b"2")], "state": {"app_id": "a"}}
        task = asyncio.create_task(bounded(scope, receive, _no_send))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (deadlines,) = bounded._deadlines.values()
        assert not deadlines.waiting
        assert not deadlines.expired

    asyncio.run(run())


async def _reads_once(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()


async def _no_send(message: Message) -> None:
    raise AssertionError(message)
