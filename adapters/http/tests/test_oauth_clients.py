"""Stock OAuth2 clients (authlib, requests-oauthlib) against a real server, with the client
credentials as Basic (`client_secret_basic`) and in the form body (`client_secret_post`);
the RFC 6750 challenge on a refused bearer token; the RFC 8414 metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http._limits import RateLimits
from deletion_requests_http.testing import serving_app
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session
from starlette.testclient import TestClient

from deletion_requests import AccessAdmin, DeletionService, ManualClock, MemoryStore, Policy

from .conftest import KEY, T0, World, basic

TOKEN = "/auth/oauth2/token"  # noqa: S105 (a path)
TASKS = "/data/deletion-requests"
METADATA = "/.well-known/oauth-authorization-server"
FORM = {"grant_type": "client_credentials"}


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with serving_app(world.app) as base_url:
        yield base_url


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_and_lists_tasks(world: World, server: str, method: str) -> None:
    with AuthlibSession(world.app_a, world.secret_a, token_endpoint_auth_method=method) as s:
        token = s.fetch_token(f"{server}{TOKEN}", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"  # noqa: S105 (the scheme)
        assert token["expires_in"] == 3600
        answer = s.get(f"{server}{TASKS}", params={"accountId": "acct-a"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("include_client_id", [False, True])
def test_requests_oauthlib_gets_a_token_both_ways(
    world: World, server: str, include_client_id: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test server is on loopback
    session = OAuth2Session(client=BackendApplicationClient(client_id=world.app_a))
    with session:
        token = session.fetch_token(
            f"{server}{TOKEN}",
            client_id=world.app_a,
            client_secret=world.secret_a,
            include_client_id=include_client_id,
        )
        assert token["token_type"] == "Bearer"  # noqa: S105 (the scheme)
        answer = session.get(f"{server}{TASKS}", params={"accountId": "acct-a"})
    assert answer.status_code == 200, answer.text


def test_a_wrong_secret_in_the_form_is_refused_in_the_envelope(world: World) -> None:
    answer = world.client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": world.app_a,
            "client_secret": "not-the-secret",
        },
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["error"] == "AUTHENTICATION_ERROR"


def test_credentials_in_both_places_are_an_invalid_request(world: World) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": world.app_a,
        "client_secret": world.secret_a,
    }
    answer = world.client.post(TOKEN, data=form, headers=world.a)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["error"] == "BAD_REQUEST"
    assert error["message"].startswith("invalid_request:")


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials", "client_id": "x"},
        {"grant_type": "client_credentials", "client_secret": "x"},
    ],
)
def test_half_the_credentials_in_the_form_is_refused(world: World, form: dict[str, str]) -> None:
    answer = world.client.post(TOKEN, data=form)
    assert answer.status_code == 403
    assert "client_id" in answer.json()["error"]["message"]


def test_a_repeated_client_id_is_an_invalid_request(world: World) -> None:
    body = f"grant_type=client_credentials&client_id={world.app_a}&client_id={world.app_a}"
    answer = world.client.post(
        TOKEN,
        content=f"{body}&client_secret={world.secret_a}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("invalid_request:")


def test_credentials_in_the_query_string_are_refused(world: World) -> None:
    answer = world.client.post(
        TOKEN,
        params={"client_id": world.app_a, "client_secret": world.secret_a},
        data={"grant_type": "client_credentials"},
    )
    assert answer.status_code == 400
    assert "query string" in answer.json()["error"]["message"]


def test_an_expired_token_gets_the_bearer_challenge(world: World) -> None:
    bearer = world.bearer(world.a)
    assert world.client.get(TASKS, headers=bearer).status_code == 200
    world.clock.advance(dt.timedelta(hours=2))
    answer = world.client.get(TASKS, headers=bearer)
    assert answer.status_code == 403
    assert answer.json()["error"]["error"] == "AUTHENTICATION_ERROR"
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert "expired" in challenge


def test_a_forged_token_gets_the_challenge_and_basic_failures_do_not(world: World) -> None:
    forged = world.client.get(TASKS, headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 403
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    refused = world.client.get(TASKS, headers=basic(world.app_a, "wrong"))
    assert refused.status_code == 403
    assert "www-authenticate" not in refused.headers


def test_metadata_describes_the_token_endpoint(world: World, server: str) -> None:
    document = httpx.get(f"{server}{METADATA}").json()
    assert document["issuer"] == server
    assert document["grant_types_supported"] == ["client_credentials"]
    assert sorted(document["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic",
        "client_secret_post",
    ]
    form = {
        "grant_type": "client_credentials",
        "client_id": world.app_a,
        "client_secret": world.secret_a,
    }
    answer = httpx.post(document["token_endpoint"], data=form)
    assert answer.status_code == 200, answer.text


def test_metadata_is_in_the_openapi_document(world: World) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    assert "get" in paths[METADATA]


def test_the_token_rate_limit_counts_the_app_id_from_the_form() -> None:
    clock = ManualClock(T0)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-a")
    app, secret = admin.create_app(["acct-a"])
    limits = RateLimits.open(None, "2/minute")
    service = DeletionService(store, clock, Policy())
    client = TestClient(create_app(service, TokenIssuer(KEY, clock), limits=limits))
    form = {"grant_type": "client_credentials", "client_id": app.app_id, "client_secret": secret}
    assert client.post(TOKEN, data=form).status_code == 200
    assert client.post(TOKEN, headers=basic(app.app_id, secret), data=FORM).status_code == 200
    # The address's own count is spent too; the AppId's key is the one that names the app.
    assert client.post(TOKEN, data=form).status_code == 429
    assert limits is not None
    assert limits.token is not None
    key = f"token-app:{app.app_id}"
    assert limits.limiter.get_window_stats(limits.token, "deletion-requests", key).remaining == 0


def test_an_empty_client_secret_next_to_basic_is_still_both_places(world: World) -> None:
    form = {"grant_type": "client_credentials", "client_secret": ""}
    answer = world.client.post(TOKEN, data=form, headers=world.a)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("invalid_request:")
