"""The client use cases on the event loop, for a store whose reads cross a network but that
offers `LoopReads`: the core's pure steps, with the store's reads awaited between them.

Each answers what the `DeletionService` use case of the same name answers. The rare write
among them (an app's last use, at most once a `USE_PRECISION` an app) runs on the thread pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import attrs
from starlette.concurrency import run_in_threadpool

from deletion_requests import (
    AuthenticationFailed,
    Caller,
    DeletionService,
    DeletionTask,
    Page,
    TaskSummary,
)
from deletion_requests.stores import App, LoopReads
from deletion_requests.wire import PreparedCreate

from ._auth import bearer_refused, credentials, log_refused
from ._tokens import TokenIssuer

T = TypeVar("T")


async def ready(value: T) -> T:
    """*value*, awaitable: the answer of a use case that needs no read."""
    return value


@attrs.define
class OnLoop:
    """The use cases of one service over the store's *reads*, open on the running loop."""

    service: DeletionService
    tokens: TokenIssuer
    reads: LoopReads
    _secret_read: bool = attrs.field(default=False, init=False)

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(
        cls, service: DeletionService, tokens: TokenIssuer, offered: bool = True
    ) -> AsyncIterator[OnLoop | None]:
        """`OnLoop` over the service's store's `LoopReads`, open on the running loop while
        the context is; None when the store offers none, or not *offered*."""
        opened = service.store.loop_reads() if offered else None
        if opened is None:
            yield None
            return
        async with opened as reads:
            yield cls(service, tokens, reads)

    async def caller(self, header: str | None) -> Caller:
        """`_auth.caller`: the caller behind an `Authorization` header."""
        app_id, secret = credentials(self.tokens, header)
        if secret is None:
            try:
                who = self.service.authentication.still_active(await self._app(app_id))
            except AuthenticationFailed as exc:
                raise bearer_refused(exc) from None
            return await self._used(who)
        return await self.authenticate(app_id, secret)

    async def authenticate(self, app_id: str, secret: str) -> Caller:
        """`DeletionService.authenticate`, failures logged as `_auth.authenticate` logs them."""
        try:
            who = self.service.authentication.verified(secret, await self._app(app_id))
        except AuthenticationFailed as exc:
            log_refused(app_id, exc)
            raise
        return await self._used(who)

    async def get(self, who: Caller, task_id: str) -> DeletionTask:
        """`DeletionService.get`."""
        getting = self.service.requests.getting(who, task_id)
        return getting.answer(await self.reads.get(getting.read_id))

    async def detail(
        self, who: Caller, task_id: str, render: Callable[[DeletionTask], dict[str, Any]]
    ) -> dict[str, Any]:
        """*render* of `get`'s task; a completed task's (whose outcome reads its jobs) on the
        thread pool."""
        task = await self.get(who, task_id)
        if task.completed_time is None:
            return render(task)
        return await run_in_threadpool(render, task)

    async def list_summaries(
        self,
        who: Caller,
        account_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[TaskSummary]:
        """`DeletionService.list_summaries`."""
        listing = self.service.requests.listing(who, account_id, status, limit, cursor)
        reads = self.reads
        return listing.summary_page(
            [await reads.list_summaries(query) for query in listing.queries]
        )

    async def prepare_create(
        self,
        who: Caller,
        account_id: str,
        raw_emails: object,
        sha256_emails: object,
        idempotency_key: str | None,
    ) -> PreparedCreate:
        """`DeletionService.prepare_create`. Its first keyed create prepares on the thread
        pool, where the store's idempotency secret is read (the core keeps it after)."""
        requests = self.service.requests
        args = (who, account_id, raw_emails, sha256_emails, idempotency_key)
        if idempotency_key is None:
            return requests.prepare_new(*args)
        if self._secret_read:
            prepared = requests.prepare_new(*args)
        else:
            prepared = await run_in_threadpool(requests.prepare_new, *args)
            self._secret_read = True
        assert prepared.key is not None
        return requests.replayed(prepared, await self.reads.find_by_idempotency_key(*prepared.key))

    async def _app(self, app_id: str) -> tuple[App | None, Caller | None]:
        """`Context.app`: from the access cache, or read on the loop."""
        context = self.service.context
        version = context.store.access_version()
        cached = context.cached_app(app_id, version)
        if cached is not None:
            return cached
        return context.remember_app(app_id, version, await self.reads.app_access(app_id))

    async def _used(self, who: Caller) -> Caller:
        authentication = self.service.authentication
        moment = authentication.use_due(who)
        if moment is not None:
            await run_in_threadpool(authentication.record_use, who, moment)
        return who
