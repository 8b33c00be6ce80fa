"""The CLI: every command through click's runner, errors as one line, docs cover every command."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from deletion_requests_http._cli import _all_commands, main

from deletion_requests import AccessAdmin, Caller, DeletionService, ManualClock, open_store
from deletion_requests.testing import WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@contextmanager
def seeded(
    store_url: str, days_ago: float
) -> Iterator[tuple[DeletionService, Caller, ManualClock]]:
    """The CLI's store with acct-1 allow-listed and an app for it, and a service whose clock
    starts *days_ago* in the past (so tasks it creates are that old for the CLI)."""
    with open_store(store_url) as store:
        clock = ManualClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago))
        admin = AccessAdmin(store, clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        service = DeletionService(store, clock)
        yield service, service.authenticate(app.app_id, secret), clock


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def test_accounts_allow_list_revoke(store_url: str) -> None:
    assert "allowed acct-1" in run("accounts", "allow", "acct-1", "--store", store_url)
    run("accounts", "allow", "acct-2", "--store", store_url)
    listing = run("accounts", "list", "--store", store_url)
    assert listing.splitlines()[0].split() == ["ACCOUNT", "ALLOWED"]
    assert "acct-1" in listing
    assert "acct-2" in listing
    assert "revoked acct-1" in run("accounts", "revoke", "acct-1", "--store", store_url)
    assert "acct-1" not in run("accounts", "list", "--store", store_url)


def test_apps_create_shows_the_secret_once(store_url: str) -> None:
    run("accounts", "allow", "a", "--store", store_url)
    run("accounts", "allow", "b", "--store", store_url)
    created = json.loads(
        run("apps", "create", "--account", "a", "--account", "b", "--json", "--store", store_url)
    )
    assert created["accounts"] == ["a", "b"]
    listing = run("apps", "list", "--store", store_url)
    assert created["appId"] in listing
    assert created["appSecret"] not in listing
    assert "active" in listing
    assert "revoked" in run("apps", "revoke", created["appId"], "--store", store_url)
    assert "revoked" in run("apps", "list", "--store", store_url)
    human = run("apps", "create", "--account", "a", "--store", store_url)
    assert re.search(r"AppSecret: \S{20,}", human)


def test_advance_and_tasks_list(store_url: str, tmp_path: Path) -> None:
    with seeded(store_url, days_ago=13) as (service, caller, clock):
        old = service.create(caller, "acct-1", raw_emails=["a@b.c"])
        clock.advance(dt.timedelta(days=13))
        young = service.create(caller, "acct-1", raw_emails=["d@e.f"])
    table = run("tasks", "list", "--store", store_url)
    assert table.splitlines()[0].split() == [
        "TASK",
        "ACCOUNT",
        "STATUS",
        "CREATED",
        "READY",
        "ACTIONED",
        "CANCELLED",
        "COMPLETED",
        "DUE",
    ]
    assert old.task_id in table
    assert young.task_id in table
    ready = run("tasks", "list", "--status", "ready", "--store", store_url)
    assert old.task_id in ready
    assert young.task_id not in ready
    assert "moved 1 task(s)" in run("advance", "--store", store_url)
    assert "moved 0 task(s)" in run("advance", "--store", store_url)
    assert young.task_id in run(
        "tasks", "list", "--account", "acct-1", "--status", "pending", "--store", store_url
    )


def test_hand_off_from_the_command_line(store_url: str) -> None:
    """advance marks overdue tasks, tasks list --overdue shows them, tasks complete settles
    them, and deliver sends the owed messages to a webhook."""
    with seeded(store_url, days_ago=31) as (service, caller, clock):
        late = service.create(caller, "acct-1", raw_emails=["a@b.c"])
        clock.advance(dt.timedelta(days=16))
        service.advance_due()  # late: actioned 16 days ago, so overdue since yesterday
        service.create(caller, "acct-1", raw_emails=["d@e.f"])  # actioned by `advance`
        clock.advance(dt.timedelta(days=5))
        young = service.create(caller, "acct-1", raw_emails=["g@h.i"])
    assert "moved 1 task(s); marked 1 overdue" in run("advance", "--store", store_url)
    overdue = run("tasks", "list", "--overdue", "--store", store_url)
    assert late.task_id in overdue
    assert "actioned (overdue)" in overdue
    assert young.task_id not in overdue
    assert f"completed {late.task_id}" in run(
        "tasks", "complete", late.task_id, "--store", store_url
    )
    assert late.task_id not in run("tasks", "list", "--overdue", "--store", store_url)
    message = run("tasks", "complete", young.task_id, "--store", store_url, ok=False)
    assert "only an actioned task can be completed" in message
    secret = run("new-webhook-secret").strip()
    assert secret.startswith("whsec_")
    with WebhookReceiver(secret) as receiver:
        report = run(
            "deliver",
            "--handoff-url",
            receiver.url,
            "--review-url",
            receiver.url,
            "--webhook-secret",
            secret,
            "--store",
            store_url,
        )
    assert "failed 0" in report
    assert "handoff: 0 owed" in report
    assert "review: 0 owed" in report
    kinds = sorted((body["type"], body["taskId"]) for body in receiver.acknowledged)
    # late was completed: its hand-off is settled; its review, and recent's two, still go out
    assert [kind for kind, _ in kinds] == ["handoff", "review", "review"]
    assert "needs a webhook secret" in run(
        "deliver", "--handoff-url", receiver.url, "--store", store_url, ok=False
    )


def test_advance_purges_after_the_configured_retention(store_url: str) -> None:
    with seeded(store_url, days_ago=20) as (service, caller, clock):
        task = service.create(caller, "acct-1", raw_emails=["a@b.c"])
        clock.advance(dt.timedelta(days=16))
        service.advance_due()
        service.complete(task.task_id, by="deleter")  # four days ago
    assert "purged 0" in run("advance", "--store", store_url)  # default: 30 days
    assert "purged 1" in run("advance", "--retention-days", "3", "--store", store_url)
    with open_store(store_url) as store:
        purged = store.get(task.task_id)
    assert purged is not None
    assert purged.identifiers == frozenset()
    assert purged.completed_time is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accounts", "allow", "bad id!"], "account id must be"),
        (["accounts", "revoke", "nobody"], "is not allow-listed"),
        (["apps", "revoke", "app_nope"], "no app app_nope"),
        (["tasks", "list", "--store", "ftp://x"], "no store adapter for ftp://"),
        (["advance", "--store", "sqlite:///no/such/dir/x.db"], "does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    store_url: str, args: list[str], message: str
) -> None:
    run("accounts", "allow", "acct-1", "--store", store_url)  # the store exists
    if "--store" not in args:
        args = [*args, "--store", store_url]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_store_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELETION_REQUESTS_STORE", f"sqlite:///{tmp_path}/env.db")
    run("accounts", "allow", "acct-env")
    assert (tmp_path / "env.db").exists()


def test_every_command_has_help() -> None:
    for path in _all_commands():
        assert "Usage:" in run(*path.split(), "--help")


def test_every_command_is_documented() -> None:
    documented = (ROOT / "docs" / "operations.md").read_text()
    missing = [path for path in _all_commands() if f"deletion-requests {path}" not in documented]
    assert not missing, f"docs/operations.md does not mention: {missing}"


def test_apps_callback_commands(store_url: str) -> None:
    run("accounts", "allow", "acct-1", "--store", store_url)
    refused = run(
        "apps",
        "create",
        "--account",
        "acct-1",
        "--callback-url",
        "http://x.example/h",
        "--store",
        store_url,
        ok=False,
    )
    assert "must be https://" in refused
    assert json.loads(run("apps", "list", "--json", "--store", store_url)) == []  # none made
    made = json.loads(
        run(
            "apps",
            "create",
            "--account",
            "acct-1",
            "--callback-url",
            "https://c.example/h",
            "--json",
            "--store",
            store_url,
        )
    )
    assert made["callbackUrl"] == "https://c.example/h"
    assert made["callbackSecret"].startswith("whsec_")
    app_id = made["appId"]
    listed = json.loads(run("apps", "list", "--json", "--store", store_url))
    assert listed[0]["callbackUrl"] == "https://c.example/h"
    assert made["callbackSecret"] not in run("apps", "list", "--store", store_url)
    moved = run(
        "apps",
        "set-callback",
        app_id,
        "http://127.0.0.1:9/h",
        "--allow-http-callbacks",
        "--store",
        store_url,
    )
    assert "Callback secret: whsec_" in moved
    rotated = run("apps", "rotate-callback-secret", app_id, "--store", store_url)
    assert re.search(r"Callback secret: whsec_\S+", rotated)
    assert "removed the callback" in run(
        "apps", "set-callback", app_id, "--none", "--store", store_url
    )
    assert "has no callback URL" in run(
        "apps", "set-callback", app_id, "--none", "--store", store_url, ok=False
    )
    assert "give a URL, or --none" in run(
        "apps", "set-callback", app_id, "--store", store_url, ok=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ("advance", "--retention-days", "nan"),
        ("advance", "--retention-days", "inf"),
        ("advance", "--retention-days", "1e12"),
        ("advance", "--retention-days", "9999999"),
        ("tasks", "list", "--held", "--limit", "9" * 20),
        ("tasks", "list", "--limit", "9" * 20),
        ("serve", "--delivery-lease", "1e20"),
        ("serve", "--delivery-lease", "nan"),
        ("serve", "--advance-interval", "inf"),
        ("serve", "--deliver-interval", "nan"),
        ("serve", "--body-timeout", "nan"),
        ("serve", "--console-idle-minutes", "nan"),
    ],
    ids=lambda args: "-".join(args),
)
def test_a_number_no_date_or_timer_could_hold_is_a_usage_error(
    store_url: str, args: tuple[str, ...]
) -> None:
    """Refused while the options are read (exit 2, one line naming the option), before a
    store is opened or a date computed: not an overflow's traceback."""
    run("accounts", "allow", "acct-1", "--store", store_url)
    result = CliRunner().invoke(main, [*args, "--store", store_url])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{args[-2]}'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
