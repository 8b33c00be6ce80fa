from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import Iterator

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from deletion_requests_http._cli import main
from deletion_requests_http.testing import bootstrapped
from psycopg import sql
from starlette.testclient import TestClient

from deletion_requests import ManualClock

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
KEY = "k" * 48
DAY = dt.timedelta(days=1)
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


def encode_cursor_text(created: str) -> str:
    """A cursor as the server makes them, around a creation time it would never write."""
    raw = orjson.dumps([created, "3bc2e8b0-88ee-400c-8696-44897bc95cd3"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cli(*args: str) -> str:
    """`deletion-requests ARGS...` run in this process through click's runner (a test's setup:
    no interpreter to start); what it wrote to stdout, or an AssertionError carrying its output
    when it fails."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise AssertionError(f"deletion-requests {' '.join(args)} failed: {result.output}")
    return result.stdout


def basic(app_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{app_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class World:
    """A service on a MemoryStore with a ManualClock, its app, and two tenants A and B."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.application = bootstrapped(clock=self.clock, signing_key=KEY)
        self.store = self.application.store
        self.admin = self.application.admin
        for account in ("acct-a", "acct-b", "acct-unlisted-later"):
            self.admin.allow_account(account)
        self.service = self.application.service
        self.tokens = self.application.tokens
        self.app = self.application.http()
        self.client = TestClient(self.app, raise_server_exceptions=False)
        app_a, self.secret_a = self.admin.create_app(["acct-a", "acct-unlisted-later"])
        app_b, self.secret_b = self.admin.create_app(["acct-b"])
        self.app_a, self.app_b = app_a.app_id, app_b.app_id
        self.a = basic(self.app_a, self.secret_a)
        self.b = basic(self.app_b, self.secret_b)

    def bearer(self, headers: dict[str, str]) -> dict[str, str]:
        response = self.client.post(
            "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=headers
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def create(self, headers: dict[str, str], account: str = "acct-a", **body: object) -> dict:  # type: ignore[type-arg]
        payload = {"accountId": account, "rawEmails": ["person@example.com"], **body}
        response = self.client.post("/data/deletion-requests/emails", json=payload, headers=headers)
        assert response.status_code == 202, response.text
        result: dict = response.json()  # type: ignore[type-arg]
        return result


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    with w.client:
        yield w


XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
"""This pytest-xdist worker's number (0 in a run without workers): tests that share a server
(a Redis database) take one of their own by it, so that workers never flush each other's."""


POSTGRES = os.environ.get(
    "DELETION_REQUESTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A store URL on the test PostgreSQL server, in a schema of its own that is dropped
    afterwards. Without a server: a skip, with the reason, except in CI (CI=true), where it
    fails."""
    schema = f"dr_http_{uuid.uuid4().hex[:12]}"
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {exc}")
    yield f"{POSTGRES}?schema={schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
