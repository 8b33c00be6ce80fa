"""The Starlette application: HTTP in, use cases called, HTTP out. No business rules here."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deletion_requests import (
    SIGNATURE_HEADER,
    AuthenticationFailed,
    Caller,
    DeletionRequestError,
    DeletionService,
    DeletionTask,
    NewTask,
    StoreError,
    new_hex_id,
    task_detail_to_api,
    task_to_api_json,
    tasks_to_api_json,
    verify,
)

from ._logs import AccessEntry, access_log, write_access
from ._openapi import openapi_document
from ._responses import HttpError, JSONResponse, domain_error_response, error_response
from ._tokens import TokenIssuer
from ._writer import WriterProcess, settle

MAX_BODY = 1024 * 1024
CREATE_FIELDS = frozenset({"accountId", "rawEmails", "sha256Emails"})
CREATE_HEADERS = frozenset(
    {b"authorization", b"content-length", b"content-type", b"idempotency-key"}
)
LIST_PARAMETERS = frozenset({"accountId", "status", "limit", "cursor"})
CLIENT_CLOSED_REQUEST = 499  # the access log's status for a request its client abandoned
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

error_log = logging.getLogger("deletion_requests.http.error")
T = TypeVar("T")


class RequestContext:
    """What the middleware learns about a request, for the access log."""

    __slots__ = ("app_id", "request_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.app_id: str | None = None


class Observability:
    """Outermost ASGI middleware: a request id on every response, one structured access-log
    line per request (method, path, status, duration, app; never bodies, queries or
    credentials), and a 500 envelope for anything unexpected."""

    def __init__(self, app: ASGIApp, access: Callable[[AccessEntry], None] = write_access) -> None:
        self.app = app
        self.access = access  # writes the line here, or hands it to the writer process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
                break
        if not request_id or not _REQUEST_ID.fullmatch(request_id):
            request_id = new_hex_id()
        context = RequestContext(request_id)
        scope.setdefault("state", {})["context"] = context
        started = time.perf_counter()
        status = 500
        response_started = False
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client went away before its request was read: nobody to answer, nothing
            # wrong here. Logged as nginx does, "client closed request".
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
        except Exception:  # noqa: BLE001 (the last line of defence: any error is a 500 envelope)
            error_log.exception("unexpected error (request id %s)", request_id)
            if not response_started:
                response = error_response(
                    "INTERNAL_SERVER_ERROR", f"internal server error (request id {request_id})"
                )
                await response(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                self.access(
                    (
                        time.time(),
                        request_id,
                        scope["method"],
                        scope["path"],
                        status,
                        round((time.perf_counter() - started) * 1000, 3),
                        context.app_id,
                    )
                )


class AsgiEndpoint:
    """Marks an ASGI callable as such for a `Route`, which takes a function or a method for
    `handler(request) -> response` and anything else for an ASGI app."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class DirectRoutes:
    """Serves the routes that carry the volume (creates) ahead of Starlette's exception
    middleware and router, which cost a create 8% of its instructions (docs/performance.md);
    their errors go to the same handlers. Every other request, and
    these paths with other methods, go on to Starlette."""

    def __init__(
        self,
        app: ASGIApp,
        routes: dict[tuple[str, str], ASGIApp],
        handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]],
    ) -> None:
        self.app = app
        self.routes = routes
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, root = scope["path"], scope.get("root_path", "")
            if root and path.startswith(root):  # mounted: routes are relative, as Starlette's
                path = path[len(root) :]
            endpoint = self.routes.get((scope["method"], path))
            if endpoint is not None:
                try:
                    await endpoint(scope, receive, send)
                except Exception as exc:
                    handler = next(
                        (self.handlers[k] for k in type(exc).__mro__ if k in self.handlers), None
                    )
                    if handler is None:
                        raise
                    response = await handler(Request(scope, receive), exc)
                    await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiApp(Starlette):
    """Starlette without its outermost layer, `ServerErrorMiddleware`, while `Observability` is
    the outermost middleware: that answers every unexpected error itself (the 500 envelope,
    logged with the request id), so the layer outside it only wrapped every request and every
    message sent (2% of a create's instructions in the server process). Middleware added
    outside `Observability` keeps Starlette's whole stack."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        outermost: object = self.user_middleware[0].cls if self.user_middleware else None
        if isinstance(stack, ServerErrorMiddleware) and outermost is Observability:
            return stack.app
        return stack


def _context(request: Request) -> RequestContext:
    context: RequestContext = request.scope["state"]["context"]
    return context


class Committer:
    """Stores prepared creates in batches, on one thread: while one batch commits, the next
    gathers on the event loop. One durable commit (and one pair of thread hand-offs) serves
    every create that arrived meanwhile, so throughput grows with concurrency instead of
    being one fsync per request.

    A batch starts the moment the thread is free, not on a later turn of the loop: the first
    create of a burst commits alone while the loop prepares the rest, and the next batch is
    handed over before the answers to the last one go out."""

    def __init__(self, service: DeletionService) -> None:
        self.service = service
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="committer")
        self.waiting: list[tuple[NewTask, asyncio.Future[DeletionTask]]] = []
        self.busy = False

    async def store(self, prepared: NewTask) -> DeletionTask:
        if prepared.replayed:
            return prepared.task
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DeletionTask] = loop.create_future()
        self.waiting.append((prepared, future))
        if not self.busy:
            self._submit(loop)
        return await future

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand everything waiting to the thread; its outcome comes back through `_settle`."""
        self.busy = True
        batch, self.waiting = self.waiting, []
        work = self.thread.submit(self.service.store_new, [item for item, _ in batch])
        work.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._settle, loop, batch, done)
        )

    def _settle(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[NewTask, asyncio.Future[DeletionTask]]],
        done: Future[list[DeletionTask | DeletionRequestError]],
    ) -> None:
        if self.waiting:
            self._submit(loop)
        else:
            self.busy = False
        outcomes: Sequence[DeletionTask | Exception]
        try:
            outcomes = done.result()
        except Exception as exc:  # noqa: BLE001 (each request reports it: 503)
            outcomes = [exc] * len(batch)
        settle(batch, outcomes)


