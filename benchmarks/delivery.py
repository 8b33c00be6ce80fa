"""Delivery benchmark: one round to three local receivers over real HTTP, with the endpoints
side by side (`Lanes(8)`, the default) and in turn (`Lanes(1)`), rounds alternating.

- `trickle`: the hand-off receiver trickles its answer past the attempt's deadline; timed is
  how long two apps' callback receivers wait until they have everything they are owed.
- `quick`: three receivers that answer at once; timed is the whole round.

Run: uv run python -m benchmarks.delivery [--tasks 50] [--timeout 2] [--rounds 3]
(figures go into docs/performance.md by hand)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import socket
import statistics
import threading
import time
from collections.abc import Callable

from deletion_requests_http import WebhookSink
from deletion_requests_http._webhooks import CallbackWebhooks

from deletion_requests import (
    HANDOFF,
    AccessAdmin,
    DeletionService,
    ManualClock,
    MemoryStore,
    Policy,
)
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import new_signing_secret

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
SECRET = new_signing_secret()


class Trickler:
    """A receiver that sends the start of an answer a byte every 50 ms until hung up on."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
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
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self.stop.is_set():
                    connection.sendall(b"x")
                    time.sleep(0.05)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def one_round(
    tasks: int, timeout: float, lanes: int, handoff_url: str, a: WebhookReceiver, b: WebhookReceiver
) -> tuple[float, float]:
    """Seconds until *a* and *b* had all their callbacks, and seconds of the whole round: the
    hand-offs of 2 x *tasks* tasks to *handoff_url*, their callbacks to *a* and *b*."""
    clock = ManualClock(T0)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-1")
    service = DeletionService(store, clock, Policy(), subscribers=[], lanes=lanes)
    for receiver in (a, b):
        receiver.acknowledged.clear()
        app, secret = admin.create_app(["acct-1"])
        receiver.secret = admin.set_callback(app.app_id, receiver.url, allow_http=True)
        caller = service.authenticate(app.app_id, secret)
        for n in range(tasks):
            service.create(caller, "acct-1", raw_emails=[f"p{n}@{app.app_id}.example"])
    clock.advance(Policy().cancel_period)
    service.advance_due()
    sink = WebhookSink(handoff_url, SECRET, HANDOFF, timeout=timeout)
    callbacks = CallbackWebhooks(timeout)
    owed = 2 * tasks  # ready and actioned, for each task of the app
    try:
        start = time.perf_counter()
        worker = threading.Thread(target=service.deliver, args=({HANDOFF: sink}, 1000, callbacks))
        worker.start()
        while len(a.acknowledged) < owed or len(b.acknowledged) < owed:
            time.sleep(0.001)
        others = time.perf_counter() - start
        worker.join()
        whole = time.perf_counter() - start
    finally:
        sink.close()
        callbacks.close()
        service.close()
    return others, whole


def compare(
    tasks: int, timeout: float, rounds: int, handoff: Callable[[], tuple[str, Callable[[], None]]]
) -> dict[int, tuple[float, float]]:
    """Median (others, whole) seconds by lane width, the widths alternating round by round."""
    times: dict[int, list[tuple[float, float]]] = {8: [], 1: []}
    url, close = handoff()
    try:
        with WebhookReceiver(SECRET) as a, WebhookReceiver(SECRET) as b:
            for _ in range(rounds):
                for lanes in times:
                    times[lanes].append(one_round(tasks, timeout, lanes, url, a, b))
    finally:
        close()
    return {
        lanes: (statistics.median(t[0] for t in got), statistics.median(t[1] for t in got))
        for lanes, got in times.items()
    }


def trickling() -> tuple[str, Callable[[], None]]:
    receiver = Trickler()
    return receiver.url, receiver.close


def quick() -> tuple[str, Callable[[], None]]:
    receiver = WebhookReceiver(SECRET).__enter__()
    return receiver.url, lambda: receiver.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50, help="tasks of each of the two apps")
    parser.add_argument("--timeout", type=float, default=2.0, help="an attempt's deadline (s)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("deletion_requests").setLevel(logging.ERROR)  # each timeout is a warning
    for case, handoff in (("trickle", trickling), ("quick", quick)):
        result = compare(args.tasks, args.timeout, args.rounds, handoff)
        for lanes, (others, whole) in result.items():
            print(
                f"{case:8} lanes {lanes}: callback receivers done after {others:6.2f} s, "
                f"round {whole:6.2f} s ({4 * args.tasks} callbacks, {2 * args.tasks} hand-offs)"
            )


if __name__ == "__main__":
    main()
