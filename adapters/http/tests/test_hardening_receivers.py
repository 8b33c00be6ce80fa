"""A receiver that trickles its answer costs one attempt of at most the sink's timeout, in
all (not per read); a receiver that answers with a huge body costs a bounded prefix of it."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from deletion_requests_http import WebhookSink
from deletion_requests_http._webhooks import CallbackWebhooks

from deletion_requests import HANDOFF, DeletionTask, DeliveryFailed, Status
from deletion_requests.stores import Callback

SECRET = "whsec_" + base64.b64encode(b"r" * 32).decode()
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
BOUND = 20.0
"""How long an attempt may take before the test calls it hung: far above the timeouts set."""
HUGE = 200 * 1024 * 1024


def a_task() -> DeletionTask:
    return DeletionTask(
        task_id="0190f4c8-0000-7000-8000-000000000001",
        account_id="acct-a",
        status=Status.ACTIONED,
        creation_time=T0,
        identifiers=frozenset(),
        created_by="app_a",
        actioned_time=T0,
    )


class Receiver:
    """An HTTP receiver on 127.0.0.1 that reads a request's head and body, then answers with
    *answer* (a function of the connection); it records what it sent."""

    def __init__(self, answer: Callable[[Receiver, socket.socket], None]) -> None:
        self.answer = answer
        self.sent = 0
        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            if not read_request(connection):
                return
            try:
                self.answer(self, connection)
            except OSError:  # the client hung up
                return

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.thread.join(5)


def read_request(connection: socket.socket) -> bool:
    """Read one request, head and body; False when the client closed the connection first."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = connection.recv(65536)
        if not chunk:
            return False
        request += chunk
    head, _, body = request.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


def trickle(data: bytes) -> Callable[[Receiver, socket.socket], None]:
    """Send *data*, then one byte of nothing-much every 50 ms until the client hangs up."""

    def answer(receiver: Receiver, connection: socket.socket) -> None:
        receiver.send(connection, data)
        while not receiver.stop.is_set():
            receiver.send(connection, b"x")
            time.sleep(0.05)

    return answer


def huge_body(receiver: Receiver, connection: socket.socket) -> None:
    receiver.send(connection, f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n".encode())
    block = b"\0" * 65536
    for _ in range(HUGE // len(block)):
        receiver.send(connection, block)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def attempt(call: Callable[[], object]) -> BaseException | object:
    """What *call* returned or raised, run in a thread; fails the test instead of hanging."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 (handed back to the test)
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND)
    assert outcome, "the delivery hung on a trickling receiver"
    return outcome[0]


TRICKLES = {
    "status-line": b"HTTP/1.1 200",
    "headers": b"HTTP/1.1 200 OK\r\nX-Slow: ",
    "body": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
}


@pytest.mark.parametrize("start", TRICKLES.values(), ids=TRICKLES.keys())
def test_a_trickling_receiver_is_a_timed_out_attempt(
    receivers: list[Receiver], start: bytes
) -> None:
    receiver = Receiver(trickle(start))
    receivers.append(receiver)
    sink = WebhookSink(receiver.url, SECRET, HANDOFF, timeout=0.5)
    try:
        outcome = attempt(lambda: sink.deliver(a_task(), b"{}"))
    finally:
        sink.close()
    assert isinstance(outcome, DeliveryFailed)
    assert outcome.detail == "timeout"


def test_a_trickling_callback_receiver_is_a_timed_out_attempt(receivers: list[Receiver]) -> None:
    receiver = Receiver(trickle(TRICKLES["headers"]))
    receivers.append(receiver)
    webhooks = CallbackWebhooks(timeout=0.5)
    callback = Callback(receiver.url, SECRET, T0)
    try:
        outcome = attempt(lambda: webhooks.send(callback, "evt_1", b"{}"))
    finally:
        webhooks.close()
    assert isinstance(outcome, DeliveryFailed)
    assert outcome.detail == "timeout"


def test_a_huge_answer_is_read_only_in_part(receivers: list[Receiver]) -> None:
    receiver = Receiver(huge_body)
    receivers.append(receiver)
    sink = WebhookSink(receiver.url, SECRET, HANDOFF, timeout=10)
    try:
        outcome = attempt(lambda: sink.deliver(a_task(), b"{}"))
    finally:
        sink.close()
    assert outcome is False  # a 2xx: delivered, the receiver reports completion later
    receiver.thread.join(0)
    assert receiver.sent < HUGE // 4, "the sink read the whole answer"


def test_small_answers_keep_the_connection_for_the_next_delivery(
    receivers: list[Receiver],
) -> None:
    connections: list[int] = []

    def keep_alive(receiver: Receiver, connection: socket.socket) -> None:
        connections.append(connection.fileno())
        answer = b"HTTP/1.1 204 No Content\r\n\r\n"
        receiver.send(connection, answer)
        while read_request(connection):  # the next request, on the same connection
            receiver.send(connection, answer)

    receiver = Receiver(keep_alive)
    receivers.append(receiver)
    sink = WebhookSink(receiver.url, SECRET, HANDOFF, timeout=5)
    try:
        assert attempt(lambda: sink.deliver(a_task(), b"{}")) is False
        assert attempt(lambda: sink.deliver(a_task(), b"{}")) is False
    finally:
        sink.close()
    assert len(connections) == 1
