"""A client that openapi-python-client generates from the served /openapi.json, with no warning,
drives create, list, get, cancel and bulk cancel against a real server; and, for a pull
destination, claims its jobs and reports their outcomes, one job and a batch."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deletion_requests_http.testing import serving

from deletion_requests import (
    DeletionService,
    DeletionTask,
    Destination,
    DestinationWork,
    JobState,
    Mode,
    Status,
    open_store,
)
from deletion_requests._access import digest_secret
from deletion_requests.wire import hash_email, new_credential

from .conftest import cli

ACCOUNT = "2456192011195196284677"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "generated_deletion_client"
# The generated package gets a name of its own (not the project's client), and no formatter runs.
CONFIG = (
    f"package_name_override: {PACKAGE}\nproject_name_override: generated-client\npost_hooks: []\n"
)


def store_url(directory: Path) -> str:
    return f"sqlite:///{directory}/deletion-requests.db"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    store = store_url(tmp_path)
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


def actioned_jobs(store: str, count: int) -> tuple[str, set[str]]:
    """The pull destination `warehouse` and *count* tasks actioned just now, each with its job,
    written to *store* beside the running server; the destination's credential and the tasks'
    ids."""
    credential, now = new_credential(), dt.datetime.now(dt.UTC)
    created = now - dt.timedelta(days=16)
    with open_store(store) as opened:
        service = DeletionService(opened, subscribers=[])
        DestinationWork(service).add(
            Destination("warehouse", Mode.PULL, now, credential_digest=digest_secret(credential))
        )
        tasks = [
            DeletionTask(
                str(uuid.uuid4()),
                ACCOUNT,
                Status.PENDING,
                created,
                frozenset({hash_email(f"pulled{n}@example.com")}),
                created_by="app_test",
            )
            for n in range(count)
        ]
        for task in tasks:
            opened.add(task)
        service.advance_due()
    return credential, {task.task_id for task in tasks}


def test_a_generated_client_claims_jobs_and_reports_their_outcomes(
    server: tuple[str, str, str], generated: Any, tmp_path: Path
) -> None:
    base, _, _ = server
    api = importlib.import_module(f"{PACKAGE}.api.destinations")
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("claim_jobs", "report_outcome", "report_outcomes", "report_pushed_outcome"):
        importlib.import_module(f"{PACKAGE}.api.destinations.{name}")
    credential, task_ids = actioned_jobs(store_url(tmp_path), 3)

    with generated.AuthenticatedClient(base_url=base, token=credential) as client:
        claimed = api.claim_jobs.sync(
            "warehouse", client=client, body=models.ClaimRequest(limit=10)
        )
        assert isinstance(claimed, models.ClaimedJobs), claimed
        assert {str(job.task_id) for job in claimed.data} == task_ids
        assert all(len(job.identifiers) == 1 for job in claimed.data)
        first, second, third = claimed.data

        one = api.report_outcome.sync(
            "warehouse",
            first.job_id,
            client=client,
            body=models.OutcomeReport(outcome=models.OutcomeReportOutcome.DELETED),
        )
        assert isinstance(one, models.OutcomeRecorded), one
        assert (one.data.job_id, one.data.task_completed) == (first.job_id, True)

        batch = api.report_outcomes.sync(
            "warehouse",
            client=client,
            body=models.OutcomeReports(
                outcomes=[
                    models.JobOutcomeReport(
                        job_id=second.job_id, outcome=models.JobOutcomeReportOutcome.NOT_FOUND
                    ),
                    models.JobOutcomeReport(
                        job_id=third.job_id,
                        outcome=models.JobOutcomeReportOutcome.EXEMPT,
                        reason="invoices are kept for 10 years",
                    ),
                ]
            ),
        )
        assert isinstance(batch, models.OutcomesRecorded), batch
        assert [(r.job_id, r.outcome.value) for r in batch.data] == [
            (second.job_id, "not_found"),
            (third.job_id, "exempt"),
        ]

        # A different outcome for a final job comes back as the envelope's model.
        conflict = api.report_outcome.sync(
            "warehouse",
            first.job_id,
            client=client,
            body=models.OutcomeReport(outcome=models.OutcomeReportOutcome.NOT_FOUND),
        )
        assert isinstance(conflict, models.Error), conflict
        assert conflict.error.error == "CONFLICT"

    with generated.AuthenticatedClient(base_url=base, token=new_credential()) as stranger:
        refused = api.claim_jobs.sync(
            "warehouse", client=stranger, body=models.ClaimRequest(limit=1)
        )
        assert isinstance(refused, models.Error), refused
        assert refused.error.error == "AUTHENTICATION_ERROR"

    with open_store(store_url(tmp_path), create=False) as opened:
        work = DestinationWork(DeletionService(opened, subscribers=[]))
        for task_id in task_ids:
            task = opened.get(task_id)
            assert task is not None
            assert task.completed_time is not None
            assert [job.state for job in work.jobs(task_id)] == [JobState.FINAL]
