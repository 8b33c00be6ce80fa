"""A client that openapi-python-client generates from the served /openapi.json, with no warning,
drives create, list, get, cancel and bulk cancel against a real server."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deletion_requests_http.testing import serving

from .conftest import cli

ACCOUNT = "2456192011195196284677"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "generated_deletion_client"
# The generated package gets a name of its own (not the project's client), and no formatter runs.
CONFIG = (
    f"package_name_override: {PACKAGE}\nproject_name_override: generated-client\npost_hooks: []\n"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    store = f"sqlite:///{tmp_path}/deletion-requests.db"
    cli("accounts", "allow", ACCOUNT, "--store", store)
    created = json.loads(cli("apps", "create", "--account", ACCOUNT, "--json", "--store", store))
    with serving(store, tmp_path / "server.log") as running:
        yield running.base_url, created["appId"], created["appSecret"]


@pytest.fixture
def generated(
    server: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The generated package, imported from a temporary directory."""
    base, _, _ = server
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{base}/openapi.json").content)
    config = tmp_path / "generator.yml"
    config.write_text(CONFIG)
    out = tmp_path / "generated"
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.syspath_prepend(str(out))
    yield importlib.import_module(PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def test_a_generated_client_drives_the_api(server: tuple[str, str, str], generated: Any) -> None:
    base, app_id, secret = server
    api = importlib.import_module(f"{PACKAGE}.api.default")
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in (
        "token",
        "create_emails_deletion",
        "list_deletion_requests",
        "get_deletion_request",
        "cancel_deletion_request",
        "cancel_deletion_requests",
    ):
        importlib.import_module(f"{PACKAGE}.api.default.{name}")

    with generated.Client(base_url=base, httpx_args={"auth": (app_id, secret)}) as basic:
        token = api.token.sync(client=basic, body=models.TokenBody(grant_type="client_credentials"))
    assert isinstance(token, models.Token), token
    client = generated.AuthenticatedClient(base_url=base, token=token.access_token)

    with client:
        first = api.create_emails_deletion.sync(
            client=client,
            body=models.CreateRequest(account_id=ACCOUNT, raw_emails=["ann@example.com"]),
            idempotency_key="generated-client-1",
        )
        assert isinstance(first, models.Task), first
        assert first.status == models.TaskStatus.PENDING
        second = api.create_emails_deletion.sync(
            client=client,
            body=models.CreateRequest(
                account_id=ACCOUNT, sha_256_emails=["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="]
            ),
        )
        assert isinstance(second, models.Task), second

        listed = api.list_deletion_requests.sync(client=client, account_id=ACCOUNT, limit=10)
        assert isinstance(listed, list)
        assert {t.task_id for t in listed} == {first.task_id, second.task_id}

        detail = api.get_deletion_request.sync(task_id=first.task_id, client=client)
        assert isinstance(detail, models.TaskDetail), detail
        assert [entry.event for entry in detail.history] == ["created"]
        # A history event the server adds later parses as well: the type is open.
        raw = httpx.get(
            f"{base}/data/deletion-requests/{first.task_id}", auth=(app_id, secret)
        ).json()
        raw["history"][0]["event"] = "an.event.added.later"
        later = models.TaskDetail.from_dict(raw)
        assert later.history[0].event == "an.event.added.later"

        cancelled = api.cancel_deletion_request.sync(task_id=first.task_id, client=client)
        assert isinstance(cancelled, models.CancelResult), cancelled
        assert str(first.task_id) in cancelled.data.message

        bulk = api.cancel_deletion_requests.sync(
            client=client,
            body=models.CancellationsRequest(task_ids=[first.task_id, second.task_id]),
        )
        assert isinstance(bulk, models.CancellationsResult), bulk
        assert [(r.task_id, r.status.value) for r in bulk.results] == [
            (first.task_id, "already_cancelled"),
            (second.task_id, "cancelled"),
        ]

        # Errors come back as the envelope's model.
        missing = api.get_deletion_request.sync(
            task_id="3bc2e8b0-88ee-400c-8696-44897bc95cd3", client=client
        )
        assert isinstance(missing, models.Error), missing
        assert missing.error.error == "NOT_FOUND"
