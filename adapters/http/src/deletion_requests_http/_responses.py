"""JSON responses and the error envelope every failure uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from deletion_requests import DeletionRequestError

STATUS_OF: dict[str, int] = {
    "BAD_REQUEST": 400,
    "AUTHENTICATION_ERROR": 403,
    "UNAUTHORIZED_ACCOUNT": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "DEADLINE_EXCEEDED": 410,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class HttpError(Exception):
    """An error the adapter itself finds (transport-level: body, media type, size)."""

    def __init__(self, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    error: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    status = STATUS_OF[error]
    body = {"error": {"code": status, "error": error, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def domain_error_response(exc: DeletionRequestError) -> JSONResponse:
    return error_response(exc.error, exc.message)
