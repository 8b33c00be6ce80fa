"""A Python client for the deletion-requests HTTP API, sync (`Client`) and asyncio
(`AsyncClient`), on httpx: a cached, refreshed bearer token; creates with an automatic
`Idempotency-Key`, retried with bounded, jittered backoff; paging with `iter_tasks`; cancel and
bulk cancel; errors as exceptions named for the envelope's code; and `verify_callback` for the
server's signed status callbacks."""

from ._async import AsyncClient
from ._callbacks import verify_callback
from ._errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    CallbackVerificationError,
    Conflict,
    DeadlineExceeded,
    DeletionRequestsError,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    UnauthorizedAccount,
    UnsupportedMediaType,
)
from ._models import CallbackEvent, CancelResult, HistoryEntry, Outcome, Task
from ._protocol import BULK_CANCEL_LIMIT, Retry
from ._sync import Client

__all__ = [
    "BULK_CANCEL_LIMIT",
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "CallbackEvent",
    "CallbackVerificationError",
    "CancelResult",
    "Client",
    "Conflict",
    "DeadlineExceeded",
    "DeletionRequestsError",
    "HistoryEntry",
    "InternalServerError",
    "MethodNotAllowed",
    "NotFound",
    "Outcome",
    "PayloadTooLarge",
    "Retry",
    "ServiceUnavailable",
    "Task",
    "TooManyRequests",
    "TransportError",
    "UnauthorizedAccount",
    "UnsupportedMediaType",
    "verify_callback",
]
