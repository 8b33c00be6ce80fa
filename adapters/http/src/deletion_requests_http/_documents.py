"""The request documents: the body (bounded), its media type, and the JSON of a create and
of a bulk cancel, checked for shape (the core checks the values)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from ._errors import HttpError

MAX_BODY = 1024 * 1024
CREATE_FIELDS = frozenset({"accountId", "rawEmails", "sha256Emails"})
_LENGTH = re.compile(r"[0-9]{1,7}")


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
    if (_LENGTH.fullmatch(declared) and int(declared) > MAX_BODY) or len(declared) > 7:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
