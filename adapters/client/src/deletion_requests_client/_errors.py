"""What the client raises: one base class, the server's error codes as subclasses of `ApiError`,
and the failures that never reached an answer."""

from __future__ import annotations

import http
from typing import Any, ClassVar


class DeletionRequestsError(Exception):
    """Everything the client raises derives from this."""


class ApiError(DeletionRequestsError):
    """The server answered with an error. `code` is the envelope's `error` (`NOT_FOUND`, ...),
    `status` the HTTP status, `message` the envelope's message, `request_id` the answer's
    `X-Request-Id` (quote it to the server's operators). An answer without the envelope (a
    proxy's page, say) gets the status's standard name as its code."""

    code_family: ClassVar[str | None] = None

    def __init__(self, code: str, status: int, message: str, request_id: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.request_id = request_id


class BadRequest(ApiError):
    """400 `BAD_REQUEST`: the request was malformed; its message names what was wrong."""

    code_family = "BAD_REQUEST"


class AuthenticationError(ApiError):
    """403 `AUTHENTICATION_ERROR`: the AppId or AppSecret is wrong, or the app was revoked."""

    code_family = "AUTHENTICATION_ERROR"


class UnauthorizedAccount(ApiError):
    """403 `UNAUTHORIZED_ACCOUNT`: the account is not allow-listed or not granted to the app."""

    code_family = "UNAUTHORIZED_ACCOUNT"


class NotFound(ApiError):
    """404 `NOT_FOUND`: no such task for this app (or no such route)."""

    code_family = "NOT_FOUND"


class MethodNotAllowed(ApiError):
    """405 `METHOD_NOT_ALLOWED`."""

    code_family = "METHOD_NOT_ALLOWED"


class Conflict(ApiError):
    """409 `CONFLICT`."""

    code_family = "CONFLICT"


class DeadlineExceeded(ApiError):
    """410 `DEADLINE_EXCEEDED`: the task is past `ready` and can no longer be cancelled."""

    code_family = "DEADLINE_EXCEEDED"


class PayloadTooLarge(ApiError):
    """413 `PAYLOAD_TOO_LARGE`: the body is over 1 MiB."""

    code_family = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    """415 `UNSUPPORTED_MEDIA_TYPE`."""

    code_family = "UNSUPPORTED_MEDIA_TYPE"


class TooManyRequests(ApiError):
    """429 `TOO_MANY_REQUESTS`, still refused after the retries; `retry_after` is the seconds
    the server asked to wait (None when it did not say)."""

    code_family = "TOO_MANY_REQUESTS"
    retry_after: float | None = None


class InternalServerError(ApiError):
    """500 `INTERNAL_SERVER_ERROR`, still after the retries: a bug on the server; the message
    carries the request id its error log has."""

    code_family = "INTERNAL_SERVER_ERROR"


class ServiceUnavailable(ApiError):
    """503 `SERVICE_UNAVAILABLE` (or another 5xx without the envelope), still after the
    retries: the server's store failed."""

    code_family = "SERVICE_UNAVAILABLE"


class TransportError(DeletionRequestsError):
    """No answer: the connection failed or timed out on every attempt. The cause is the last
    `httpx` error."""


class CallbackVerificationError(DeletionRequestsError):
    """A status callback that is not from the server, was altered, or is too old or too new."""


ERRORS: dict[str, type[ApiError]] = {
    cls.code_family: cls
    for cls in (
        BadRequest,
        AuthenticationError,
        UnauthorizedAccount,
        NotFound,
        MethodNotAllowed,
        Conflict,
        DeadlineExceeded,
        PayloadTooLarge,
        UnsupportedMediaType,
        TooManyRequests,
        InternalServerError,
        ServiceUnavailable,
    )
    if cls.code_family is not None
}


def error_from(
    status: int, document: Any, request_id: str | None, retry_after: float | None
) -> ApiError:
    """The exception for an error answer: by the envelope's code when the body is the
    envelope, else by the status (`ApiError` itself for a status with no class of its own)."""
    envelope = document.get("error") if isinstance(document, dict) else None
    if (
        isinstance(envelope, dict)
        and isinstance(envelope.get("error"), str)
        and isinstance(envelope.get("message"), str)
    ):
        code, message = envelope["error"], envelope["message"]
    else:
        code = _status_name(status)
        message = f"the server answered {status} without the error envelope"
    cls = ERRORS.get(code) or _by_status(status)
    error = cls(code, status, message, request_id)
    if isinstance(error, TooManyRequests):
        error.retry_after = retry_after
    return error


def _status_name(status: int) -> str:
    try:
        return http.HTTPStatus(status).name
    except ValueError:
        return f"HTTP_{status}"


def _by_status(status: int) -> type[ApiError]:
    if status == 429:
        return TooManyRequests
    if status >= 500:
        return InternalServerError if status == 500 else ServiceUnavailable
    return ApiError
