"""A loopback webhook receiver that verifies Standard Webhooks signatures with the
`standardwebhooks` package, as docs/handoff.md tells receivers to."""

from __future__ import annotations

import http.server
import threading
import time
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (a free port) for tests.

    Each POST is verified with *secret* (`whsec_...`) by `standardwebhooks`; a bad signature
    gets 401 and counts in `refused`. `ids` keeps each verified request's `webhook-id`.
    Verified bodies are kept in `received`; the receiver then answers the next of
    *statuses* (204 once they run out), and bodies answered 2xx are kept in `acknowledged`.
    While `hold` is set, a verified request waits (up to 60 s) for `release()` before answering
    503: a way to have a sender die mid-delivery. With `delay`, every verified request waits
    that many seconds before it is answered: a slow deleter. Use it as a context manager.
    """

    def __init__(
        self,
        secret: str,
        statuses: list[int] | None = None,
    ) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.acknowledged: list[dict[str, Any]] = []
        self.refused = 0
        self.hold = False
        self.delay = 0.0
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.secret = secret
        """The secret verified against; may be set after the receiver is made (an app's
        callback secret comes from registering the receiver's URL)."""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    verifier = Webhook(receiver.secret)
                    verifier.verify(body, dict(self.headers.items()), json_parse=False)
                except WebhookVerificationError:
                    with receiver._lock:
                        receiver.refused += 1
                    self._answer(401)
                    return
                document = orjson.loads(body)
                with receiver._lock:
                    receiver.received.append(document)
                    receiver.ids.append(self.headers.get("webhook-id", ""))
                    held = receiver.hold
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                receiver.arrived.set()
                if receiver.delay:
                    time.sleep(receiver.delay)
                if held:
                    receiver._released.wait(60)
                    status = 503
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.acknowledged.append(document)
                self._answer(status)

            def _answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/deletion"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def release(self) -> None:
        self.hold = False
        self._released.set()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
