"""The deleter's completion endpoint: a task completed once it is actioned, and every
unsigned, mis-signed, replayed, malformed or misdirected completion refused with a 4xx
that changes nothing; a webhook secret must be a Standard Webhooks one."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from deletion_requests_http import create_app, signed_headers
from starlette.testclient import TestClient

from .conftest import DAY, TASKS, World, assert_error

# -- completion (the deleter, signed with the webhook secret) -----------------------------------

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"w" * 32).decode()


@pytest.fixture
def deleter_world() -> Iterator[World]:
    w = World()
    w.app = create_app(w.service, w.tokens, completion_secret=WEBHOOK_SECRET)
    w.client = TestClient(w.app, raise_server_exceptions=False)
    with w.client:
        yield w


def complete(
    world: World,
    task_id: str,
    body: bytes | None = None,
    secret: str = WEBHOOK_SECRET,
    *,
    path_task_id: str | None = None,
    content_type: str = "application/json",
    at: dt.datetime | None = None,
) -> Any:
    """POST a completion for *task_id*, signed with *secret* (Standard Webhooks) at *at* (the
    wall clock's now by default: signatures are judged by it), to the path of *path_task_id*
    (the same task by default)."""
    body = orjson.dumps({"taskId": task_id}) if body is None else body
    at = dt.datetime.now(dt.UTC) if at is None else at
    headers = signed_headers(secret, f"completion_{task_id}", body, at)
    return world.client.post(
        f"{TASKS}/{path_task_id or task_id}/completion",
        content=body,
        headers={"Content-Type": content_type, **headers},
    )


def test_the_deleter_completes_an_actioned_task(deleter_world: World) -> None:
    world = deleter_world
    task = world.create(world.a)
    world.clock.advance(16 * DAY)
    response = complete(world, task["taskId"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["completedTime"] == world.clock.now().isoformat()
    assert body["overdue"] is False
    assert body["history"][-1]["event"] == "completed"
    assert body["history"][-1]["by"] == "deleter"
    assert complete(world, task["taskId"]).json() == body  # idempotent
    shown = world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).json()
    assert shown["completedTime"] == body["completedTime"]


def test_completion_of_a_task_not_handed_off_is_409(deleter_world: World) -> None:
    task = deleter_world.create(deleter_world.a)
    assert_error(complete(deleter_world, task["taskId"]), 409, "CONFLICT", "pending")


def test_completion_needs_the_webhook_secret_and_a_matching_body(deleter_world: World) -> None:
    world = deleter_world
    task = world.create(world.a)
    other = world.create(world.a)
    world.clock.advance(16 * DAY)
    wrong = complete(world, task["taskId"], secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    assert_error(wrong, 403, "AUTHENTICATION_ERROR", "No matching signature")
    unsigned = world.client.post(
        f"{TASKS}/{task['taskId']}/completion", json={"taskId": task["taskId"]}, headers=world.a
    )
    assert_error(unsigned, 403, "AUTHENTICATION_ERROR", "webhook-signature")
    # a body signed for one task, sent to another task's path
    moved = complete(world, task["taskId"], path_task_id=other["taskId"])
    assert_error(moved, 400, "BAD_REQUEST", "taskId in the body")
    assert_error(complete(world, task["taskId"], body=b"{}"), 400, "BAD_REQUEST", "taskId")
    as_text = complete(world, task["taskId"], content_type="text/plain")
    assert_error(as_text, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json")
    garbled = complete(world, task["taskId"], body=b"taskId=" + task["taskId"].encode())
    assert_error(garbled, 400, "BAD_REQUEST", "not valid JSON")
    # A request signed 10 minutes ago, replayed; and one dated in the future.
    late = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    assert_error(complete(world, task["taskId"], at=late), 403, "AUTHENTICATION_ERROR", "too old")
    early = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    assert_error(complete(world, task["taskId"], at=early), 403, "AUTHENTICATION_ERROR", "too new")
    # A signature over another body (tampered) is refused.
    signed = signed_headers(WEBHOOK_SECRET, "m", orjson.dumps({"taskId": other["taskId"]}), late)
    tampered = world.client.post(
        f"{TASKS}/{task['taskId']}/completion",
        content=orjson.dumps({"taskId": task["taskId"]}),
        headers={"Content-Type": "application/json", **signed},
    )
    assert_error(tampered, 403, "AUTHENTICATION_ERROR", "signature")
    for task_id in (task["taskId"], other["taskId"]):
        shown = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
        assert shown["completedTime"] is None


def test_completion_is_off_without_a_webhook_secret(world: World) -> None:
    task = world.create(world.a)
    world.clock.advance(16 * DAY)
    assert_error(complete(world, task["taskId"]), 403, "AUTHENTICATION_ERROR", "not enabled")


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-id": "m", "webhook-timestamp": "\u00b2", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": "9" * 5000, "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": str(2**63 + 1), "webhook-signature": "v1,AA"},
        {"webhook-id": "m", "webhook-timestamp": "nan", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": "1e308", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": "-1e308", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "\u00e9", "webhook-timestamp": "now", "webhook-signature": "v1,\u00e9"},
        {"webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": ""},
    ],
    ids=[
        "superscript-two",
        "5000-digits",
        "past-2**63",
        "nan",
        "huge-float",
        "huge-negative",
        "non-ascii",
        "missing-headers",
        "empty-signature",
    ],
)
def test_malformed_completion_signatures_are_403_not_500(
    deleter_world: World, headers: dict[str, str]
) -> None:
    world = deleter_world
    task = world.create(world.a)
    world.clock.advance(16 * DAY)
    response = world.client.post(
        f"{TASKS}/{task['taskId']}/completion",
        content=orjson.dumps({"taskId": task["taskId"]}),
        headers={
            "Content-Type": "application/json",
            **{k: v.encode() for k, v in headers.items()},  # type: ignore[dict-item]
        },
    )
    assert_error(response, 403, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("abc", "starts with whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "16 bytes"),
    ],
)
def test_a_webhook_secret_must_be_a_standard_one(world: World, secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_app(world.service, world.tokens, completion_secret=secret)
