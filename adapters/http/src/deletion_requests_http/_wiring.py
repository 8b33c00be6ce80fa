"""The one place that picks concrete parts: a store from a URL, the clock, the token key, the
webhook sinks, and the background work."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping

import attrs
from starlette.applications import Starlette

from deletion_requests import (
    HANDOFF,
    REVIEW,
    AccessAdmin,
    CallbackSender,
    Clock,
    DeletionService,
    Policy,
    Sink,
    Store,
    SystemClock,
    open_store,
)

from ._app import create_app
from ._limits import RateLimits
from ._metrics import CountedSender, CountedSink
from ._signing import WEBHOOK_SECRET_ENV, check_webhook_secret
from ._tokens import TokenIssuer, stored_signing_key
from ._webhooks import CallbackWebhooks, WebhookSink
from .console import Console, ConsoleSettings

DEFAULT_STORE = "sqlite:///deletion-requests.db"
STORE_ENV = "DELETION_REQUESTS_STORE"
SIGNING_KEY_ENV = "DELETION_REQUESTS_SIGNING_KEY"

logger = logging.getLogger("deletion_requests.server")


@attrs.define
class Server:
    """A store, the service and admin over it, and the token issuer: one process's parts."""

    store: Store
    service: DeletionService
    admin: AccessAdmin
    tokens: TokenIssuer

    @classmethod
    def open(
        cls,
        url: str,
        clock: Clock | None = None,
        policy: Policy | None = None,
        signing_key: str | None = None,
        create: bool = True,
    ) -> Server:
        """The parts over the store at *url*; with `create=False`, only a store that exists."""
        store = open_store(url, create=create)
        clock = clock or SystemClock()
        service = DeletionService(store, clock, policy or Policy())
        tokens = TokenIssuer(signing_key or stored_signing_key(store), clock)
        return cls(store, service, AccessAdmin(store, clock), tokens)

    def app(
        self,
        webhook_secret: str | None = None,
        advance_interval: float | None = None,
        sinks: Mapping[str, Sink] | None = None,
        deliver_interval: float = 5.0,
        close_on_shutdown: bool = False,
        console: ConsoleSettings | None = None,
        limits: RateLimits | None = None,
        metrics_token: str | None = None,
    ) -> Starlette:
        """The HTTP app. With *webhook_secret*, the completion endpoint. With
        *advance_interval*, the app's lifespan runs this server's `background` work. With
        *close_on_shutdown*, the app's shutdown closes the store. With *console*, the
        operators' console under `/console/`. With *limits*, the rate limits; with
        *metrics_token*, the token a scrape of `/metrics` must carry."""
        check_webhook_secret(webhook_secret)
        work = None
        if advance_interval is not None:
            work = self.background(advance_interval, sinks, deliver_interval)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            try:
                with work or contextlib.nullcontext():
                    yield
            finally:
                if close_on_shutdown:
                    self.close()

        pages = None if console is None else Console(self.service, self.admin, console).app()
        return create_app(
            self.service, self.tokens, webhook_secret, lifespan, pages, limits, metrics_token
        )

    def background(
        self,
        advance_interval: float,
        sinks: Mapping[str, Sink] | None = None,
        deliver_interval: float = 5.0,
    ) -> Background:
        """Every *advance_interval* seconds, transitions, overdue marks and purges
        (`maintain`); with *sinks*, every *deliver_interval*, a delivery round, the apps'
        status callbacks included."""
        loops: list[tuple[Callable[[], None], float]] = [(self._maintain, advance_interval)]
        if sinks:
            sender = callback_sender()
            loops.append((lambda: self._deliver(sinks, sender), deliver_interval))
        return Background(loops)

    def _maintain(self) -> None:
        done = self.service.maintain()
        if any(done.values()):
            logger.info("maintenance: %s", ", ".join(f"{k} {v}" for k, v in done.items()))

    def _deliver(self, sinks: Mapping[str, Sink], sender: CallbackSender) -> None:
        report = self.service.deliver(sinks, callback_sender=sender)
        if report.delivered or report.failed:
            logger.info(
                "deliveries: %d delivered, %d failed, %d waiting",
                report.delivered,
                report.failed,
                report.waiting,
            )

    def close(self) -> None:
        self.store.close()


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


def sinks_for(
    handoff_url: str | None,
    review_url: str | None,
    secret: str | None,
) -> dict[str, Sink]:
    """Webhook sinks for the configured URLs; both need the shared *secret*. Without a review
    URL, review alerts go to the log (operators still see them); without a hand-off URL,
    hand-offs wait in the outbox until one is configured. Signatures are dated by the wall
    clock, as receivers check them."""
    check_webhook_secret(secret)
    if (handoff_url or review_url) and not secret:
        raise ValueError(f"a webhook URL needs a webhook secret (set ${WEBHOOK_SECRET_ENV})")
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
