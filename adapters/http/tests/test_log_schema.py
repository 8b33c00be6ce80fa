"""The JSON log of a whole run of a real server (`serve --log-format json`): every line
follows the documented Elastic Common Schema table, each key with one type, and no line
carries a query string or a secret."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from deletion_requests_http._logs import EcsFormatter
from deletion_requests_http.testing import serving

from deletion_requests import (
    AccessAdmin,
    Breaker,
    DeletionService,
    DeliveryFailed,
    Destination,
    DestinationWork,
    Job,
    ManualClock,
    MemoryStore,
    Mode,
    Outcome,
    Policy,
    SystemClock,
    open_store,
)
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import new_signing_secret

from .conftest import cli

ACCOUNT = "acct-logs"
SECRET = new_signing_secret()
TASKS = "/data/deletion-requests"
QUERY_SECRET = "query-token-0123456789"  # noqa: S105 (a marker the log must not carry)

SCHEMA: dict[str, type] = {
    "@timestamp": str,
    "log.level": str,
    "log.logger": str,
    "message": str,
    "ecs.version": str,
    "http.request.id": str,
    "http.request.method": str,
    "url.path": str,
    "http.response.status_code": int,
    "event.duration": int,
    "event.action": str,
    "event.reason": str,
    "server.address": str,
    "server.port": int,
    "deletion_requests.app.id": str,
    "deletion_requests.app.id_tried": str,
    "deletion_requests.task.id": str,
    "deletion_requests.account.id": str,
    "deletion_requests.task.status": str,
    "deletion_requests.task.at": str,
    "deletion_requests.task.by": str,
    "deletion_requests.workers": int,
    "deletion_requests.destination.name": str,
    "deletion_requests.destination.failures": int,
    "error.type": str,
    "error.message": str,
    "error.stack_trace": str,
}
"""The table of docs/operations.md: each key and its one type; `labels.*` are strings."""
REQUIRED = {"@timestamp", "log.level", "log.logger", "message", "ecs.version"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def check_line(line: dict[str, Any]) -> None:
    assert set(line) >= REQUIRED, line
    assert TIMESTAMP.fullmatch(line["@timestamp"]), line
    for key, value in line.items():
        kind = str if key.startswith("labels.") else SCHEMA.get(key)
        assert kind is not None, f"{key} is not in the schema: {line}"
        assert type(value) is kind, f"{key} is {type(value).__name__}, not {kind.__name__}"


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_whole_run_logs_lines_of_the_schema(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/logs.db"
    log = tmp_path / "server.log"
    cli("accounts", "allow", ACCOUNT, "--store", store)
    with WebhookReceiver("whsec_" + "A" * 43) as receiver:
        with open_store(store) as opened:
            admin = AccessAdmin(opened, SystemClock())
            app, secret = admin.create_app([ACCOUNT])
            hook = f"{receiver.url}?token={QUERY_SECRET}"
            receiver.secret = admin.set_callback(app.app_id, hook, allow_http=True)
        options = ("--log-format", "json", "--deliver-interval", "0.2", "--log-level", "debug")
        with (
            serving(store, log, *options) as running,
            httpx.Client(base_url=running.base_url) as client,
        ):
            token = client.post(
                "/auth/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": app.app_id,
                    "client_secret": secret,
                },
            ).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            created = client.post(
                f"{TASKS}/emails",
                headers=bearer,
                json={"accountId": ACCOUNT, "rawEmails": ["person@example.com"]},
            )
            assert created.status_code == 202, created.text
            task_id = created.json()["taskId"]
            listed = client.get(TASKS, headers=bearer, params={"accountId": ACCOUNT})
            assert listed.status_code == 200
            assert client.get(TASKS, headers={"Authorization": "Bearer nope"}).status_code == 403
            assert client.get(TASKS, headers=bearer, params={"limit": "x"}).status_code == 400
            assert client.delete(f"{TASKS}/{task_id}", headers=bearer).status_code == 200
            wait_for(lambda: any(b["eventType"] == "cancelled" for b in receiver.acknowledged))
            time.sleep(0.5)  # the delivery's own log lines
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        check_line(line)
    access = [line for line in lines if line["log.logger"] == "deletion_requests.http.access"]
    statuses = sorted(line["http.response.status_code"] for line in access)
    assert {200, 202, 400, 403} <= set(statuses)
    assert any(line.get("deletion_requests.task.status") == "cancelled" for line in lines)
    assert "?" not in "".join(line["url.path"] for line in access)
    for secret_text in (QUERY_SECRET, secret, token, "person@example.com", "limit=x"):
        assert secret_text not in text


def test_the_formatter_gives_each_field_its_type_or_a_string_label() -> None:
    record = logging.makeLogRecord(
        {
            "name": "x",
            "levelname": "INFO",
            "msg": "m",
            "port": "8000",  # not an integer: kept, as a string label
            "workers": 2,
            "status": "ready",
            "custom": 5,
            "request_id": None,
        }
    )
    line = json.loads(EcsFormatter().format(record))
    check_line(line)
    assert line["labels.port"] == "8000"
    assert line["deletion_requests.workers"] == 2
    assert line["deletion_requests.task.status"] == "ready"
    assert line["labels.custom"] == "5"
    assert "http.request.id" not in line


def test_a_breaker_that_opens_is_logged_with_its_destination_and_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account(ACCOUNT)
    app, secret = admin.create_app([ACCOUNT])
    service = DeletionService(store, clock)
    work = DestinationWork(service, breaker=Breaker(failures=1, window=dt.timedelta(0)))
    work.add(Destination("crm", Mode.PUSH, clock.now(), "http://127.0.0.1:9/", SECRET))
    service.create(service.authenticate(app.app_id, secret), ACCOUNT, raw_emails=["a@b.example"])
    clock.advance(Policy().cancel_period)
    work.advance_due()
    with caplog.at_level(logging.WARNING, "deletion_requests.destinations"):
        assert work.push_round(Refusing()).opened
    (record,) = caplog.records
    line = json.loads(EcsFormatter().format(record))
    check_line(line)
    assert line["deletion_requests.destination.name"] == "crm"
    assert line["deletion_requests.destination.failures"] == 1
    assert line["event.action"] == "destination.breaker_opened"
    assert line["event.reason"] == "HTTP 503"


class Refusing:
    """A job sender whose destination answers 503."""

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None:
        raise DeliveryFailed("HTTP 503")


@pytest.mark.parametrize("order", ["default", "after"])
def test_log_format_is_an_option_of_serve_too(tmp_path: Path, order: str) -> None:
    store = f"sqlite:///{tmp_path}/format.db"
    log = tmp_path / "server.log"
    cli("accounts", "allow", ACCOUNT, "--store", store)
    options = ("--log-format", "text") if order == "after" else ()
    with serving(store, log, *options):
        pass
    first = log.read_text().splitlines()[0]
    if order == "after":
        assert not first.startswith("{"), first
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", first)
    else:
        check_line(json.loads(first))


def test_event_times_are_utc() -> None:
    record = logging.makeLogRecord({"msg": "m", "created": 0.0})
    stamp = json.loads(EcsFormatter().format(record))["@timestamp"]
    assert dt.datetime.fromisoformat(stamp) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
