"""The parts `bootstrap` composes that are the adapter's own: the background work, the
webhook sinks, the callback sender, and the names of the settings' environment variables."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import attrs

from deletion_requests import HANDOFF, REVIEW, CallbackSender, Sink

from ._metrics import CountedSender, CountedSink
from ._signing import WEBHOOK_SECRET_ENV, check_webhook_secret
from ._webhooks import CallbackWebhooks, WebhookSink

DEFAULT_STORE = "sqlite:///deletion-requests.db"
STORE_ENV = "DELETION_REQUESTS_STORE"
SIGNING_KEY_ENV = "DELETION_REQUESTS_SIGNING_KEY"

logger = logging.getLogger("deletion_requests.server")


@attrs.define
class Background:
    """Work repeated at intervals, each on a thread of its own, from `start` (or entering the
    context) until `stop`; a failure is logged and tried again at the next interval. `stop`
    waits for a round in progress to end."""

    loops: list[tuple[Callable[[], None], float]]
    _stopping: threading.Event = attrs.field(factory=threading.Event, init=False)
    _threads: list[threading.Thread] = attrs.field(factory=list, init=False)

    def start(self) -> None:
        for work, interval in self.loops:
            thread = threading.Thread(
                target=self._repeat, args=(work, interval), name="background", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _repeat(self, work: Callable[[], None], interval: float) -> None:
        while not self._stopping.is_set():
            try:
                work()
            except Exception:
                logger.exception("background work failed; retrying in %s s", interval)
            self._stopping.wait(interval)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> Background:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_webhooks(handoff_url: str | None, review_url: str | None, secret: str | None) -> None:
    """`ValueError` unless *secret* is a `whsec_` secret (or None) and every webhook URL has
    one."""
    check_webhook_secret(secret)
    if (handoff_url or review_url) and not secret:
        raise ValueError(f"a webhook URL needs a webhook secret (set ${WEBHOOK_SECRET_ENV})")


def sinks_for(
    handoff_url: str | None,
    review_url: str | None,
    secret: str | None,
) -> dict[str, Sink]:
    """Webhook sinks for the configured URLs; both need the shared *secret*. Without a review
    URL, review alerts go to the log (operators still see them); without a hand-off URL,
    hand-offs wait in the outbox until one is configured. Signatures are dated by the wall
    clock, as receivers check them."""
    check_webhooks(handoff_url, review_url, secret)
    sinks: dict[str, Sink] = {REVIEW: LogSink()}
    if review_url:
        assert secret is not None
        sinks[REVIEW] = WebhookSink(review_url, secret, REVIEW, name="review-webhook")
    if handoff_url:
        assert secret is not None
        sinks[HANDOFF] = WebhookSink(handoff_url, secret, HANDOFF, name="handoff-webhook")
    return {kind: CountedSink(kind, sink) for kind, sink in sinks.items()}


def callback_sender() -> CallbackSender:
    """What sends the apps' status callbacks: webhooks, counted in the metrics."""
    return CountedSender(CallbackWebhooks())


class LogSink:
    """Review alerts as warning lines in the server's log (ids and times only)."""

    name = "log"

    def deliver(self, task: object, body: bytes) -> bool:
        logger.warning("review alert: %s", body.decode())
        return False
