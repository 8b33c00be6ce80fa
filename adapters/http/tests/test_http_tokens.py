"""Tokens and credentials: what the token endpoint issues, which bearer tokens and Basic
credentials are refused (expired, forged, revoked, malformed), and that a refusal logs the
app id tried, never the secret."""

from __future__ import annotations

import datetime as dt
import logging

import jwt
import pytest

from deletion_requests.stores import TaskQuery

from .conftest import EMAILS, KEY, TASKS, World, assert_error, basic


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
