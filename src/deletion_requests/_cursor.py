"""Opaque page cursors: the keyset position of the last task of a page."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid

import orjson

from ._clock import as_utc
from ._errors import InvalidRequest
from ._ports import Cursor


def encode_cursor(position: Cursor) -> str:
    created, task_id = position
    raw = orjson.dumps([created.isoformat(), task_id])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The position *text* encodes; `InvalidRequest` for anything `encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        created, task_id = orjson.loads(raw)
        position = (as_utc(dt.datetime.fromisoformat(created)), str(uuid.UUID(task_id)))
    except (binascii.Error, ValueError, TypeError, OverflowError, orjson.JSONDecodeError) as exc:
        raise InvalidRequest(
            "cursor is not valid: pass the cursor from a previous page's Link header unchanged"
        ) from exc
    return position
