"""What every route shares: unknown routes and methods, store failures and unexpected errors
in the envelope, mounting under a prefix, repeated headers, clients that leave mid-body,
request ids, headers on every answer, health, and the OpenAPI document and docs page."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http.testing import http_scope
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from deletion_requests import DeletionService, ManualClock, StoreError, open_store

from .conftest import EMAILS, KEY, T0, TASKS, World, assert_error


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
        "/destinations/{name}/jobs/claim",
        "/destinations/{name}/jobs/outcomes",
        "/destinations/{name}/jobs/{jobId}/outcome",
        "/data/deletion-requests/{taskId}/destinations/{name}/outcome",
        "/healthz",
        "/openapi.json",
    }


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