class Api:
    """The endpoints, bound to one service and one token issuer."""

    def __init__(
        self,
        service: DeletionService,
        tokens: TokenIssuer,
        writers: int,
        completion_secret: bytes | None,
        writer_process: WriterProcess | None = None,
    ) -> None:
        self.service = service
        self.tokens = tokens
        self.completion_secret = completion_secret
        self.committer: Committer | WriterProcess = writer_process or Committer(service)
        # Use cases that write run on a few dedicated threads: enough for the store to commit
        # several at once (group commit), few enough that they do not fight the event loop for
        # the GIL. Reads are short and run on the event loop itself.
        self.writers = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="writer")
        # Stores that read over a network read on threads, so a slow query stalls one thread,
        # not the server.
        self.readers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reader")

    # -- helpers --------------------------------------------------------------------------

    async def _as_caller(
        self,
        request: Request,
        use_case: Callable[[Caller], T],
        writes: bool = False,
    ) -> T:
        """Authenticate *request*'s caller, then run *use_case*: on a writer thread when it
        writes."""
        return await self._run_as(
            request.headers.get("authorization"), _context(request), use_case, writes
        )

    async def _run_as(
        self,
        header: str | None,
        context: RequestContext,
        use_case: Callable[[Caller], T],
        writes: bool = False,
        confirmed: bool = True,
    ) -> T:
        """Authenticate the caller of Authorization *header*, then run *use_case*: on a writer
        thread when it writes. Unconfirmed, a caller seen before comes from the cache (see
        `DeletionService.prepare`)."""
        if self.service.store.local_reads:
            caller = self._caller(header, confirmed)
            context.app_id = caller.app_id
            if not writes:
                return use_case(caller)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.writers, use_case, caller)

        def work() -> T:
            caller = self._caller(header, confirmed)
            context.app_id = caller.app_id
            return use_case(caller)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.writers if writes else self.readers, work)

    def _caller(self, header: str | None, confirmed: bool = True) -> Caller:
        if not header:
            raise AuthenticationFailed(
                "missing Authorization header: send Bearer <token> or Basic AppId:AppSecret"
            )
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return self.service.caller_for(self.tokens.verify(credentials), confirmed)
        if scheme.lower() == "basic" and credentials:
            return self.service.authenticate(*_basic(credentials), confirmed=confirmed)
        raise AuthenticationFailed("the Authorization header must be Bearer or Basic")

    # -- endpoints --------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic" or not credentials.strip():
            raise AuthenticationFailed("send the AppId and AppSecret as Basic credentials")
        body = await _body(request)
        content_type = _media_type_of(request.headers.get("content-type", ""))
        if body and content_type != "application/x-www-form-urlencoded":
            raise HttpError(
                "UNSUPPORTED_MEDIA_TYPE", "send the form as application/x-www-form-urlencoded"
            )
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise HttpError("BAD_REQUEST", "the form body is not valid") from None
        if form.get("grant_type", []) != ["client_credentials"]:
            raise HttpError("BAD_REQUEST", "grant_type must be client_credentials")
        app_id = await self._as_caller(request, lambda caller: caller.app_id)
        token, lifetime = self.tokens.issue(app_id)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store"},
        )

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /data/deletion-requests/emails`, the one request the API serves at volume, as a
        plain ASGI endpoint: it reads the headers it needs in one pass and sends its answer
        itself, without Starlette's request and response objects (a tenth of a create's
        instructions: docs/performance.md). Its errors raise as every endpoint's do, into the
        same handlers."""
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in CREATE_HEADERS and name not in headers:  # the first, as Starlette's
                headers[name] = value.decode("latin-1")
        authorization = headers.get(b"authorization")
        key = headers.get(b"idempotency-key")
        media_type = _media_type_of(headers.get(b"content-type", ""))
        body = await _read_body(receive, headers.get(b"content-length", ""))

        def prepare(caller: Caller) -> NewTask:
            document = _create_document(media_type, body)
            return self.service.prepare(
                caller,
                document["accountId"],
                raw_emails=document.get("rawEmails") or (),
                sha256_emails=document.get("sha256Emails") or (),
                idempotency_key=key,
            )

        context: RequestContext = scope["state"]["context"]
        if self.service.store.local_reads:
            # Checks and hashing on the loop; the write joins the committer's next batch (on its
            # thread, or in the writer process), which confirms the caller's access (so the
            # loop need not read it for every create).
            task = await self.committer.store(
                await self._run_as(authorization, context, prepare, confirmed=False)
            )
        else:
            # A network store: each create whole on a writer thread, several at once. One
            # committer thread measured slower on PostgreSQL (566 against 635 creates/s): its
            # commits are cheap next to the round trips, which a single thread serialises.
            task = await self._run_as(
                authorization,
                context,
                lambda caller: self.service.create_prepared(prepare(caller)),
                writes=True,
            )
        content = task_to_api_json(task)
        answer_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(content)),
            (b"location", b"/data/deletion-requests/%s" % task.task_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 202, "headers": answer_headers})
        await send({"type": "http.response.body", "body": content})

    async def list(self, request: Request) -> Response:
        query = request.query_params
        unknown = sorted(set(query) - LIST_PARAMETERS)
        if unknown:
            raise HttpError(
                "BAD_REQUEST",
                f"unknown query parameter(s) {', '.join(unknown)}: expected accountId, status, "
                "limit, cursor",
            )
        for name in query:
            if len(query.getlist(name)) > 1:
                raise HttpError("BAD_REQUEST", f"query parameter {name} is given more than once")
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit():
            raise HttpError("BAD_REQUEST", "limit must be an integer between 1 and 1000")
        page = await self._as_caller(
            request,
            lambda caller: self.service.list(
                caller,
                account_id=query.get("accountId"),
                status=query.get("status"),
                limit=int(limit_text),
                cursor=query.get("cursor"),
            ),
        )
        headers = {}
        if page.next_cursor is not None:
            following = {k: v for k, v in query.items() if k != "cursor"}
            following["cursor"] = page.next_cursor
            headers["Link"] = f'<{request.url.path}?{urlencode(following)}>; rel="next"'
        return Response(
            tasks_to_api_json(page.tasks), headers=headers, media_type="application/json"
        )

    async def task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        if request.method == "DELETE":
            task = await self._as_caller(
                request, lambda caller: self.service.cancel(caller, task_id), writes=True
            )
            return JSONResponse(
                {"data": {"message": f"successful cancelled task with taskId: {task.task_id}"}}
            )
        task = await self._as_caller(request, lambda caller: self.service.get(caller, task_id))
        return JSONResponse(task_detail_to_api(task))

    async def completion(self, request: Request) -> Response:
        """The deleter reports a task done. Authenticated by the webhook secret (the deleter
        holds it; client apps do not), over a body that names the task, so a captured request
        cannot complete another task."""
        task_id = request.path_params["task_id"]
        body = await _body(request)
        if self.completion_secret is None:
            raise AuthenticationFailed(
                "completion over HTTP is not enabled: the server has no webhook secret"
            )
        verify(
            self.completion_secret,
            request.headers.get(SIGNATURE_HEADER),
            body,
            self.service.clock.now(),
        )
        if _media_type_of(request.headers.get("content-type", "")) != "application/json":
            raise HttpError("UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise HttpError("BAD_REQUEST", "the request body is not valid JSON") from None
        if not isinstance(document, dict) or set(document) != {"taskId"}:
            raise HttpError("BAD_REQUEST", 'the body must be {"taskId": "<the task id>"}')
        if not isinstance(document["taskId"], str) or document["taskId"].lower() != task_id.lower():
            raise HttpError("BAD_REQUEST", "taskId in the body must be the task id in the path")
        context = _context(request)
        context.app_id = "deleter"
        loop = asyncio.get_running_loop()
        task = await loop.run_in_executor(self.writers, self.service.complete, task_id, "deleter")
        return JSONResponse(task_detail_to_api(task))

    async def health(self, request: Request) -> Response:
        store = self.service.store
        if store.local_reads:
            store.get_account("healthz")
        else:
            await asyncio.get_running_loop().run_in_executor(
                self.readers, store.get_account, "healthz"
            )
        return JSONResponse({"status": "ok"})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def _media_type_of(content_type: str) -> str:
    """The media type of a Content-Type header's value, without its parameters."""
    return content_type.split(";")[0].strip().lower()


def _create_document(media_type: str, body: bytes) -> dict[str, Any]:
    """The create request's JSON object, checked for shape; the core checks the values."""
    if media_type != "application/json":
        raise HttpError("UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json")
    if not body:
        raise HttpError("BAD_REQUEST", "the request body is missing")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError("BAD_REQUEST", f"the request body is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise HttpError("BAD_REQUEST", "the request body must be a JSON object")
    unknown = sorted(set(document) - CREATE_FIELDS)
    if unknown:
        raise HttpError(
            "BAD_REQUEST",
            f"unknown field(s) {', '.join(unknown)}: expected accountId, rawEmails, sha256Emails",
        )
    if "accountId" not in document:
        raise HttpError("BAD_REQUEST", "accountId is required")
    for field in ("rawEmails", "sha256Emails"):
        if document.get(field) is not None and not isinstance(document[field], list):
            raise HttpError("BAD_REQUEST", f"{field} must be a list of strings")
    return document


def _basic(credentials: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("Basic credentials are not valid base64") from None
    app_id, colon, secret = decoded.partition(":")
    if not colon or not app_id or not secret:
        raise AuthenticationFailed("Basic credentials must be AppId:AppSecret")
    return app_id, secret


async def _body(request: Request) -> bytes:
    return await _read_body(request.receive, request.headers.get("content-length", ""))


async def _read_body(receive: Receive, declared: str) -> bytes:
    """The request body, refused with 413 past MAX_BODY: at once when the Content-Length
    (*declared*) says so, otherwise as soon as the chunks received pass it."""
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HttpError("PAYLOAD_TOO_LARGE", f"the request body is larger than {MAX_BODY} bytes")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(
                "PAYLOAD_TOO_LARGE", f"the request body is larger than {MAX_BODY} bytes"
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeletionRequestError)
    return domain_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(exc.error, exc.message, exc.headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    request_id = _context(request).request_id
    error_log.error("store error (request id %s): %s", request_id, exc)
    return error_response(
        "SERVICE_UNAVAILABLE", f"the store is unavailable; try again (request id {request_id})"
    )


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(
            "METHOD_NOT_ALLOWED",
            f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})",
            exc.headers,
        )
    if exc.status_code == 404:
        return error_response("NOT_FOUND", f"no route for {request.url.path}")
    return error_response("BAD_REQUEST", str(exc.detail))


def create_app(
    service: DeletionService,
    tokens: TokenIssuer,
    lifespan: Callable[[Starlette], Any] | None = None,
    writers: int = 4,
    completion_secret: bytes | None = None,
    writer_process: WriterProcess | None = None,
) -> Starlette:
    """The HTTP API over *service*; *tokens* signs and checks bearer tokens; *writers* threads
    run the use cases that write. With *completion_secret* (the webhook secret), the deleter
    can report completion at `POST /data/deletion-requests/{taskId}/completion`. With
    *writer_process* (over the service's own SQLite store), creates are committed in that
    process rather than on a thread; the app's lifespan starts and stops it."""
    api = Api(service, tokens, writers, completion_secret, writer_process)
    if writer_process is not None:
        lifespan = _with_writer(writer_process, lifespan)
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        DeletionRequestError: _domain_error,
        HttpError: _http_error,
        StoreError: _store_error,
        HTTPException: _starlette_error,
    }
    app = ApiApp(
        routes=[
            Route("/auth/oauth2/token", api.token, methods=["POST"]),
            Route(  # served by `DirectRoutes`; here for 405s and `url_path_for`
                "/data/deletion-requests/emails",
                AsgiEndpoint(api.create),
                methods=["POST"],
                name="create",  # as the method's name gave it before
            ),
            Route("/data/deletion-requests", api.list, methods=["GET"]),
            Route("/data/deletion-requests/{task_id}", api.task, methods=["GET", "DELETE"]),
            Route("/data/deletion-requests/{task_id}/completion", api.completion, methods=["POST"]),
            Route("/healthz", api.health, methods=["GET"]),
            Route("/openapi.json", api.openapi, methods=["GET"]),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.add_middleware(
        DirectRoutes,
        routes={("POST", "/data/deletion-requests/emails"): api.create},
        handlers=handlers,
    )
    # Outside DirectRoutes: every request is logged.
    app.add_middleware(
        Observability,
        access=writer_process.log_access
        if writer_process and writer_process.log_level
        else write_access,
    )
    return app


def _with_writer(
    writer_process: WriterProcess, lifespan: Callable[[Starlette], Any] | None
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """*lifespan*, with the writer process started first and stopped last."""

    @contextlib.asynccontextmanager
    async def with_writer(app: Starlette) -> AsyncIterator[None]:
        await writer_process.start()
        try:
            async with lifespan(app) if lifespan else contextlib.nullcontext():
                yield
        finally:
            await writer_process.stop()

    return with_writer
