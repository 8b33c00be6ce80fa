"""A rate-limit store (Redis) that refuses connections, or accepts them and never answers,
costs requests a short wait at most: the limits are skipped (fail open), logged, and enforced
again, on their own, once Redis answers."""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
import redis
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http._limits import RateLimits
from starlette.testclient import TestClient

from deletion_requests import AccessAdmin, DeletionService, ManualClock, MemoryStore, Policy

from .conftest import KEY, T0, XDIST_WORKER, basic

REDIS = os.environ.get(
    "DELETION_REQUESTS_TEST_REDIS_HARDENING", f"redis://127.0.0.1:6379/{11 - XDIST_WORKER}"
)
"""Database 11 (10 for the second xdist worker) is this suite's own: it is flushed before each
test that uses it."""
TASKS = "/data/deletion-requests"
TOKEN = "/auth/oauth2/token"  # noqa: S105 (a path)
FORM = {"grant_type": "client_credentials"}
BOUND = 30.0
"""How long a request may take before the test calls it hung: far above any timeout set."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Silent:
    """A listener on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.server.close()
        for connection in self.held:
            connection.close()
        self.thread.join(5)


class Switch:
    """A TCP relay on 127.0.0.1 to the test Redis that can be turned off (it then drops every
    connection, new and open): Redis going away and coming back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = True
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while self.up:
                for key, _ in selector.select(0.1):
                    try:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        key.data.sendall(data)
                    except OSError:
                        return
        client.close()
        upstream.close()

    def down(self) -> None:
        self.up = False
        for client, upstream in self.pairs:
            for end in (client, upstream):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
        self.pairs.clear()

    def close(self) -> None:
        self.down()
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.server.close()
        self.thread.join(5)


class Limited:
    def __init__(self, store_url: str, data: str = "2/minute") -> None:
        clock = ManualClock(T0)
        store = MemoryStore()
        admin = AccessAdmin(store, clock)
        admin.allow_account("acct-a")
        app, secret = admin.create_app(["acct-a"])
        self.a = basic(app.app_id, secret)
        limits = RateLimits.open(data, "2/minute", store_url)
        assert limits is not None
        self.limits = limits
        service = DeletionService(store, clock, Policy())
        self.client = TestClient(
            create_app(service, TokenIssuer(KEY, clock), limits=limits),
            raise_server_exceptions=False,
        )


def within_bound(call: Callable[[], object]) -> object:
    """The result of *call*, run in a thread; fails the test instead of hanging with it."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(BOUND)
    assert result, "the request hung on the rate-limit store"
    return result[0]


def token_and_data_answers(site: Limited) -> list[int]:
    def run() -> list[int]:
        token = site.client.post(TOKEN, data=FORM, headers=site.a)
        data = site.client.get(TASKS, headers=site.a)
        return [token.status_code, data.status_code]

    answers = within_bound(run)
    assert isinstance(answers, list)
    return answers


def test_a_refused_redis_leaves_requests_unlimited_not_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = Limited(f"redis://:hunter2@127.0.0.1:{free_port()}/11")
    with caplog.at_level(logging.WARNING, "deletion_requests.http.limits"):
        answers = [token_and_data_answers(site) for _ in range(3)]
    assert answers == [[200, 200]] * 3  # more than the limit of 2: the limits are skipped
    warnings = [r for r in caplog.records if r.name == "deletion_requests.http.limits"]
    assert warnings, "the failing store is not logged"
    assert len(warnings) == 1, "an outage is logged once, not once a request"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "hunter2" not in logged
    assert "ConnectionError" in logged


def test_a_hanging_redis_costs_a_short_wait_not_a_hung_request() -> None:
    silent = Silent()
    try:
        site = Limited(f"redis://127.0.0.1:{silent.port}/11")
        assert token_and_data_answers(site) == [200, 200]
        assert token_and_data_answers(site) == [200, 200]
    finally:
        silent.close()


@pytest.fixture
def switch() -> Iterator[Switch]:
    redis.Redis.from_url(REDIS).flushdb()
    parts = urlsplit(REDIS)
    relay = Switch((parts.hostname or "127.0.0.1", parts.port or 6379))
    yield relay
    relay.close()


def test_limits_are_enforced_again_once_redis_is_back(switch: Switch) -> None:
    site = Limited(f"redis://127.0.0.1:{switch.port}{urlsplit(REDIS).path}", data="3/minute")
    site.limits.recheck_after = 0.0  # try Redis again at once (a deployment waits a little)
    first = within_bound(lambda: site.client.get(TASKS, headers=site.a))
    assert first.headers["ratelimit-remaining"] == "2"  # type: ignore[attr-defined]
    switch.down()
    unlimited = [within_bound(lambda: site.client.get(TASKS, headers=site.a)) for _ in range(4)]
    assert [answer.status_code for answer in unlimited] == [200] * 4  # type: ignore[attr-defined]
    assert all("ratelimit-remaining" not in a.headers for a in unlimited)  # type: ignore[attr-defined]
    switch.up = True
    again = within_bound(lambda: site.client.get(TASKS, headers=site.a))
    assert again.headers["ratelimit-remaining"] == "1"  # type: ignore[attr-defined]
    refused = [within_bound(lambda: site.client.get(TASKS, headers=site.a)) for _ in range(2)]
    assert [answer.status_code for answer in refused] == [200, 429]  # type: ignore[attr-defined]
