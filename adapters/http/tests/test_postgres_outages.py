"""PostgreSQL that hangs or is down: creates and `/healthz` answer 503 with `Retry-After` in
the envelope within the store's bounds, and the server recovers on its own once PostgreSQL
answers again.

The store reaches PostgreSQL through a TCP proxy of the test's own that can be told to stall
(keep every connection open and forward nothing, as a proxy or a frozen server does) and to
refuse (drop every connection and stop listening, as a server that is down).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from deletion_requests_http.testing import bootstrapped
from starlette.testclient import TestClient

from deletion_requests import ManualClock

from .conftest import KEY, T0, basic

CREATE = "/data/deletion-requests/emails"
# Small bounds, so that each outage is noticed in about three seconds.
BOUNDS = "statement_timeout=1&pool_timeout=1&connect_timeout=2"
HANG_GUARD = 30.0  # a call that has not answered by then hangs: the test fails, not waits


class Proxy:
    """A TCP proxy on a free loopback port to *target*: `forward()`, `stall()`, `refuse()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._listener: socket.socket | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while not self._stopped:
                if self.mode != "forward":  # stalled: bytes wait in the kernel's buffers
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def forward(self) -> None:
        if self._listener is None:
            self._listen()
        self.mode = "forward"

    def stall(self) -> None:
        self.mode = "stall"

    def refuse(self) -> None:
        """Down: no connection is accepted, and every open one is dropped."""
        self.mode = "refuse"
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped = True
        self.refuse()


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[Proxy, str]]:
    parts = urlsplit(postgres_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    url = urlunsplit(parts._replace(netloc=netloc, query=f"{parts.query}&{BOUNDS}"))
    try:
        yield proxy, url
    finally:
        proxy.close()


def answered(call: Callable[[], Any]) -> Any:
    """*call*'s answer, failing the test should it hang."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    assert result, f"no answer in {HANG_GUARD} s: the call hangs"
    return result[0]


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["error"] == "SERVICE_UNAVAILABLE"
    assert int(response.headers["retry-after"]) > 0


def until_created(client: TestClient, headers: dict[str, str]) -> None:
    """Creates again until one is accepted (the pool reconnects with a back-off)."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        response = answered(lambda: client.post(CREATE, json=body(), headers=headers))
        if response.status_code == 202 or time.monotonic() > deadline:
            break
        assert_unavailable(response)
        time.sleep(0.2)
    assert response.status_code == 202, response.text


def body() -> dict[str, Any]:
    return {"accountId": "acct-a", "rawEmails": ["person@example.com"]}


@pytest.mark.parametrize("outage", ["stall", "refuse"])
def test_postgres_outage_is_503_with_retry_after_and_recovers(
    proxied: tuple[Proxy, str], outage: str
) -> None:
    proxy, url = proxied
    application = bootstrapped(url, clock=ManualClock(T0), signing_key=KEY)
    try:
        application.admin.allow_account("acct-a")
        app, secret = application.admin.create_app(["acct-a"])
        headers = basic(app.app_id, secret)
        client = TestClient(application.http(), raise_server_exceptions=False)
        assert client.post(CREATE, json=body(), headers=headers).status_code == 202
        getattr(proxy, outage)()
        assert_unavailable(answered(lambda: client.post(CREATE, json=body(), headers=headers)))
        assert_unavailable(answered(lambda: client.get("/healthz")))
        proxy.forward()
        until_created(client, headers)
        assert answered(lambda: client.get("/healthz")).status_code == 200
    finally:
        proxy.forward()
        application.close()
