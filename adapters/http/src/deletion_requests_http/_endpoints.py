"""The endpoints: parse the request, call a use case of `DeletionService`, render the answer.

Reads and authentication run on the event loop when the store reads locally (SQLite, memory)
and the rate limits count in memory: a local read costs less than a hop to a thread. Writes
(cancels, completions, the health check's write lock) and every use case of a store over a
network run on Starlette's thread pool. Domain errors raise out of the handlers into the
exception handlers of `_errors`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

import orjson
from limits.storage import MemoryStorage
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from deletion_requests import AuthenticationFailed, Caller, DeletionService, DeletionTask
from deletion_requests.wire import (
    PreparedCreate,
    task_detail_to_api,
    task_to_api_json,
    tasks_to_api_json,
)

from ._auth import authenticate, caller, client_credentials
from ._errors import HttpError, JSONResponse
from ._limits import RateLimits
from ._metrics import metrics
from ._openapi import openapi_document
from ._signing import verify_signed
from ._tokens import TokenIssuer
from ._writer import TaskWriter

MAX_BODY = 1024 * 1024
CREATE_FIELDS = frozenset({"accountId", "rawEmails", "sha256Emails"})
LIST_PARAMETERS = frozenset({"accountId", "status", "limit", "cursor"})
_LIMIT = re.compile(r"[0-9]{1,7}")
T = TypeVar("T")


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
        self.inline = service.store.local_reads and (
            limits is None or isinstance(limits.storage, MemoryStorage)
        )
        """Whether reads, authentication and rate limits run on the event loop: they wait
        on nothing but this machine's memory and files."""

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
        limits = self.limits
        if token is not None:
            if limits is not None:
                address = request.client.host if request.client else "-"
                request.state.response_headers = limits.check_token(token[0], address)
            try:
                who = authenticate(self.service, *token)
            except AuthenticationFailed:
                metrics().token_failures.inc()
                raise
        else:
            who = caller(self.service, self.tokens, request.headers.get("authorization"))
        request.state.app_id = who.app_id
        if limits is not None and token is None:
            request.state.response_headers = limits.check_data(who.app_id)
        return use_case(who)

    async def _as_caller(
        self,
        request: Request,
        use_case: Callable[[Caller], T],
        token: tuple[str, str] | None = None,
        writes: bool = False,
    ) -> T:
        """`_authorised`, on the event loop when the store's reads and the rate limits'
        counts are local (`inline`) and *use_case* only reads, else on the thread pool."""
        if self.inline and not writes:
            return self._authorised(request, use_case, token)
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
        app_id = await self._as_caller(request, lambda who: who.app_id, token=credentials)
        token, lifetime = self.tokens.issue(app_id)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store"},
        )

    async def create(self, request: Request) -> Response:
        """The caller is authenticated before the body is read; the task is prepared on the
        loop (where reads run, when an Idempotency-Key must be looked up), stored by the
        writer, and answered once the commit that holds it is done."""
        who = await self._as_caller(request, _itself)
        body = await read_body(request)
        key = request.headers.get("idempotency-key")

        def prepare() -> PreparedCreate:
            document = create_document(media_type(request), body)
            return self.service.prepare_create(
                who,
                document["accountId"],
                raw_emails=document.get("rawEmails") or (),
                sha256_emails=document.get("sha256Emails") or (),
                idempotency_key=key,
            )

        # Without an Idempotency-Key, preparing reads nothing from the store.
        prepared = prepare() if key is None else await self._read(prepare)
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
        page = await self._as_caller(
            request,
            lambda who: self.service.list(
                who,
                account_id=query.get("accountId"),
                status=query.get("status"),
                limit=int(limit),
                cursor=query.get("cursor"),
                summaries=True,
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
        """GET shows the task, DELETE cancels it."""
        return await (self.cancel if request.method == "DELETE" else self.show)(request)

    async def cancellations(self, request: Request) -> Response:
        """Cancel many tasks at once: one result per id, in order. The caller is
        authenticated before the body is read."""
        who = await self._as_caller(request, _itself)
        body = await read_body(request)
        task_ids = cancellations_document(media_type(request), body)
        results = await run_in_threadpool(self.service.cancel_many, who, task_ids)
        return JSONResponse(
            {"results": [{"taskId": r.task_id, "status": r.status} for r in results]}
        )

    async def show(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        detail = await self._as_caller(
            request, lambda who: self._detail(self.service.get(who, task_id))
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


def media_type(request: Request) -> str:
    """The request's media type, without parameters, in lower case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def json_body(media: str, body: bytes) -> Any:
    """The request body parsed as JSON; 415 unless it is sent as JSON, 400 when it is missing
    or is not JSON."""
    if media != "application/json":
        raise HttpError("UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json")
    if not body:
        raise HttpError("BAD_REQUEST", "the request body is missing")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError("BAD_REQUEST", f"the request body is not valid JSON ({exc})") from None


def create_document(media: str, body: bytes) -> dict[str, Any]:
    """The create request's JSON object, checked for shape; the core checks the values."""
    document = json_body(media, body)
    if not isinstance(document, dict):
        raise HttpError("BAD_REQUEST", "the request body must be a JSON object")
    unknown = sorted(set(document) - CREATE_FIELDS)
    if unknown:
        raise HttpError(
            "BAD_REQUEST",
            f"unknown field(s) {', '.join(unknown)[:200]}: expected accountId, rawEmails, "
            "sha256Emails",
        )
    if "accountId" not in document:
        raise HttpError("BAD_REQUEST", "accountId is required")
    for field in ("rawEmails", "sha256Emails"):
        if document.get(field) is not None and not isinstance(document[field], list):
            raise HttpError("BAD_REQUEST", f"{field} must be a list of strings")
    return document


def cancellations_document(media: str, body: bytes) -> list[str]:
    """The task ids of a bulk cancel, `{"taskIds": [...]}`, checked for shape (the core checks
    that each is a task id, and how many there are)."""
    document = json_body(media, body)
    if not isinstance(document, dict) or set(document) != {"taskIds"}:
        raise HttpError("BAD_REQUEST", 'the body must be {"taskIds": ["<task id>", ...]}')
    task_ids = document["taskIds"]
    if not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids):
        raise HttpError("BAD_REQUEST", "taskIds must be a list of task ids")
    return task_ids


async def read_body(request: Request) -> bytes:
    """The request body; 413 once it passes MAX_BODY, at once when Content-Length says so."""
    declared = request.headers.get("content-length", "")
    too_large = HttpError("PAYLOAD_TOO_LARGE", f"the request body is larger than {MAX_BODY} bytes")
    if (_LIMIT.fullmatch(declared) and int(declared) > MAX_BODY) or len(declared) > 7:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
