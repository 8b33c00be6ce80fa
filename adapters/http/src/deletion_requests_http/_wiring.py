"""The one place that picks concrete parts: a store from a URL, the clock, the token key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import attrs
from starlette.applications import Starlette

from deletion_requests import (
    AccessAdmin,
    Clock,
    DeletionService,
    Policy,
    Store,
    SystemClock,
    open_store,
)

from ._app import create_app
from ._tokens import TokenIssuer, stored_signing_key

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
    ) -> Server:
        store = open_store(url)
        clock = clock or SystemClock()
        service = DeletionService(store, clock, policy or Policy())
        tokens = TokenIssuer(signing_key or stored_signing_key(store), clock)
        return cls(store, service, AccessAdmin(store, clock), tokens)

    def app(self, advance_interval: float | None = None) -> Starlette:
        """The HTTP app; with *advance_interval* seconds, a background `advance_due` loop."""
        lifespan = None
        if advance_interval is not None:
            lifespan = _advancing(self.service.advance_due, advance_interval)
        return create_app(self.service, self.tokens, lifespan=lifespan)

    def close(self) -> None:
        self.store.close()


def _advancing(
    advance: Callable[[], int], interval: float
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    async def loop() -> None:
        while True:
            try:
                moved = await asyncio.to_thread(advance)
                if moved:
                    logger.info("advance_due moved %d task(s)", moved)
            except Exception:
                logger.exception("advance_due failed; retrying in %s s", interval)
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
