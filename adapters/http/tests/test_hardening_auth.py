"""Tokens and webhook signatures the server would not have produced are refused: a token not
valid yet (`nbf`), and a `webhook-timestamp` that is not plain whole seconds."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import jwt
import orjson
import pytest
from deletion_requests_http import create_app, signed_headers, verify_signed
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from deletion_requests.wire import SignatureInvalid

from .conftest import KEY, World

TASKS = "/data/deletion-requests"
DAY = dt.timedelta(days=1)
SECRET = "whsec_" + base64.b64encode(b"h" * 32).decode()


def error_of(response) -> dict[str, object]:  # type: ignore[no-untyped-def]
    body: dict[str, dict[str, object]] = response.json()
    return body["error"]


def signed_token(world: World, **offsets: int) -> str:
    now = int(world.clock.now().timestamp())
    claims = {"sub": world.app_a, "iss": "deletion-requests", "iat": now, "exp": now + 3600}
    claims.update({name: now + offset for name, offset in offsets.items()})
    return jwt.encode(claims, KEY, algorithm="HS256")


def test_a_token_not_valid_yet_is_refused_until_its_nbf(world: World) -> None:
    token = signed_token(world, nbf=600)
    bearer = {"Authorization": f"Bearer {token}"}
    response = world.client.get(TASKS, headers=bearer)
    assert response.status_code == 403
    assert error_of(response)["error"] == "AUTHENTICATION_ERROR"
    assert "not valid yet" in str(error_of(response)["message"])
    # The same token is refused again (a checked token is remembered, its times are not).
    assert world.client.get(TASKS, headers=bearer).status_code == 403
    world.clock.advance(dt.timedelta(minutes=10))
    assert world.client.get(TASKS, headers=bearer).status_code == 200


def test_a_token_whose_nbf_is_within_the_clock_skew_is_accepted(world: World) -> None:
    token = signed_token(world, nbf=10)
    assert world.client.get(TASKS, headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("nbf", ["600", 600.5, None])
def test_a_token_whose_nbf_is_not_whole_seconds_is_refused(world: World, nbf: object) -> None:
    now = int(world.clock.now().timestamp())
    claims = {"sub": world.app_a, "iss": "deletion-requests", "iat": now, "exp": now + 3600}
    token = jwt.encode({**claims, "nbf": nbf}, KEY, algorithm="HS256")
    response = world.client.get(TASKS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert error_of(response)["error"] == "AUTHENTICATION_ERROR"


# -- webhook-timestamp ------------------------------------------------------------------------


def headers_with_timestamp(body: bytes, timestamp: str) -> dict[str, str]:
    """Headers whose signature is good for the whole seconds of *timestamp*: what an attacker
    who replays a signature under a respelled timestamp sends."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    headers = signed_headers(SECRET, "msg_1", body, at)
    return {**headers, "webhook-timestamp": timestamp.replace("T", headers["webhook-timestamp"])}


RESPELLED = ["T.5", "T.0", " T", "T ", "T\t", "+T", "0T", "T e0"]


@pytest.mark.parametrize("spelling", RESPELLED)
def test_verify_signed_refuses_a_timestamp_that_is_not_plain_digits(spelling: str) -> None:
    body = b'{"taskId": "t"}'
    headers = headers_with_timestamp(body, spelling)
    with pytest.raises(SignatureInvalid, match="webhook-timestamp"):
        verify_signed(SECRET, headers, body)


def test_the_library_alone_would_accept_a_float_timestamp() -> None:
    """Why the check is ours: Standard Webhooks' own verify takes `float()` of the header."""
    body = b"{}"
    headers = headers_with_timestamp(body, "T.5")
    Webhook(SECRET).verify(body, headers, json_parse=False)


def test_verify_signed_accepts_plain_digits() -> None:
    body = b'{"taskId": "t"}'
    verify_signed(SECRET, headers_with_timestamp(body, "T"), body)


@pytest.fixture
def deleter_world() -> Iterator[World]:
    w = World()
    w.app = create_app(w.service, w.tokens, completion_secret=SECRET)
    w.client = TestClient(w.app, raise_server_exceptions=False)
    with w.client:
        yield w


@pytest.mark.parametrize("spelling", ["T.5", " T", "T.0"])
def test_a_completion_with_a_respelled_timestamp_is_refused_naming_it(
    deleter_world: World, spelling: str
) -> None:
    world = deleter_world
    task = world.create(world.a)
    world.clock.advance(16 * DAY)
    body = orjson.dumps({"taskId": task["taskId"]})
    headers = headers_with_timestamp(body, spelling)
    response = world.client.post(
        f"{TASKS}/{task['taskId']}/completion",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 403, response.text
    assert error_of(response)["error"] == "AUTHENTICATION_ERROR"
    assert "webhook-timestamp" in str(error_of(response)["message"])
    shown = world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).json()
    assert shown["completedTime"] is None
