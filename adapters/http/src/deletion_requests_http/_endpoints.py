"""The endpoints: parse the request, call a use case of `DeletionService`, render the answer.

Reads and authentication run on the event loop when the rate limits count in memory and the
store reads locally (SQLite, memory), or offers `LoopReads` (PostgreSQL), which the app's
lifespan holds open and the loop awaits (`_on_loop`): a local read costs less than a hop to a
thread, and an awaited one holds no thread. Writes (cancels, completions, the health check's
write lock) and every use case of any other store run on Starlette's thread pool. Domain
errors raise out of the handlers into the exception handlers of `_errors`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

import orjson
from limits.storage import MemoryStorage
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from deletion_requests import AuthenticationFailed, Caller, DeletionService, DeletionTask
from deletion_requests.wire import (
    summaries_to_api_json,
    task_detail_to_api,
    task_to_api_json,
)

from ._auth import authenticate, caller, client_credentials
from ._documents import (
    cancellations_document,
    create_document,
    media_type,
    read_body,
)
from ._errors import HttpError, JSONResponse
from ._limits import RateLimits
from ._metrics import metrics
from ._on_loop import OnLoop, ready
from ._openapi import openapi_document
from ._signing import verify_signed
from ._tokens import TokenIssuer
from ._writer import TaskWriter

LIST_PARAMETERS = frozenset({"accountId", "status", "limit", "cursor"})
_LIMIT = re.compile(r"[0-9]{1,7}")
T = TypeVar("T")
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[Any]]


class Endpoints:
    """The handlers, bound to one service, one token issuer and the completion secret."""

    def __init__(
        self,
        service: DeletionService,
        tokens: TokenIssuer,
        completion_secret: str | None,
        limits: RateLimits | None = None,
    ) -> None:
        self.service = service
        self.tokens = tokens
        self.completion_secret = completion_secret
        self.limits = limits
        self.writer = TaskWriter(service.store)
        local_limits = limits is None or isinstance(limits.storage, MemoryStorage)
        self.inline = service.store.local_reads and local_limits
        """Whether reads, authentication and rate limits run on the event loop: they wait
        on nothing but this machine's memory and files."""
        self.on_loop: OnLoop | None = None
        """The use cases over the store's `LoopReads`, while `lifespan` holds them open on
        the serving loop (with rate limits counted in memory)."""
        self._offers_loop_reads = not self.inline and local_limits

    def lifespan(self, inner: Lifespan | None) -> Lifespan:
        """*inner* (the app's own lifespan, if any), with `on_loop` open around it on the
        serving loop when the store offers `LoopReads`."""

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[Any]:
            offered = self._offers_loop_reads
            async with OnLoop.opened(self.service, self.tokens, offered) as self.on_loop:
                try:
                    async with (inner or _no_lifespan)(app) as state:
                        yield state
                finally:
                    self.on_loop = None

        return lifespan

    def _authorised(
        self,
        request: Request,
        use_case: Callable[[Caller], T],
        token: tuple[str, str] | None = None,
    ) -> T:
        """Authenticate the request's caller and run *use_case* for it, under the rate limits:
        for the token endpoint, its client credentials *token* (AppId, AppSecret), counted
        for the AppId before they are checked; else the `Authorization` header, counted for
        the authenticated app."""
        self._limit_token(request, token)
        if token is not None:
            try:
                who = authenticate(self.service, *token)
            except AuthenticationFailed:
                metrics().token_failures.inc()
                raise
        else:
            who = caller(self.service, self.tokens, request.headers.get("authorization"))
        return use_case(self._limit_data(request, who, token))

    async def _authorised_on_loop(
        self, on_loop: OnLoop, request: Request, token: tuple[str, str] | None
    ) -> Caller:
        """`_authorised`'s caller, with the store's reads awaited on the loop."""
        self._limit_token(request, token)
        if token is not None:
            try:
                who = await on_loop.authenticate(*token)
            except AuthenticationFailed:
                metrics().token_failures.inc()
                raise
        else:
            who = await on_loop.caller(request.headers.get("authorization"))
        return self._limit_data(request, who, token)

    def _limit_token(self, request: Request, token: tuple[str, str] | None) -> None:
        if token is not None and self.limits is not None:
            address = request.client.host if request.client else "-"
            request.state.response_headers = self.limits.check_token(token[0], address)

    def _limit_data(self, request: Request, who: Caller, token: tuple[str, str] | None) -> Caller:
        request.state.app_id = who.app_id
        if self.limits is not None and token is None:
            request.state.response_headers = self.limits.check_data(who.app_id)
        return who

    async def _as_caller(
        self,
        request: Request,
        use_case: Callable[[Caller], T],
        token: tuple[str, str] | None = None,
        writes: bool = False,
        awaited: Callable[[OnLoop, Caller], Awaitable[T]] | None = None,
    ) -> T:
        """`_authorised`, on the event loop when the store's reads and the rate limits'
        counts are local (`inline`) and *use_case* only reads; with the store's reads
        awaited on the loop (`on_loop`), *awaited* in place of *use_case*; else on the
        thread pool."""
        if self.inline and not writes:
            return self._authorised(request, use_case, token)
        on_loop = self.on_loop
        if on_loop is not None and awaited is not None:
            return await awaited(on_loop, await self._authorised_on_loop(on_loop, request, token))
        return await run_in_threadpool(self._authorised, request, use_case, token)

    async def _read(self, read: Callable[..., T], *args: Any) -> T:
        """*read*(*args*), on the event loop when `inline`, else on the thread pool."""
        if self.inline:
            return read(*args)
        return await run_in_threadpool(read, *args)

    async def token(self, request: Request) -> Response:
        """OAuth2 client credentials: the AppId and AppSecret as Basic credentials or in the
        form body, never in the query string."""
        if {"client_id", "client_secret"} & set(request.query_params):
            raise HttpError(
                "BAD_REQUEST",
                "invalid_request: client credentials are never accepted in the query string; "
                "send them as Basic credentials or in the form body",
            )
        body = await read_body(request)
        if body and media_type(request) != "application/x-www-form-urlencoded":
            raise HttpError(
                "UNSUPPORTED_MEDIA_TYPE", "send the form as application/x-www-form-urlencoded"
            )
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise HttpError("BAD_REQUEST", "the form body is not valid") from None
        credentials = client_credentials(request.headers.get("authorization"), form)
        if form.get("grant_type", []) != ["client_credentials"]:
            raise HttpError("BAD_REQUEST", "grant_type must be client_credentials")
        app_id = await self._as_caller(
            request, _app_id, token=credentials, awaited=lambda _, who: ready(who.app_id)
        )
        token, lifetime = self.tokens.issue(app_id)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store"},
        )

    async def create(self, request: Request) -> Response:
        """The caller is authenticated before the body is read; the task is prepared on the
        loop (where reads run, when an Idempotency-Key must be looked up), stored by the
        writer, and answered once the commit that holds it is done."""
        who = await self._as_caller(request, _itself, awaited=lambda _, who: ready(who))
        body = await read_body(request)
        key = request.headers.get("idempotency-key")
        document = create_document(media_type(request), body)
        args = (
            who,
            document["accountId"],
            document.get("rawEmails") or (),
            document.get("sha256Emails") or (),
            key,
        )
        on_loop = self.on_loop
        # Without an Idempotency-Key, preparing reads nothing from the store.
        if key is None:
            prepared = self.service.prepare_create(*args)
        elif on_loop is not None:
            prepared = await on_loop.prepare_create(*args)
        else:
            prepared = await self._read(self.service.prepare_create, *args)
        task = prepared.done
        if task is None:
            refused = await self.writer.add(prepared.task, prepared.key)
            task = prepared.task
            if refused is not None:
                task = await self._read(self.service.finish_create, prepared, refused)
        return Response(
            task_to_api_json(task),
            status_code=202,
            media_type="application/json",
            headers={"Location": f"/data/deletion-requests/{task.task_id}"},
        )

    async def list(self, request: Request) -> Response:
        query = request.query_params
        unknown = sorted(set(query) - LIST_PARAMETERS)
        if unknown:
            raise HttpError(
                "BAD_REQUEST",
                f"unknown query parameter(s) {', '.join(unknown)[:200]}: expected accountId, "
                "status, limit, cursor",
            )
        for name in query:
            if len(query.getlist(name)) > 1:
                raise HttpError("BAD_REQUEST", f"query parameter {name} is given more than once")
        limit = query.get("limit", "100")
        if not _LIMIT.fullmatch(limit):
            raise HttpError("BAD_REQUEST", "limit must be an integer between 1 and 1000")
        asked = (query.get("accountId"), query.get("status"), int(limit), query.get("cursor"))
        page = await self._as_caller(
            request,
            lambda who: self.service.list_summaries(who, *asked),
            awaited=lambda on_loop, who: on_loop.list_summaries(who, *asked),
        )
        headers = {}
        if page.next_cursor is not None:
            following = {k: v for k, v in query.items() if k != "cursor"}
            following["cursor"] = page.next_cursor
            headers["Link"] = f'<{request.url.path}?{urlencode(following)}>; rel="next"'
        return Response(
            summaries_to_api_json(page.tasks), headers=headers, media_type="application/json"
        )

    async def task(self, request: Request) -> Response:
        """GET shows the task, DELETE cancels it."""
        return await (self.cancel if request.method == "DELETE" else self.show)(request)

    async def cancellations(self, request: Request) -> Response:
        """Cancel many tasks at once: one result per id, in order. The caller is
        authenticated before the body is read."""
        who = await self._as_caller(request, _itself, awaited=lambda _, who: ready(who))
        body = await read_body(request)
        task_ids = cancellations_document(media_type(request), body)
        results = await run_in_threadpool(self.service.cancel_many, who, task_ids)
        return JSONResponse(
            {"results": [{"taskId": r.task_id, "status": r.status} for r in results]}
        )

    async def show(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        detail = await self._as_caller(
            request,
            lambda who: self._detail(self.service.get(who, task_id)),
            awaited=lambda on_loop, who: on_loop.detail(who, task_id, self._detail),
        )
        return JSONResponse(detail)

    def _detail(self, task: DeletionTask) -> dict[str, Any]:
        """One task's object with its history and its one-word `outcome` (null until it is
        completed)."""
        detail = task_detail_to_api(task)
        detail["outcome"] = self.service.outcome(task)
        return detail

    async def cancel(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        task = await self._as_caller(
            request, lambda who: self.service.cancel(who, task_id), writes=True
        )
        return JSONResponse(
            {"data": {"message": f"successful cancelled task with taskId: {task.task_id}"}}
        )

    async def completion(self, request: Request) -> Response:
        """The deleter reports a task done. Authenticated by the webhook secret (the deleter
        holds it; client apps do not), over a body that names the task, so a captured request
        cannot complete another task."""
        task_id = request.path_params["task_id"]
        if self.completion_secret is None:
            raise AuthenticationFailed(
                "completion over HTTP is not enabled: the server has no webhook secret"
            )
        body = await read_body(request)
        verify_signed(self.completion_secret, request.headers, body)
        if media_type(request) != "application/json":
            raise HttpError("UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise HttpError("BAD_REQUEST", "the request body is not valid JSON") from None
        if not isinstance(document, dict) or set(document) != {"taskId"}:
            raise HttpError("BAD_REQUEST", 'the body must be {"taskId": "<the task id>"}')
        if not isinstance(document["taskId"], str) or document["taskId"].lower() != task_id.lower():
            raise HttpError("BAD_REQUEST", "taskId in the body must be the task id in the path")
        request.state.app_id = "deleter"
        detail = await run_in_threadpool(
            lambda: self._detail(self.service.complete(task_id, "deleter"))
        )
        return JSONResponse(detail)

    async def health(self, request: Request) -> Response:
        """200 while the store can take a write; 503 (the store error's envelope) otherwise."""
        await run_in_threadpool(self.service.store.check)
        return JSONResponse({"status": "ok"})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def _itself(who: Caller) -> Caller:
    return who


def _app_id(who: Caller) -> str:
    return who.app_id


@contextlib.asynccontextmanager
async def _no_lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
