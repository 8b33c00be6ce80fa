"""`GET /metrics`: Prometheus text from every worker and the supervisor (multiprocess mode),
the store's numbers read at scrape time, served to loopback or to the metrics token only."""

from __future__ import annotations

import base64
import re
import time
import uuid
from pathlib import Path

import httpx
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http.testing import serving
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from deletion_requests import (
    DeletionService,
    ManualClock,
    MemoryStore,
    Policy,
)
from deletion_requests.testing import WebhookReceiver

from .conftest import KEY, T0, basic, cli
from .test_handoff_server import due_task

SECRET = "whsec_" + base64.b64encode(b"a-shared-webhook-secret-for-tests").decode()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (sample, given), value in found.items()
        if sample == name and set(labels.items()) <= set(given)
    )


def test_one_scrape_sees_every_worker_the_supervisor_and_the_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/metrics.db"
    cli("accounts", "allow", "acct-1", "--store", store)
    made = cli("apps", "create", "--account", "acct-1", "--json", "--store", store)
    app = re.search(r'"appId": "([^"]+)", "appSecret": "([^"]+)"', made)
    assert app
    headers = basic(app.group(1), app.group(2))
    due_task(store, age_days=16)  # owes its hand-off
    with WebhookReceiver(SECRET) as receiver:
        options = (
            "--workers",
            "2",
            "--handoff-url",
            receiver.url,
            "--webhook-secret",
            SECRET,
            "--deliver-interval",
            "0.2",
            "--token-rate-limit",
            "3/minute",
        )
        with (
            serving(store, tmp_path / "server.log", *options) as running,
            httpx.Client(base_url=running.base_url) as client,
        ):
            for _ in range(3):
                created = client.post(
                    "/data/deletion-requests/emails",
                    headers=headers,
                    json={"accountId": "acct-1", "rawEmails": ["x@example.com"]},
                )
                assert created.status_code == 202
            for _ in range(40):
                assert client.get("/data/deletion-requests", headers=headers).status_code == 200
            client.get(f"/data/deletion-requests/{uuid.uuid4()}", headers=headers)
            client.get("/person@example.com")
            for _ in range(4):  # one refused secret, then over the token limit
                client.post(
                    "/auth/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    headers=basic(app.group(1), "wrong"),
                )
            deadline = time.monotonic() + 20
            while not receiver.acknowledged:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            time.sleep(0.5)
            scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "example.com" not in scraped.text
    found = samples(scraped.text)
    requests = "deletion_requests_http_requests_total"
    # Whichever of the two workers answered each listing, one scrape counts them all.
    assert total(found, requests, route="/data/deletion-requests", method="GET") == 40
    assert total(found, requests, route="/data/deletion-requests/emails", status="202") == 3
    assert total(found, requests, route="/data/deletion-requests/{task_id}", status="404") == 1
    assert total(found, requests, route="(no route)", status="404") == 1
    assert total(found, "deletion_requests_http_request_duration_seconds_count") >= 45
    # The supervisor's deliveries (no worker delivers), read from its files by the worker
    # that answered the scrape.
    attempts = "deletion_requests_delivery_attempts_total"
    assert total(found, attempts, kind="handoff", outcome="delivered") == 1
    assert total(found, "deletion_requests_review_alerts_sent_total") == 1
    assert total(found, "deletion_requests_token_request_failures_total") == 3
    assert total(found, "deletion_requests_rate_limited_requests_total", limit="token") == 1
    # The store's numbers, read at the scrape.
    assert total(found, "deletion_requests_tasks", status="pending") == 3
    assert total(found, "deletion_requests_tasks", status="actioned") == 1
    assert total(found, "deletion_requests_outbox_owed", kind="handoff") == 0
    assert total(found, "deletion_requests_tasks_overdue") == 0


def test_a_metrics_token_guards_the_scrape(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/guarded.db"
    with serving(store, tmp_path / "server.log", "--metrics-token", "t" * 32) as running:
        refused = httpx.get(f"{running.base_url}/metrics")
        assert refused.status_code == 403
        assert refused.json()["error"]["error"] == "AUTHENTICATION_ERROR"
        wrong = httpx.get(f"{running.base_url}/metrics", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 403
        allowed = httpx.get(
            f"{running.base_url}/metrics", headers={"Authorization": f"Bearer {'t' * 32}"}
        )
        assert allowed.status_code == 200
        assert "deletion_requests_tasks" in allowed.text


def test_without_a_token_only_loopback_may_scrape() -> None:
    clock = ManualClock(T0)
    service = DeletionService(MemoryStore(), clock, Policy())
    app = create_app(service, TokenIssuer(KEY, clock))
    refused = TestClient(app).get("/metrics")  # the test client's address is "testclient"
    assert refused.status_code == 403
    assert "loopback" in refused.json()["error"]["message"]
    here = TestClient(app, client=("127.0.0.1", 50000)).get("/metrics")
    assert here.status_code == 200
    outbox = samples(here.text)
    assert total(outbox, "deletion_requests_outbox_owed") == 0
