"""The console over plain HTTP: who may open each route, CSRF, sessions, error pages, and the
separation between the console and the client API."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator

import pytest
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http.console import Console, ConsoleSettings, SignInBrake
from starlette.testclient import TestClient

from deletion_requests import AccessAdmin, DeletionService, ManualClock, MemoryStore, Policy

from .conftest import KEY, T0, basic

PASSWORD = "correct horse battery"  # noqa: S105 (a test operator's password)
TASK = "019ca8a0-3e80-70e9-bdc5-2a6a851b59a9"
GET_ROUTES = [
    "/console/",
    f"/console/tasks/{TASK}",
    "/console/find",
    "/console/access",
    "/console/export",
    "/console/export/download?format=csv",
    "/console/trend",
    "/console/lists/ready",
    "/console/destinations",
    "/console/destinations/crm",
]
POST_ROUTES = [
    f"/console/tasks/{TASK}/hold",
    f"/console/tasks/{TASK}/release",
    f"/console/tasks/{TASK}/cancel",
    f"/console/tasks/{TASK}/extend",
    "/console/find",
    "/console/access/apps/app_x/revoke",
    "/console/access/accounts/acct-a/revoke",
    "/console/destinations/crm/pause",
    "/console/destinations/crm/resume",
    "/console/destinations",
    "/console/destinations/crm/rotate",
    "/console/destinations/crm/remove",
]


class Site:
    def __init__(
        self, settings: ConsoleSettings | None = None, brake: SignInBrake | None = None
    ) -> None:
        self.waits: list[float] = []
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        self.admin = AccessAdmin(self.store, self.clock)
        self.admin.allow_account("acct-a")
        app, secret = self.admin.create_app(["acct-a"])
        self.app_id, self.basic = app.app_id, basic(app.app_id, secret)
        self.admin.add_operator("alice", PASSWORD)
        self.service = DeletionService(self.store, self.clock, Policy(), subscribers=[])
        brake = brake or SignInBrake(sleep=self.wait)
        self.console = Console(self.service, self.admin, settings or ConsoleSettings(), brake=brake)
        self.app = create_app(
            self.service, TokenIssuer(KEY, self.clock), console=self.console.app()
        )
        self.client = TestClient(self.app, follow_redirects=False)

    async def wait(self, seconds: float) -> None:
        """The brake's wait, noted and not slept."""
        self.waits.append(seconds)

    def csrf(self, path: str = "/console/sign-in") -> str:
        page = self.client.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def sign_in(self, name: str = "alice", password: str = PASSWORD) -> None:
        answer = self.client.post(
            "/console/sign-in",
            data={"csrf": self.csrf(), "name": name, "password": password},
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/console/"

    def create(self) -> str:
        answer = self.client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-a", "rawEmails": ["person@example.com"]},
            headers=self.basic,
        )
        assert answer.status_code == 202, answer.text
        task_id: str = answer.json()["taskId"]
        return task_id


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    with made.client:
        yield made


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_sends_a_stranger_to_sign_in(site: Site, path: str) -> None:
    answer = site.client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=/console/")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_form_refuses_a_stranger_and_changes_nothing(site: Site, path: str) -> None:
    task_id = site.create()
    answer = site.client.post(path.replace(TASK, task_id), data={"reason": "x", "confirm": "yes"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")
    assert site.store.get(task_id).version == 1  # type: ignore[union-attr]
    assert not site.store.get_app(site.app_id).revoked  # type: ignore[union-attr]
    assert site.store.get_account("acct-a") is not None


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
@pytest.mark.parametrize("path", GET_ROUTES)
def test_client_credentials_never_open_the_console(site: Site, scheme: str, path: str) -> None:
    headers = site.basic
    if scheme == "bearer":
        token = site.client.post(
            "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=site.basic
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
    answer = site.client.get(path, headers=headers)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")


def test_an_operator_session_never_opens_the_client_api(site: Site) -> None:
    site.sign_in()
    cookie = site.client.cookies.get("deletion_requests_console")
    assert cookie
    for method, path in [
        ("GET", "/data/deletion-requests"),
        ("POST", "/data/deletion-requests/emails"),
        ("DELETE", f"/data/deletion-requests/{TASK}"),
    ]:
        answer = site.client.request(
            method, path, headers={"Cookie": f"deletion_requests_console={cookie}"}
        )
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["error"] == "AUTHENTICATION_ERROR"


def test_the_session_cookie_is_signed_httponly_strict_and_scoped(site: Site) -> None:
    answer = site.client.get("/console/sign-in")
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert "max-age=1800" in cookie.lower()
    assert "secure" not in cookie.lower()
    secure = Site(ConsoleSettings(secure_cookies=True))
    with secure.client:
        assert "; secure" in secure.client.get("/console/sign-in").headers["set-cookie"]
    # A forged cookie is no session.
    site.client.cookies.set("deletion_requests_console", "eyJvcGVyYXRvciI6ICJhbGljZSJ9.x.y")
    assert site.client.get("/console/").status_code == 303


def test_forms_without_the_csrf_token_are_refused_with_a_page(site: Site) -> None:
    task_id = site.create()
    site.sign_in()
    for data in ({"reason": "r"}, {"reason": "r", "csrf": "wrong"}):
        answer = site.client.post(f"/console/tasks/{task_id}/hold", data=data)
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("text/html")
        assert "security token" in answer.text
    assert site.store.get(task_id).held_time is None  # type: ignore[union-attr]
    # Sign-in and sign-out carry one too.
    fresh = TestClient(site.app, follow_redirects=False)
    refused = fresh.post("/console/sign-in", data={"name": "alice", "password": PASSWORD})
    assert refused.status_code == 403
    assert site.client.post("/console/sign-out", data={}).status_code == 403
    assert site.client.get("/console/").status_code == 200  # still signed in


def test_decisions_go_through_the_use_cases_as_the_operator(site: Site) -> None:
    task_id = site.create()
    site.sign_in()
    token = site.csrf(f"/console/tasks/{task_id}")
    answer = site.client.post(
        f"/console/tasks/{task_id}/hold", data={"csrf": token, "reason": "legal  hold"}
    )
    assert answer.status_code == 303
    held = site.store.get(task_id)
    assert held is not None
    assert held.held_time == T0
    assert (held.history[-1].by, held.history[-1].detail) == ("operator:alice", "legal hold")
    again = site.client.post(f"/console/tasks/{task_id}/hold", data={"csrf": token, "reason": "x"})
    assert again.status_code == 409
    assert "already" in again.text.lower()
    blank = site.client.post(f"/console/tasks/{task_id}/cancel", data={"csrf": token})
    assert blank.status_code == 400
    assert "reason" in blank.text
    site.clock.advance(dt.timedelta(days=20))
    site.sign_in()  # the session ended meanwhile
    token = site.csrf(f"/console/tasks/{task_id}")
    form = {"csrf": token, "reason": "r", "confirm": "yes"}
    done = site.client.post(f"/console/tasks/{task_id}/cancel", data=form)
    assert done.status_code == 303  # held: cancellable past its deadline
    task = site.store.get(task_id)
    assert task is not None
    assert task.cancelled_time is not None
    assert site.client.get(f"/console/tasks/{task_id}").text.count("operator:alice") == 2


def test_error_pages_are_html_and_echo_nothing(site: Site) -> None:
    site.sign_in()
    token = site.csrf("/console/")
    cases = [
        ("GET", "/console/no-such-page/person@example.com", {}, 404),
        ("GET", f"/console/tasks/{TASK}", {}, 404),
        ("GET", "/console/tasks/not-a-task-id", {}, 404),
        ("POST", f"/console/tasks/{TASK}/hold", {"csrf": token, "reason": "r"}, 404),
        ("POST", f"/console/tasks/{TASK}/approve", {"csrf": token}, 404),
        ("DELETE", "/console/", {}, 405),
        ("POST", "/console/access/widgets/x/revoke", {"csrf": token, "confirm": "yes"}, 404),
        ("POST", "/console/access/apps/app_none/revoke", {"csrf": token, "confirm": "yes"}, 404),
        ("GET", "/console/export/download?format=xml", {}, 400),
        ("GET", "/console/export/download?since=yesterday", {}, 400),
    ]
    for method, path, data, status in cases:
        answer = site.client.request(method, path, data=data or None)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "person@example.com" not in answer.text
        assert "<h1>" in answer.text
    stranger = TestClient(site.app, follow_redirects=False)
    lost = stranger.get("/console/nowhere")
    assert lost.status_code == 404
    assert "Sign in" in lost.text


def test_find_hashes_the_email_and_does_not_echo_it(site: Site) -> None:
    task_id = site.create()
    site.sign_in()
    token = site.csrf("/console/find")
    found = site.client.post(
        "/console/find", data={"csrf": token, "subject": " Person@Example.com "}
    )
    assert found.status_code == 200
    assert task_id in found.text
    assert "person@example.com" not in found.text.lower()
    by_id = site.client.post("/console/find", data={"csrf": token, "subject": task_id.upper()})
    assert by_id.status_code == 303
    assert by_id.headers["location"].endswith(task_id)
    bad = site.client.post("/console/find", data={"csrf": token, "subject": "not-a-hash"})
    assert bad.status_code == 400
    assert "not-a-hash" not in bad.text


def test_revoking_an_app_asks_first_then_revokes(site: Site) -> None:
    site.sign_in()
    token = site.csrf("/console/access")
    path = f"/console/access/apps/{site.app_id}/revoke"
    asked = site.client.post(path, data={"csrf": token})
    assert asked.status_code == 200
    assert "Yes, revoke" in asked.text
    assert not site.store.get_app(site.app_id).revoked  # type: ignore[union-attr]
    done = site.client.post(path, data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    assert site.store.get_app(site.app_id).revoked  # type: ignore[union-attr]
    listing = site.client.get("/data/deletion-requests", headers=site.basic)
    assert listing.status_code == 403


def test_the_access_page_shows_when_each_app_was_last_used(site: Site) -> None:
    site.sign_in()
    assert "never" in site.client.get("/console/access").text
    site.clock.advance(dt.timedelta(hours=2))
    site.client.get("/data/deletion-requests", headers=site.basic)
    site.sign_in()  # two idle hours ended the session
    page = site.client.get("/console/access").text
    assert "2026-03-01 11:00 UTC" in page
    assert "never" not in page


def test_export_downloads_csv_and_jsonl(site: Site) -> None:
    task_id = site.create()
    site.sign_in()
    csv_file = site.client.get("/console/export/download?format=csv")
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    lines = csv_file.text.splitlines()
    assert lines[0].startswith("taskId,accountId,status")
    assert task_id in lines[1]
    jsonl = site.client.get("/console/export/download?format=jsonl&since=2026-03-01")
    assert task_id in jsonl.text
    assert "identifiers" not in jsonl.text
    empty = site.client.get("/console/export/download?format=jsonl&until=2026-02-28")
    assert empty.text == ""


def test_no_console_when_it_is_not_mounted() -> None:
    clock = ManualClock(T0)
    service = DeletionService(MemoryStore(), clock, Policy())
    app = create_app(service, TokenIssuer(KEY, clock))
    with TestClient(app) as client:
        answer = client.get("/console/")
        assert answer.status_code == 404
        assert answer.json()["error"]["error"] == "NOT_FOUND"


def test_the_access_log_names_console_routes_by_template(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "deletion_requests.http.access")
    site.sign_in()
    site.client.get(f"/console/tasks/{TASK}")
    site.client.get("/console/person@example.com")
    site.client.get("/console/static/console.css")
    access = [r for r in caplog.records if r.name == "deletion_requests.http.access"]
    paths = [r.path for r in access]  # type: ignore[attr-defined]
    assert "/console/tasks/{task_id}" in paths
    assert "/console/{path}" in paths
    assert "/console/static/{path}" in paths
    assert not any("example.com" in r.getMessage() or TASK in r.getMessage() for r in access)


def test_the_task_page_shows_the_due_date_and_extends_it_with_a_reason(site: Site) -> None:
    task_id = site.create()
    site.sign_in()
    page = site.client.get(f"/console/tasks/{task_id}")
    assert "Due date" in page.text
    assert "at most 45" in page.text
    token = site.csrf(f"/console/tasks/{task_id}")
    for days, status, words in (
        ("", 400, "whole number"),
        ("\u00b2", 400, "whole number"),
        ("\u0661\u0662", 400, "whole number"),
        ("1" * 5000, 400, "whole number"),
        ("-3", 400, "at least 1"),
        ("46", 409, "at most 45 days"),
        ("10000000", 409, "at most 45 days (the policy&#39;s extension limit), not 10000000"),
    ):
        refused = site.client.post(
            f"/console/tasks/{task_id}/extend", data={"csrf": token, "days": days, "reason": "r"}
        )
        assert refused.status_code == status
        assert words in refused.text
    no_reason = site.client.post(
        f"/console/tasks/{task_id}/extend", data={"csrf": token, "days": "3"}
    )
    assert no_reason.status_code == 400
    assert site.store.get(task_id).due_time == T0 + dt.timedelta(days=30)  # type: ignore[union-attr]
    answer = site.client.post(
        f"/console/tasks/{task_id}/extend",
        data={"csrf": token, "days": "14", "reason": "backups restore slowly"},
    )
    assert answer.status_code == 303
    extended = site.store.get(task_id)
    assert extended is not None
    assert extended.due_time == T0 + dt.timedelta(days=44)
    step = extended.history[-1]
    assert (step.event, step.by) == ("deadline_extended", "operator:alice")
    assert step.detail.endswith(": backups restore slowly")
    page = site.client.get(f"/console/tasks/{task_id}")
    assert "extended from" in page.text
    assert "at most 31" in page.text
    site.clock.advance(dt.timedelta(days=44))
    site.sign_in()
    assert "can no longer be extended" in site.client.get(f"/console/tasks/{task_id}").text
