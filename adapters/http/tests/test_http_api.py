"""Every endpoint, status and error of the HTTP API, through Starlette's TestClient."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import importlib.metadata
import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import orjson
import pytest
from deletion_requests_http import MAX_BODY, TokenIssuer, create_app, signed_headers
from deletion_requests_http.testing import http_scope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from deletion_requests import DeletionService, ManualClock, Operators, StoreError, open_store
from deletion_requests.stores import TaskQuery
from deletion_requests.wire import hash_email

from .conftest import KEY, T0, World, basic

DAY = dt.timedelta(days=1)


def encode_cursor_text(created: str) -> str:
    """A cursor as the server makes them, around a creation time it would never write."""
    raw = orjson.dumps([created, "3bc2e8b0-88ee-400c-8696-44897bc95cd3"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


EMAILS = "/data/deletion-requests/emails"
TASKS = "/data/deletion-requests"


def assert_error(response, status: int, name: str, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert body["error"]["error"] == name
    for fragment in fragments:
        assert fragment in body["error"]["message"]


# -- tokens -----------------------------------------------------------------------------------


def test_token_for_valid_credentials(world: World) -> None:
    response = world.client.post(
        "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=world.a
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"  # noqa: S105 (a token type, not a password)
    assert body["expires_in"] == 3600
    claims = jwt.decode(
        body["access_token"], KEY, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["sub"] == world.app_a
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("headers", "data", "status", "name"),
    [
        ({}, {"grant_type": "client_credentials"}, 403, "AUTHENTICATION_ERROR"),
        (
            {"Authorization": "Basic !!!"},
            {"grant_type": "client_credentials"},
            403,
            "AUTHENTICATION_ERROR",
        ),
        ("wrong-secret", {"grant_type": "client_credentials"}, 403, "AUTHENTICATION_ERROR"),
        ("good", {"grant_type": "password"}, 400, "BAD_REQUEST"),
        ("good", {}, 400, "BAD_REQUEST"),
    ],
)
def test_token_errors(
    world: World, headers: object, data: dict[str, str], status: int, name: str
) -> None:
    if headers == "good":
        headers = world.a
    elif headers == "wrong-secret":
        headers = basic(world.app_a, "not-the-secret")
    response = world.client.post("/auth/oauth2/token", data=data, headers=headers)  # type: ignore[arg-type]
    assert_error(response, status, name)


def test_token_form_must_be_urlencoded(world: World) -> None:
    response = world.client.post(
        "/auth/oauth2/token", json={"grant_type": "client_credentials"}, headers=world.a
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE", "x-www-form-urlencoded")


def test_bearer_and_basic_both_work(world: World) -> None:
    bearer = world.bearer(world.a)
    task = world.create(bearer)
    assert world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).status_code == 200


def test_expired_token_is_refused(world: World) -> None:
    bearer = world.bearer(world.a)
    world.clock.advance(dt.timedelta(minutes=59))
    assert world.client.get(TASKS, headers=bearer).status_code == 200
    world.clock.advance(dt.timedelta(minutes=1))
    assert_error(world.client.get(TASKS, headers=bearer), 403, "AUTHENTICATION_ERROR", "expired")


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(
            {"sub": "app_x", "iss": "deletion-requests", "exp": 4102444800},
            "another-key" * 4,
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": "app_x", "iss": "deletion-requests", "exp": 4102444800}, None, algorithm="none"
        ),
        "not.a.jwt",
        "",
    ],
)
def test_forged_tokens_are_refused(world: World, token: str) -> None:
    response = world.client.get(TASKS, headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 403, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"iat": 0, "exp": 10 * 365 * 86400}, "longer than tokens are"),
        ({"iat": 3600, "exp": 7200}, "in the future"),
        ({"exp": 3600}, "invalid"),
        ({"iat": "0", "exp": 3600}, "invalid"),
    ],
)
def test_tokens_the_server_would_not_issue_are_refused(
    world: World, claims: dict[str, object], fragment: str
) -> None:
    """Signed with the real key, yet valid for ten years, issued an hour from now, or without
    a (numeric) issue time: refused, whatever the expiry says."""
    now = int(world.clock.now().timestamp())
    shifted = {k: now + v if isinstance(v, int) else v for k, v in claims.items()}
    token = jwt.encode(
        {"sub": world.app_a, "iss": "deletion-requests", **shifted}, KEY, algorithm="HS256"
    )
    response = world.client.get(TASKS, headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 403, "AUTHENTICATION_ERROR", fragment)


def test_forged_token_for_a_real_app_is_refused(world: World) -> None:
    forged = jwt.encode(
        {"sub": world.app_a, "iss": "deletion-requests", "exp": 4102444800},
        "x" * 48,
        algorithm="HS256",
    )
    response = world.client.get(TASKS, headers={"Authorization": f"Bearer {forged}"})
    assert_error(response, 403, "AUTHENTICATION_ERROR")


def test_revoked_app_loses_credentials_and_tokens(world: World) -> None:
    bearer = world.bearer(world.a)
    world.create(bearer)  # creates take the caller from the cache: now it holds app A
    world.create(world.a)
    world.admin.revoke_app(world.app_a)
    # First the creates, while the cache still holds app A: refused when their batch is stored.
    for headers in (bearer, world.a):
        response = world.client.post(
            EMAILS, json={"accountId": "acct-a", "rawEmails": ["late@example.com"]}, headers=headers
        )
        assert_error(response, 403, "AUTHENTICATION_ERROR")
    assert len(world.store.list_tasks(TaskQuery(accounts=frozenset({"acct-a"})))) == 2
    assert_error(world.client.get(TASKS, headers=bearer), 403, "AUTHENTICATION_ERROR")
    assert_error(world.client.get(TASKS, headers=world.a), 403, "AUTHENTICATION_ERROR")
    response = world.client.post(
        "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=world.a
    )
    assert_error(response, 403, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("header", ["", "Token abc", "Bearer", "Basic", "Basic Zm9v"])
def test_malformed_authorization_is_refused(world: World, header: str) -> None:
    headers = {"Authorization": header} if header else {}
    assert_error(world.client.get(TASKS, headers=headers), 403, "AUTHENTICATION_ERROR")


# -- create -----------------------------------------------------------------------------------


def test_create_answers_202_with_the_task_and_location(world: World) -> None:
    response = world.client.post(
        EMAILS,
        json={
            "accountId": "acct-a",
            "rawEmails": [" Person@Example.com "],
            "sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="],
        },
        headers=world.a,
    )
    assert response.status_code == 202
    body = response.json()
    assert list(body) == [
        "taskId",
        "status",
        "deletionType",
        "creationTime",
        "accountId",
        "readyTime",
        "actionedTime",
        "cancelledTime",
        "completedTime",
        "overdue",
        "heldTime",
        "dueTime",
    ]
    assert body["status"] == "pending"
    assert body["dueTime"] == "2026-03-31T09:00:00+00:00"  # created + 30 days
    assert body["deletionType"] == "emailsDeletion"
    assert body["creationTime"] == "2026-03-01T09:00:00+00:00"
    assert body["readyTime"] is None
    assert response.headers["location"] == f"/data/deletion-requests/{body['taskId']}"
    assert "person" not in response.text.lower()
    stored = world.store.get(body["taskId"])
    assert stored is not None
    assert stored.identifiers == {
        hash_email("person@example.com"),
        "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU=",
    }


def test_idempotency_key_replays_the_original(world: World) -> None:
    headers = {**world.a, "Idempotency-Key": "order-1"}
    first = world.create(headers)
    world.clock.advance(DAY)
    again = world.create(headers)
    assert again == first
    response = world.client.post(
        EMAILS, json={"accountId": "acct-a", "rawEmails": ["other@example.com"]}, headers=headers
    )
    assert_error(response, 400, "BAD_REQUEST", "Idempotency-Key")
    assert len(world.client.get(TASKS, headers=world.a).json()) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"accountId": "acct-a"}, "at least one entry"),
        ({"accountId": "acct-a", "rawEmails": []}, "at least one entry"),
        ({"rawEmails": ["a@b.c"]}, "accountId is required"),
        (
            {"accountId": "acct-a", "rawEmails": ["a@b.c"], "sha256Email": ["x"]},
            "unknown field(s) sha256Email",
        ),
        ({"accountId": 7, "rawEmails": ["a@b.c"]}, "accountId must be a string"),
        ({"accountId": "acct-a", "rawEmails": "a@b.c"}, "rawEmails must be a list"),
        ({"accountId": "acct-a", "rawEmails": [1]}, "rawEmails[0] must be a string"),
        ({"accountId": "acct-a", "rawEmails": ["not-an-email"]}, "rawEmails[0]"),
        (
            {
                "accountId": "acct-a",
                "sha256Emails": [
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                ],
            },
            "looks like hex",
        ),
        ({"accountId": "acct-a", "sha256Emails": ["AAAA"]}, "sha256Emails[0]"),
        ([1, 2], "must be a JSON object"),
        ("text", "must be a JSON object"),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(world: World, body: object, fragment: str) -> None:
    response = world.client.post(EMAILS, json=body, headers=world.a)
    assert_error(response, 400, "BAD_REQUEST", fragment)
    assert "not-an-email" not in response.text
    assert world.client.get(TASKS, headers=world.a).json() == []


def test_malformed_json_is_400(world: World) -> None:
    response = world.client.post(
        EMAILS, content=b'{"accountId": ', headers={**world.a, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "BAD_REQUEST", "not valid JSON")


def test_missing_body_is_400(world: World) -> None:
    response = world.client.post(EMAILS, headers={**world.a, "Content-Type": "application/json"})
    assert_error(response, 400, "BAD_REQUEST", "missing")


def test_wrong_content_type_is_415(world: World) -> None:
    response = world.client.post(
        EMAILS, content=b"accountId=acct-a", headers={**world.a, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json")


def test_body_over_one_mebibyte_is_413(world: World) -> None:
    big = b'{"accountId": "acct-a", "rawEmails": ["' + b"a" * MAX_BODY + b'@b.c"]}'
    response = world.client.post(
        EMAILS, content=big, headers={**world.a, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    response = world.client.post(
        EMAILS, content=chunks(), headers={**world.a, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert world.client.get(TASKS, headers=world.a).json() == []


def test_account_not_granted_or_not_listed_is_403(world: World) -> None:
    response = world.client.post(
        EMAILS, json={"accountId": "acct-b", "rawEmails": ["a@b.c"]}, headers=world.a
    )
    assert_error(response, 403, "UNAUTHORIZED_ACCOUNT", "acct-b")
    world.admin.revoke_account("acct-unlisted-later")
    response = world.client.post(
        EMAILS, json={"accountId": "acct-unlisted-later", "rawEmails": ["a@b.c"]}, headers=world.a
    )
    assert_error(response, 403, "UNAUTHORIZED_ACCOUNT")


# -- list, get, cancel --------------------------------------------------------------------------


def test_list_is_a_bare_array_newest_first_with_link_paging(world: World) -> None:
    ids = []
    for _ in range(5):
        ids.append(world.create(world.a)["taskId"])
        world.clock.advance(dt.timedelta(hours=1))
    seen: list[str] = []
    url = f"{TASKS}?limit=2&accountId=acct-a"
    while url:
        response = world.client.get(url, headers=world.a)
        assert response.status_code == 200
        assert isinstance(response.json(), list)
        seen += [t["taskId"] for t in response.json()]
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
        if link:
            assert link.endswith('; rel="next"')
    assert seen == ids[::-1]


def test_list_filters_by_status_as_the_clock_says(world: World) -> None:
    old = world.create(world.a)["taskId"]
    world.clock.advance(13 * DAY)
    young = world.create(world.a)["taskId"]
    ready = world.client.get(f"{TASKS}?status=ready", headers=world.a).json()
    assert [t["taskId"] for t in ready] == [old]
    assert ready[0]["readyTime"] == (T0 + 12 * DAY).isoformat()
    pending = world.client.get(f"{TASKS}?status=pending", headers=world.a).json()
    assert [t["taskId"] for t in pending] == [young]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("status=done", "status must be one of"),
        ("cursor=zzz", "cursor is not valid"),
        ("page=2", "unknown query parameter"),
        ("limit=1&limit=2", "more than once"),
        ("limit=%C2%B2", "limit"),  # a digit to str.isdigit, not to int()
        ("limit=" + "9" * 5000, "limit"),
        ("cursor=" + encode_cursor_text("9999-12-31T23:59:59.999999-23:59"), "cursor"),
        ("cursor=" + encode_cursor_text("0001-01-01T00:00:00+14:00"), "cursor"),
    ],
)
def test_bad_list_queries_are_400(world: World, query: str, fragment: str) -> None:
    assert_error(
        world.client.get(f"{TASKS}?{query}", headers=world.a), 400, "BAD_REQUEST", fragment
    )


def test_get_shows_the_task_with_history(world: World) -> None:
    task = world.create(world.a)
    world.clock.advance(DAY)
    world.client.delete(f"{TASKS}/{task['taskId']}", headers=world.a)
    body = world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).json()
    assert body["status"] == "cancelled"
    assert body["createdBy"] == world.app_a
    assert body["history"] == [
        {
            "from": "pending",
            "to": "pending",
            "at": T0.isoformat(),
            "by": world.app_a,
            "event": "created",
            "detail": None,
        },
        {
            "from": "pending",
            "to": "cancelled",
            "at": (T0 + DAY).isoformat(),
            "by": world.app_a,
            "event": "transition",
            "detail": None,
        },
    ]
    assert body["purgedTime"] is None


def test_cancel_is_idempotent_and_keeps_the_first_time(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(DAY)
    first = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert first.status_code == 200
    assert first.json() == {
        "data": {"message": f"successful cancelled task with taskId: {task_id}"}
    }
    world.clock.advance(30 * DAY)
    again = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert again.json() == first.json()
    task = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
    assert task["cancelledTime"] == (T0 + DAY).isoformat()


def test_cancel_fifteen_days_after_creation_is_410_and_the_task_is_actioned(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(15 * DAY)
    response = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert_error(response, 410, "DEADLINE_EXCEEDED", task_id)
    task = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
    assert task["status"] == "actioned"
    assert task["readyTime"] == (T0 + 12 * DAY).isoformat()
    assert task["actionedTime"] == (T0 + 15 * DAY).isoformat()
    assert task["cancelledTime"] is None


def test_tenants_are_isolated(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    bearer_b = world.bearer(world.b)
    for headers in (world.b, bearer_b):
        assert world.client.get(TASKS, headers=headers).json() == []
        assert_error(world.client.get(f"{TASKS}/{task_id}", headers=headers), 404, "NOT_FOUND")
        assert_error(world.client.delete(f"{TASKS}/{task_id}", headers=headers), 404, "NOT_FOUND")
        assert_error(
            world.client.get(f"{TASKS}?accountId=acct-a", headers=headers),
            403,
            "UNAUTHORIZED_ACCOUNT",
        )
    assert world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()["status"] == "pending"


def test_unknown_and_malformed_task_ids(world: World) -> None:
    assert_error(world.client.get(f"{TASKS}/{uuid.uuid4()}", headers=world.a), 404, "NOT_FOUND")
    assert_error(
        world.client.get(f"{TASKS}/not-a-uuid", headers=world.a), 400, "BAD_REQUEST", "UUID"
    )


# -- transport errors ---------------------------------------------------------------------------


def test_unknown_route_is_404_in_the_envelope(world: World) -> None:
    response = world.client.get("/data/person@example.com")
    assert_error(response, 404, "NOT_FOUND", "no such route")
    assert "person@example.com" not in response.text  # the path is the client's: not echoed


def test_wrong_method_is_405_with_allow(world: World) -> None:
    response = world.client.put(f"{TASKS}/{uuid.uuid4()}")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in response.headers["allow"]
    assert_error(world.client.patch(TASKS, headers=world.a), 405, "METHOD_NOT_ALLOWED")
    # /emails is not a task id: GET on it is a wrong method, not a bad taskId
    assert_error(world.client.get(EMAILS, headers=world.a), 405, "METHOD_NOT_ALLOWED", "POST")


def test_unexpected_errors_are_500_without_internals(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals: /var/lib/db password=hunter2")

    world.service.store.list_tasks = explode  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        response = world.client.get(TASKS, headers=world.a)
    assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert "hunter2" not in response.text
    request_id = response.headers["x-request-id"]
    assert request_id in response.json()["error"]["message"]
    assert request_id in caplog.text
    assert "hunter2" in caplog.text  # the log keeps the details for operators


def test_creates_are_served_when_the_app_is_mounted_under_a_prefix(world: World) -> None:
    outer = Starlette(routes=[Mount("/privacy", app=world.app)])
    body = {"accountId": "acct-a", "rawEmails": ["person@example.com"]}
    with TestClient(outer) as client:
        response = client.post(f"/privacy{EMAILS}", json=body, headers=world.a)
        assert response.status_code == 202, response.text
        assert world.store.get(response.json()["taskId"]) is not None
        # a trailing slash is no route: a 404 envelope, never a redirect
        slash = client.post(f"/privacy{EMAILS}/", json=body, headers=world.a)
        assert_error(slash, 404, "NOT_FOUND")
        assert "location" not in slash.headers


def test_a_repeated_header_counts_once_the_first_on_creates_as_elsewhere(world: World) -> None:
    good, bad = world.a["Authorization"], "Basic bm86c3VjaA=="
    body = {"accountId": "acct-a", "rawEmails": ["person@example.com"]}
    for first, second, created, listed in ((good, bad, 202, 200), (bad, good, 403, 403)):
        headers = [("Authorization", first), ("Authorization", second)]
        assert world.client.post(EMAILS, json=body, headers=headers).status_code == created
        assert world.client.get(TASKS, headers=headers).status_code == listed


def test_a_client_that_leaves_mid_body_is_logged_as_499_not_as_an_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    messages = [
        {"type": "http.request", "body": b'{"accountId": "acct-a", ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = http_scope(
        "POST",
        EMAILS,
        [
            (b"content-type", b"application/json"),
            (b"authorization", world.a["Authorization"].encode()),
        ],
    )
    with caplog.at_level(logging.INFO):
        asyncio.run(world.app(scope, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    access = [r for r in caplog.records if r.name.endswith(".access")]
    assert len(access) == 1
    assert access[0].status_code == 499  # type: ignore[attr-defined]
    assert world.client.get(TASKS, headers=world.a).json() == []


def test_store_errors_are_503(world: World) -> None:
    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreError("disk on fire")

    world.service.store.list_tasks = unavailable  # type: ignore[method-assign]
    response = world.client.get(TASKS, headers=world.a)
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "5"
    assert "disk" not in response.text


def test_request_id_is_echoed_or_made(world: World) -> None:
    assert (
        world.client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    made = world.client.get("/healthz", headers={"X-Request-Id": "bad id\x01"}).headers[
        "x-request-id"
    ]
    assert len(made) == 32


def test_routes_are_named_after_their_endpoints(world: World) -> None:
    """For an embedding app's `url_path_for`."""
    assert world.app.url_path_for("create") == EMAILS
    assert world.app.url_path_for("list") == TASKS
    assert world.app.url_path_for("task", task_id="x") == f"{TASKS}/x"


