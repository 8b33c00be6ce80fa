"""The one place that picks concrete parts: a store from a URL, the clock, the token key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from urllib.parse import urlsplit

import attrs
from starlette.applications import Starlette

from deletion_requests import (
    HANDOFF,
    REVIEW,
    AccessAdmin,
    Clock,
    DeletionService,
    Policy,
    Sink,
    Store,
    SystemClock,
    WebhookSink,
    open_store,
)

from ._app import create_app
from ._tokens import TokenIssuer, stored_signing_key
from ._writer import WriterProcess

DEFAULT_STORE = "sqlite:///deletion-requests.db"
STORE_ENV = "DELETION_REQUESTS_STORE"
SIGNING_KEY_ENV = "DELETION_REQUESTS_SIGNING_KEY"
WEBHOOK_SECRET_ENV = "DELETION_REQUESTS_WEBHOOK_SECRET"  # noqa: S105 (a variable name)

logger = logging.getLogger("deletion_requests.server")


@attrs.define
class Server:
    """A store, the service and admin over it, and the token issuer: one process's parts."""

    store: Store
    service: DeletionService
    admin: AccessAdmin
    tokens: TokenIssuer
    url: str | None = None
    """The store's URL, when the server opened it from one."""

    @classmethod
    def open(
        cls,
        url: str,
        clock: Clock | None = None,
        policy: Policy | None = None,
        signing_key: str | None = None,
    ) -> Server:
        store = open_store(url)
        clock = clock or SystemClock()
        service = DeletionService(store, clock, policy or Policy())
        tokens = TokenIssuer(signing_key or stored_signing_key(store), clock)
        return cls(store, service, AccessAdmin(store, clock), tokens, url)

    def app(
        self,
        advance_interval: float | None = None,
        sinks: Mapping[str, Sink] | None = None,
        deliver_interval: float = 5.0,
        webhook_secret: bytes | None = None,
        writer_process: bool = False,
        log_level: str | None = None,
    ) -> Starlette:
        """The HTTP app. With *advance_interval* seconds, background loops: every interval,
        transitions, overdue marks and purges (`maintain`); every *deliver_interval*, a
        delivery round to *sinks*. With *webhook_secret*, the completion endpoint. With
        *writer_process*, a SQLite store's creates are committed in a child process
        (`WriterProcess`); other stores ignore it. With *log_level* too (the level `serve`
        configured with `configure_logging`), that process also writes the access log, with
        the same logging configuration."""
        lifespan = None
        if advance_interval is not None:
            loops = [(self._maintain, advance_interval)]
            if sinks:
                loops.append((lambda: self._deliver(sinks), deliver_interval))
            lifespan = _background(loops)
        writer = None
        if writer_process and self.url is not None and urlsplit(self.url).scheme == "sqlite":
            writer = WriterProcess(self.url, self.service, log_level)
        return create_app(
            self.service,
            self.tokens,
            lifespan=lifespan,
            completion_secret=webhook_secret,
            writer_process=writer,
        )

    def _maintain(self) -> None:
        done = self.service.maintain()
        if any(done.values()):
            logger.info("maintenance: %s", ", ".join(f"{k} {v}" for k, v in done.items()))

    def _deliver(self, sinks: Mapping[str, Sink]) -> None:
        report = self.service.deliver(sinks)
        if report.delivered or report.failed:
            logger.info(
                "deliveries: %d delivered, %d failed, %d waiting",
                report.delivered,
                report.failed,
                report.waiting,
            )

    def close(self) -> None:
        self.store.close()


def sinks_for(
    handoff_url: str | None,
    review_url: str | None,
    secret: bytes | None,
    clock: Clock | None = None,
) -> dict[str, Sink]:
    """Webhook sinks for the configured URLs; both need the shared *secret*. Without a review
    URL, review alerts go to the log (operators still see them); without a hand-off URL,
    hand-offs wait in the outbox until one is configured."""
    if (handoff_url or review_url) and not secret:
        raise ValueError(f"a webhook URL needs a webhook secret (set ${WEBHOOK_SECRET_ENV})")
    now = clock.now if clock is not None else SystemClock().now
    sinks: dict[str, Sink] = {REVIEW: LogSink()}
    if review_url:
        assert secret is not None
        sinks[REVIEW] = WebhookSink(review_url, secret, name="review-webhook", now=now)
    if handoff_url:
        assert secret is not None
        sinks[HANDOFF] = WebhookSink(handoff_url, secret, name="handoff-webhook", now=now)
    return sinks


class LogSink:
    """Review alerts as warning lines in the server's log (ids and times only)."""

    name = "log"

    def deliver(self, task: object, body: bytes) -> bool:
        logger.warning("review alert: %s", body.decode())
        return False


def _background(
    loops: list[tuple[Callable[[], None], float]],
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    async def loop(work: Callable[[], None], interval: float) -> None:
        while True:
            try:
                await asyncio.to_thread(work)
            except Exception:
                logger.exception("background work failed; retrying in %s s", interval)
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(loop(work, interval)) for work, interval in loops]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan
