"""`bootstrap`: one composition of the application from `Settings`, for the CLI, `serve`, its
workers and the tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from deletion_requests_http import Settings, TokenIssuer, bootstrap
from deletion_requests_http._serve import Processes, worker_environment, worker_settings
from deletion_requests_http.console import ConsoleSettings
from deletion_requests_http.testing import bootstrapped, serving
from starlette.testclient import TestClient

from deletion_requests import HANDOFF, REVIEW, ManualClock, Policy

from .conftest import T0, basic, cli

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = "a-signing-key-of-forty-characters-or-so!"
METRICS_TOKEN = "scrape-me"  # noqa: S105 (a test value)


def test_the_service_has_the_lease_and_policy_of_the_settings_from_the_start() -> None:
    policy = Policy(retention=dt.timedelta(days=7))
    application = bootstrapped(policy=policy, delivery_lease=dt.timedelta(seconds=9))
    assert application.service.lease == dt.timedelta(seconds=9)
    assert application.service.policy == policy
    application.close()


def test_one_operators_serves_the_cli_the_console_and_the_metrics() -> None:
    clock = ManualClock(T0)
    application = bootstrapped(
        clock=clock, console=ConsoleSettings(), signing_key=KEY, metrics_token=METRICS_TOKEN
    )
    assert application.console is not None
    assert application.console.operators is application.operators
    assert application.operators.service is application.service
    assert application.service.clock is clock
    assert application.tokens.clock is clock
    application.admin.allow_account("acct-1")
    app, secret = application.admin.create_app(["acct-1"])
    with TestClient(application.http()) as client:
        created = client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-1", "rawEmails": ["a@example.com"]},
            headers=basic(app.app_id, secret),
        )
        assert created.status_code == 202, created.text
        scrape = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert 'deletion_requests_tasks{status="pending"} 1.0' in scrape.text
    application.close()


def test_only_a_delivering_application_has_sinks_and_delivery_rounds() -> None:
    quiet = bootstrapped()
    assert quiet.sinks == {}
    assert quiet.callbacks is None
    assert [each.name for each in quiet.background().rounds] == ["maintenance"]
    delivering = bootstrapped(deliver=True, handoff_url="https://d.example/", webhook_secret=SECRET)
    assert sorted(delivering.sinks) == sorted([HANDOFF, REVIEW])
    assert delivering.callbacks is not None
    assert [each.name for each in delivering.background().rounds] == ["maintenance", "delivery"]
    for application in (quiet, delivering):
        application.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"webhook_secret": "hunter2"}, "whsec_"),
        ({"handoff_url": "https://d.example/"}, "needs a webhook secret"),
        ({"review_url": "https://r.example/"}, "needs a webhook secret"),
        ({"rate_limit": "lots"}, "--rate-limit 'lots' is not a rate limit"),
        ({"token_rate_limit": "5 per fortnight"}, "--token-rate-limit"),
    ],
)
def test_settings_that_cannot_work_are_refused_by_name(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**settings)  # type: ignore[arg-type]


def test_a_part_that_cannot_be_built_opens_no_store(tmp_path: Path) -> None:
    settings = Settings(
        f"sqlite:///{tmp_path}/never.db", rate_limit="5/second", rate_limit_store="pigeon://x"
    )
    with pytest.raises(ValueError, match="--rate-limit-store"):
        bootstrap(settings)
    assert not (tmp_path / "never.db").exists()


def test_workers_get_every_setting_but_the_clock() -> None:
    settings = Settings(
        "sqlite:///w.db",
        clock=ManualClock(T0),
        policy=Policy(retention=dt.timedelta(days=2.5)),
        signing_key=KEY,
        delivery_lease=dt.timedelta(seconds=30),
        webhook_secret=SECRET,
        handoff_url="https://d.example/",
        deliver=True,
        rate_limit="5/second",
        metrics_token=METRICS_TOKEN,
        console=ConsoleSettings(secure_cookies=True, idle_timeout=60),
    )
    processes = Processes(settings, workers=3, log_level="debug", log_format="text")
    received = worker_settings(json.loads(worker_environment(processes)))
    assert received == Processes(settings, 3, "debug", "text")
    assert not isinstance(received.application.clock, ManualClock)


def test_serve_signs_tokens_with_the_key_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DELETION_REQUESTS_SIGNING_KEY` is the key of every worker, not only of the commands."""
    store = f"sqlite:///{tmp_path}/key.db"
    cli("accounts", "allow", "acct-1", "--store", store)
    made = json.loads(cli("apps", "create", "--account", "acct-1", "--json", "--store", store))
    monkeypatch.setenv("DELETION_REQUESTS_SIGNING_KEY", KEY)
    with serving(store, tmp_path / "server.log", "--no-console") as running:
        answer = httpx.post(
            f"{running.base_url}/auth/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic(made["appId"], made["appSecret"]),
        )
    assert answer.status_code == 200, answer.text
    issuer = TokenIssuer(KEY, ManualClock(dt.datetime.now(dt.UTC)))
    assert issuer.verify(answer.json()["access_token"]) == made["appId"]