def test_healthz_and_openapi(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok"}
    document = world.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/auth/oauth2/token",
        "/.well-known/oauth-authorization-server",
        EMAILS,
        TASKS,
        "/data/deletion-requests/cancellations",
        "/data/deletion-requests/{taskId}",
        "/data/deletion-requests/{taskId}/completion",
        "/healthz",
        "/openapi.json",
    }


# -- privacy ----------------------------------------------------------------------------------


def test_secrets_and_raw_emails_appear_in_no_response_or_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    raw = "Private.Person@Example.org"
    texts = []
    with caplog.at_level(logging.DEBUG):
        token_response = world.client.post(
            "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=world.a
        )
        token = token_response.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        created = world.client.post(
            EMAILS, json={"accountId": "acct-a", "rawEmails": [raw]}, headers=bearer
        )
        bad = world.client.post(
            EMAILS, json={"accountId": "acct-a", "rawEmails": [raw, raw + " x"]}, headers=bearer
        )
        task_id = created.json()["taskId"]
        texts += [created.text, bad.text]
        texts.append(world.client.get(TASKS, headers=bearer).text)
        texts.append(world.client.get(f"{TASKS}/{task_id}", headers=bearer).text)
        world.clock.advance(20 * DAY)
        world.service.advance_due()
        texts.append(world.client.delete(f"{TASKS}/{task_id}", headers=world.a).text)
    for text in [*texts, caplog.text]:
        assert world.secret_a not in text
        assert "private.person" not in text.lower()
    assert token not in caplog.text
    assert world.secret_a not in token_response.text
    stored = world.store.get(task_id)
    assert stored is not None
    assert "private.person" not in repr(stored).lower()
    assert all("@" not in value for value in stored.identifiers)


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


def test_an_overdue_task_says_so(world: World) -> None:
    task = world.create(world.a)
    world.clock.advance(30 * DAY)
    body = world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).json()
    assert body["overdue"] is True
    assert body["history"][-1]["event"] == "overdue"
    listed = world.client.get(TASKS, headers=world.a).json()
    assert listed[0]["overdue"] is True


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


def test_healthz_is_503_in_the_envelope_while_the_store_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with open_store(f"sqlite:///{path}?busy_timeout_ms=50") as store:
        service = DeletionService(store, ManualClock(T0))
        client = TestClient(create_app(service, TokenIssuer(KEY, service.clock)))
        assert client.get("/healthz").json() == {"status": "ok"}
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            assert_error(client.get("/healthz"), 503, "SERVICE_UNAVAILABLE")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.get("/healthz").status_code == 200


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


@settings(max_examples=60, deadline=None)
@given(
    age=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=60)),
    advanced=st.booleans(),
    token=st.booleans(),
)
def test_over_http_a_cancel_after_ready_is_always_the_410_envelope(
    age: dt.timedelta, advanced: bool, token: bool
) -> None:
    """The lifecycle's promise through the API, with the clock injected: a DELETE before
    creation + 15 days cancels; at or after it, every DELETE is 410 DEADLINE_EXCEEDED in the
    envelope and the task stays actioned, whether or not the background advance stored the
    hand-off first."""
    world = World()
    with world.client:
        headers = world.bearer(world.a) if token else world.a
        task_id = world.create(headers)["taskId"]
        world.clock.advance(age)
        if advanced:
            world.service.advance_due()
        headers = world.bearer(world.a) if token else world.a  # a token of this moment
        response = world.client.delete(f"{TASKS}/{task_id}", headers=headers)
        shown = world.client.get(f"{TASKS}/{task_id}", headers=headers).json()
    if age < dt.timedelta(days=15):
        assert response.status_code == 200, response.text
        assert shown["status"] == "cancelled"
    else:
        assert_error(response, 410, "DEADLINE_EXCEEDED", "cannot be cancelled")
        assert shown["status"] == "actioned"
        assert shown["cancelledTime"] is None


def test_a_held_task_shows_the_status_the_client_knows_with_held_time(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(13 * DAY)
    Operators(world.service).hold(task_id, "ana", "subject disputes it")
    world.clock.advance(10 * DAY)  # past the hand-off moment
    shown = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
    assert shown["status"] == "ready"
    assert shown["heldTime"] == (T0 + 13 * DAY).isoformat()
    assert "ana" not in str(shown)
    assert "disputes" not in str(shown)
    ready = world.client.get(f"{TASKS}?status=ready", headers=world.a).json()
    assert [t["taskId"] for t in ready] == [task_id]
    assert world.client.get(f"{TASKS}?status=actioned", headers=world.a).json() == []
    cancelled = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert cancelled.status_code == 200  # held, so not past the deadline


def test_every_answer_carries_nosniff_and_no_store(world: World) -> None:
    for response in (
        world.client.get("/healthz"),
        world.client.get(TASKS, headers=world.a),
        world.client.get("/nope"),
        world.client.post(
            "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=world.a
        ),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers.get_list("cache-control") == ["no-store"]


def test_the_openapi_document_carries_the_package_version(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    assert document["info"]["version"] == importlib.metadata.version("deletion-requests-http")


def test_the_docs_page_is_served_from_bundled_assets(world: World) -> None:
    page = world.client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    assert all(asset.startswith("/docs/") for asset in assets), assets
    for asset in assets:
        assert world.client.get(asset).status_code == 200, asset
    scheme = world.client.get("/openapi.json").json()["components"]["securitySchemes"]["oauth2"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/auth/oauth2/token"


def test_a_failed_authentication_logs_the_app_id_tried_and_never_the_secret(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "deletion_requests.http.auth")
    wrong = basic(world.app_a, "not-the-secret")
    assert world.client.get(TASKS, headers=wrong).status_code == 403
    assert world.client.get(TASKS, headers=basic("app_nobody", "x")).status_code == 403
    refused = [r for r in caplog.records if r.name == "deletion_requests.http.auth"]
    tried = [getattr(r, "app_id_tried", None) for r in refused]
    assert tried == [world.app_a, "app_nobody"]
    assert all("not-the-secret" not in r.getMessage() for r in caplog.records)
