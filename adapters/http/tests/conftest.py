from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import psycopg
import pytest
from click.testing import CliRunner
from deletion_requests_http._cli import main
from deletion_requests_http.console import ConsoleSettings
from deletion_requests_http.testing import bootstrapped, serving_app
from psycopg import sql
from starlette.testclient import TestClient

from deletion_requests import ManualClock

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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


def is_rokt_missing_credentials(failure: Exception, response: Any) -> bool:
    """Whether schemathesis's *failure* is a missing Authorization header answered as the Rokt
    document says (403 AUTHENTICATION_ERROR, where schemathesis expects 401 whatever its
    settings say)."""
    from schemathesis.openapi.checks import MissingHeaderNotRejected

    return (
        isinstance(failure, MissingHeaderNotRejected)
        and failure.header_name.lower() == "authorization"
        and response.status_code == 403
        and response.json()["error"]["error"] == "AUTHENTICATION_ERROR"
    )


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


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
"""Where the browser tests keep the screenshots of the pages they checked."""
PASSWORD = "correct horse battery"  # noqa: S105 (a test operator's password)


class Deployment:
    """One server for a browser test module: a SQLite store with the console, an app for
    `acct-1`, operator alice, and the `ManualClock` the tests move."""

    def __init__(self, directory: Path) -> None:
        self.clock = ManualClock(T0)
        self.server = bootstrapped(
            f"sqlite:///{directory}/console.db", clock=self.clock, console=ConsoleSettings()
        )
        self.server.admin.allow_account("acct-1")
        app, secret = self.server.admin.create_app(["acct-1"])
        self.app_id, self.secret = app.app_id, secret
        self.headers = basic(app.app_id, secret)
        self.server.admin.add_operator("alice", PASSWORD)
        self.app = self.server.http()
        self.base_url = ""

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=10)

    def create(self, email: str | None = None) -> str:
        with self.api() as client:
            answer = client.post(
                EMAILS,
                json={"accountId": "acct-1", "rawEmails": [email or f"{uuid.uuid4()}@example.com"]},
            )
        assert answer.status_code == 202, answer.text
        task_id: str = answer.json()["taskId"]
        return task_id

    def api_task(self, task_id: str) -> dict[str, object]:
        with self.api() as client:
            answer = client.get(f"{TASKS}/{task_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, object] = answer.json()
        return found


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """A `Deployment` served by Granian on a loopback port, one for the module."""
    made = Deployment(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))
    with serving_app(made.app) as base_url:
        made.base_url = base_url
        yield made
    made.server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright, one for the module. Without it the test skips
    (with the reason), except in CI (CI=true), where it fails."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright  # only browser tests pay for it

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def keep_screenshot(page: Page, name: str) -> None:
    """Keep the whole of *page* as `ARTIFACTS/<name>.png`, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_in(page: Page) -> None:
    """Sign in as alice from the queue's address; the page ends on the queue."""
    from playwright.sync_api import expect  # only browser tests pay for it

    page.goto("/console/")
    assert page.url.endswith("/console/sign-in?next=/console/")
    page.get_by_label("Operator name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()


def later(page: Page, deployment: Deployment, delta: dt.timedelta) -> None:
    """Move the clock on by *delta*, which outlasts the console's sign-in: alice signs in
    again."""
    deployment.clock.advance(delta)
    sign_in(page)
