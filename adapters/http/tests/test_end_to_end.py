"""The README walk-through against a real server started by the CLI on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deletion_requests_http.testing import run_cli, serving

from deletion_requests import open_store

ACCOUNT = "2456192011195196284677"


def cli(*args: str, store: str) -> str:
    return run_cli(*args, "--store", store)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    store = f"sqlite:///{tmp_path}/deletion-requests.db"
    log = tmp_path / "server.log"
    cli("accounts", "allow", ACCOUNT, store=store)
    with serving(store, log, "--advance-interval", "1") as running:
        yield store, running.base_url, log


def test_readme_walk_through(server: tuple[str, str, Path], tmp_path: Path) -> None:
    store, base, log = server
    created = json.loads(cli("apps", "create", "--account", ACCOUNT, "--json", store=store))
    app_id, secret = created["appId"], created["appSecret"]

    token = httpx.post(
        f"{base}/auth/oauth2/token",
        auth=(app_id, secret),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    response = httpx.post(
        f"{base}/data/deletion-requests/emails",
        headers=bearer,
        json={
            "accountId": ACCOUNT,
            "rawEmails": ["test@test.com"],
            "sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="],
        },
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["taskId"]

    listed = httpx.get(f"{base}/data/deletion-requests", headers=bearer).json()
    assert [t["taskId"] for t in listed] == [task_id]
    assert listed[0]["status"] == "pending"

    cancelled = httpx.delete(f"{base}/data/deletion-requests/{task_id}", headers=bearer)
    assert cancelled.json() == {
        "data": {"message": f"successful cancelled task with taskId: {task_id}"}
    }
    shown = httpx.get(f"{base}/data/deletion-requests/{task_id}", auth=(app_id, secret)).json()
    assert shown["status"] == "cancelled"
    assert "cancelled" in cli("tasks", "list", store=store)

    time.sleep(0.5)  # let the access log flush
    text = log.read_text()
    # Every line is one JSON object (the server's output is not a terminal), whatever logged
    # it: Granian, the access log, lifecycle events.
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"@timestamp", "log.level", "log.logger", "message"} <= set(r) for r in records)
    assert {"_granian", "deletion_requests.events"} <= {r["log.logger"] for r in records}
    # One access line a request, naming the route (never the task id or a query string).
    access = [r for r in records if r["log.logger"] == "deletion_requests.http.access"]
    assert all(r["http.request.id"] for r in access)
    # A record logged while a request is handled carries its id: the cancel's event, the
    # DELETE's id.
    (cancel,) = [r for r in records if r.get("deletion_requests.task.status") == "cancelled"]
    (delete,) = [r for r in access if r["http.request.method"] == "DELETE"]
    assert cancel["http.request.id"] == delete["http.request.id"]
    assert cancel["deletion_requests.task.by"] == app_id
    requests = [
        (a["http.request.method"], a["url.path"].rsplit("/", 1)[-1], a["http.response.status_code"])
        for a in access
    ]
    assert [r for r in requests if r[1] != "healthz"] == [
        ("POST", "token", 200),
        ("POST", "emails", 202),
        ("GET", "deletion-requests", 200),
        ("DELETE", "{task_id}", 200),
        ("GET", "{task_id}", 200),
    ]
    assert "test@test.com" not in text
    assert secret not in text
    assert token not in text
    database = Path(store.removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):
        assert b"test@test.com" not in path.read_bytes()


def test_server_says_how_to_create_an_app(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/fresh.db"
    log = tmp_path / "server.log"
    with serving(store, log):
        pass
    assert "deletion-requests apps create --account" in log.read_text()
    assert (tmp_path / "fresh.db").exists()


@pytest.mark.skipif(
    shutil.which("jq") is None or shutil.which("curl") is None, reason="needs jq and curl"
)
def test_the_readme_walk_through_runs_as_written(tmp_path: Path) -> None:
    """The README's first shell block, line by line, against a real server: only the port and
    the way the CLI is run (`uv run` from the clone) differ."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    walk = readme.split("## A walk-through with curl", 1)[1]
    script = re.search(r"```sh\n(.*?)```", walk, re.DOTALL)
    assert script is not None
    store = f"sqlite:///{tmp_path}/deletion-requests.db"
    with serving(store, tmp_path / "server.log") as running:
        port = running.base_url.rsplit(":", 1)[1]
        text = script.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        text = text.replace(
            "uv run deletion-requests", f"{sys.executable} -m deletion_requests_http"
        )
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", text + '\necho "TASK=$TASK_ID"'],
            cwd=tmp_path,
            env={**os.environ, "DELETION_REQUESTS_STORE": store},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    task_id = result.stdout.rsplit("TASK=", 1)[1].strip()
    assert len(task_id) == 36
    assert "successful cancelled task with taskId" in result.stdout
    with open_store(store) as opened:
        cancelled = opened.get(task_id)
    assert cancelled is not None
    assert cancelled.status.value == "cancelled"
