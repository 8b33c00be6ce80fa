"""Every path of the API answers a method it does not take with 405, an `Allow` header that
lists the methods it does take, and the error envelope; a task id that is not a UUID is still
a 400 that names taskId."""

from __future__ import annotations

import pytest
from deletion_requests_http._openapi import openapi_document

from .conftest import World

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
TASK = "3bc2e8b0-88ee-400c-8696-44897bc95cd3"
JOB = "5d0c8a51-4c1e-5b7a-9f3e-2a6d1c7b8e90"
# Paths the document does not describe, which the server serves all the same.
UNDOCUMENTED = {"/metrics": {"GET"}, "/docs": {"GET"}, "/docs/init.js": {"GET"}}


def documented_paths() -> dict[str, set[str]]:
    """Each path of the document, with a concrete task id, job id and destination name, and
    the methods it takes."""
    paths = {}
    for template, item in openapi_document()["paths"].items():
        methods = {m.upper() for m in item if m in {x.lower() for x in METHODS}}
        path = template.replace("{taskId}", TASK).replace("{jobId}", JOB)
        paths[path.replace("{name}", "crm" if "/data/" in path else "warehouse")] = methods
    return paths


def cases() -> list[tuple[str, str, set[str]]]:
    out = []
    for path, allowed in {**documented_paths(), **UNDOCUMENTED}.items():
        if "GET" in allowed:
            allowed = allowed | {"HEAD"}
        out += [(path, method, allowed) for method in METHODS if method not in allowed]
    return out


def test_the_document_paths_are_the_ones_expected() -> None:
    assert set(documented_paths()) >= {
        "/auth/oauth2/token",
        "/data/deletion-requests",
        "/data/deletion-requests/emails",
        "/data/deletion-requests/cancellations",
        f"/data/deletion-requests/{TASK}",
        f"/data/deletion-requests/{TASK}/completion",
        f"/data/deletion-requests/{TASK}/destinations/crm/outcome",
        "/destinations/warehouse/jobs/claim",
        "/destinations/warehouse/jobs/outcomes",
        f"/destinations/warehouse/jobs/{JOB}/outcome",
        "/healthz",
        "/openapi.json",
    }


@pytest.mark.parametrize(("path", "method", "allowed"), cases())
def test_a_wrong_method_is_405_with_allow(
    world: World, path: str, method: str, allowed: set[str]
) -> None:
    response = world.client.request(method, path, headers=world.a)
    assert response.status_code == 405, (method, path, response.text)
    assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed
    if method != "HEAD":
        assert response.json()["error"]["error"] == "METHOD_NOT_ALLOWED"
        assert response.json()["error"]["code"] == 405


@pytest.mark.parametrize("task_id", ["not-a-uuid", "email", "emails.json", "cancellation", "123"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_task_id_that_is_not_a_uuid_is_still_a_400(
    world: World, task_id: str, method: str
) -> None:
    response = world.client.request(method, f"/data/deletion-requests/{task_id}", headers=world.a)
    assert response.status_code == 400, response.text
    assert "taskId" in response.json()["error"]["message"]
