"""The error envelope, and the exception handlers that turn every failure into it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from deletion_requests import DeletionRequestError, StoreError

STATUS_OF: dict[str, int] = {
    "BAD_REQUEST": 400,
    "AUTHENTICATION_ERROR": 403,
    "UNAUTHORIZED_ACCOUNT": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "REQUEST_TIMEOUT": 408,
    "CONFLICT": 409,
    "DEADLINE_EXCEEDED": 410,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "TOO_MANY_REQUESTS": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}

error_log = logging.getLogger("deletion_requests.http.error")

STORE_RETRY_AFTER = 5
"""Seconds a client is asked to wait (`Retry-After`) after a 503 for a store that failed."""


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class HttpError(Exception):
    """An error the adapter itself finds (transport-level: body, media type, size, query)."""

    def __init__(self, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    error: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """`{"error": {"code", "error", "message"}}` with the status *error* stands for."""
    status = STATUS_OF[error]
    body = {"error": {"code": status, "error": error, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeletionRequestError)
    return error_response(exc.error, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(exc.error, exc.message, exc.headers)


async def store_error(request: Request, exc: Exception) -> Response:
    request_id = _request_id(request)
    error_log.error("store error (request id %s): %s", request_id, exc)
    return error_response(
        "SERVICE_UNAVAILABLE",
        f"the store is unavailable; try again (request id {request_id})",
        {"Retry-After": str(STORE_RETRY_AFTER)},
    )


_RAISED_BY_STATUS = {408: "REQUEST_TIMEOUT", 503: "SERVICE_UNAVAILABLE"}
"""The errors that middleware (`BodyBounds`) raises as `HTTPException`s, by status."""


async def starlette_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, and the 408 and 503 of `BodyBounds`, in the envelope.
    The path is not echoed: it is the client's text, and may hold anything."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(
            "METHOD_NOT_ALLOWED",
            f"{request.method} is not allowed on this route (allowed: {allowed})",
            exc.headers,
        )
    if exc.status_code == 404:
        return error_response("NOT_FOUND", "no such route: see /openapi.json for the API")
    if exc.status_code in _RAISED_BY_STATUS:
        return error_response(_RAISED_BY_STATUS[exc.status_code], str(exc.detail), exc.headers)
    return error_response("BAD_REQUEST", str(exc.detail))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """The last resort, which Starlette's `ServerErrorMiddleware` calls: the error is logged
    with the request id, and the client gets a 500 envelope that names only the request id."""
    request_id = _request_id(request)
    error_log.error("unexpected error (request id %s)", request_id, exc_info=exc)
    return error_response(
        "INTERNAL_SERVER_ERROR",
        f"internal server error (request id {request_id})",
        {"X-Request-Id": request_id},
    )


EXCEPTION_HANDLERS = {
    DeletionRequestError: domain_error,
    HttpError: http_error,
    StoreError: store_error,
    HTTPException: starlette_error,
    Exception: unexpected_error,
}
