"""Nothing a client can send is answered with a 5xx: generated methods, paths, headers, query
strings and bodies all get an answer below 500, every error in the envelope."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import urlencode

import orjson
from deletion_requests_http.testing import http_scope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import EMAILS, TASKS, World, encode_cursor_text

# -- nothing a client sends is a 500 -----------------------------------------------------------

FUZZ_WORLD = World()
KNOWN_TASK = FUZZ_WORLD.create(FUZZ_WORLD.a)["taskId"]
header_values = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [
            FUZZ_WORLD.a["Authorization"].encode(),
            b"Basic " + base64.b64encode(b"\xff\xfe:\x00"),
            b"Bearer " + b"e" * 300,
            b"application/json",
            b"application/x-www-form-urlencoded",
            b"t=\xc2\xb2,v1=00",
            b"\xc2\xb2",
        ]
    ),
)
query_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\u00b2", "9" * 5000, encode_cursor_text("9999-12-31T23:59:59-23:59")]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),  # big integers and NaN included
    st.fixed_dictionaries(
        {"accountId": json_values, "rawEmails": json_values, "sha256Emails": json_values},
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "HEAD"]),
    path=st.sampled_from(
        [
            "/auth/oauth2/token",
            EMAILS,
            TASKS,
            f"{TASKS}/{KNOWN_TASK}",
            f"{TASKS}/{KNOWN_TASK}/completion",
            f"{TASKS}/not-a-uuid",
            "/healthz",
            "/nope/",
        ]
    ),
    headers=st.dictionaries(
        st.sampled_from(
            [
                b"authorization",
                b"content-type",
                b"idempotency-key",
                b"x-request-id",
                b"webhook-id",
                b"webhook-timestamp",
                b"webhook-signature",
            ]
        ),
        header_values,
        max_size=5,
    ),
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "status", "accountId", "x"]), query_values, max_size=4
    ),
    body=bodies,
)
def test_no_request_a_client_can_send_is_answered_with_a_5xx(
    method: str, path: str, headers: dict[bytes, bytes], query: dict[str, str], body: bytes
) -> None:
    """Headers, query strings and bodies beyond what the schema describes: every answer is
    below 500, and every error is the envelope."""
    scope = http_scope(method, path, list(headers.items()))
    scope["query_string"] = urlencode(query).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(FUZZ_WORLD.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] < 500, (start, sent[1:])
    if start["status"] >= 400 and method != "HEAD":
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        assert set(orjson.loads(content)) == {"error"}
