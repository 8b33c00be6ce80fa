"""Over real HTTP, as the server wires it: a hand-off receiver that trickles its answer for
longer than an attempt's deadline holds back neither of two apps' callback receivers."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from deletion_requests_http._bootstrap import Application, Settings, bootstrap
from deletion_requests_http._wiring import attempt_timeout

from deletion_requests import AccessAdmin, ManualClock, Policy
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import new_signing_secret

SECRET = new_signing_secret()
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=6)
"""The delivery lease: each attempt then has 3 s at most."""
BOUND = 30.0
"""How long the test waits for what must happen before it calls it hung."""


class Trickler:
    """A receiver that reads a request, then sends the start of an answer a byte at a time,
    never finishing, until the client hangs up; `hung_up` is set then."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.connected = threading.Event()
        self.hung_up = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            self.connected.set()
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self.stop.is_set():
                    connection.sendall(b"x")
                    time.sleep(0.05)
            except OSError:
                self.hung_up.set()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


class World:
    """An application that delivers, its hand-off to a trickler, and two apps' callback
    receivers; three tasks of each app handed off (each owes a `ready` and an `actioned`)."""

    def __init__(self, trickler: Trickler, a: WebhookReceiver, b: WebhookReceiver) -> None:
        self.clock = ManualClock(T0)
        settings = Settings(
            store_url="memory://",
            clock=self.clock,
            deliver=True,
            handoff_url=trickler.url,
            webhook_secret=SECRET,
            delivery_lease=LEASE,
        )
        self.application: Application = bootstrap(settings)
        admin = AccessAdmin(self.application.store, self.clock)
        admin.allow_account("acct-1")
        service = self.application.service
        for receiver in (a, b):
            app, secret = admin.create_app(["acct-1"])
            receiver.secret = admin.set_callback(app.app_id, receiver.url, allow_http=True)
            caller = service.authenticate(app.app_id, secret)
            for n in range(3):
                service.create(caller, "acct-1", raw_emails=[f"p{n}@{app.app_id}.example"])
        self.clock.advance(Policy().cancel_period)
        service.advance_due()

    def deliver(self) -> None:
        application = self.application
        application.service.deliver(application.sinks, callback_sender=application.callbacks)


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    receiver = Trickler()
    yield receiver
    receiver.close()


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_trickling_hand_off_receiver_holds_back_no_callback_receiver(
    trickler: Trickler,
) -> None:
    with WebhookReceiver(SECRET) as a, WebhookReceiver(SECRET) as b:
        world = World(trickler, a, b)
        worker = threading.Thread(target=world.deliver, daemon=True)
        try:
            worker.start()
            assert trickler.connected.wait(BOUND)
            wait_for(lambda: len(a.acknowledged) == 6, f"receiver a took {len(a.acknowledged)}")
            wait_for(lambda: len(b.acknowledged) == 6, f"receiver b took {len(b.acknowledged)}")
            assert not trickler.hung_up.is_set(), "the callbacks waited for the hand-off"
            worker.join(BOUND)
            assert not worker.is_alive()
            assert trickler.hung_up.wait(BOUND)  # its attempt timed out, and the round ended
        finally:
            world.application.close()
    events = sorted(body["eventType"] for body in a.acknowledged)
    assert events == ["actioned"] * 3 + ["ready"] * 3


@pytest.mark.parametrize(("lease", "seconds"), [(120, 10.0), (20, 10.0), (6, 3.0), (2, 1.0)])
def test_an_attempt_takes_at_most_half_the_delivery_lease(lease: int, seconds: float) -> None:
    assert attempt_timeout(dt.timedelta(seconds=lease)) == seconds
