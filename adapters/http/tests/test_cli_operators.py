"""The CLI for operators: listings, a task's record, finding a subject, the audit export, and
commands that refuse to make a store they were only asked to read."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from deletion_requests_http._cli import main

from deletion_requests import Policy, open_store
from deletion_requests.wire import hash_email

from .test_cli import run, seeded


def fails(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 1, result.output
    return result.output


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ops.db"


@pytest.mark.parametrize(
    "command",
    [
        ["tasks", "list"],
        ["tasks", "show", "3bc2e8b0-88ee-400c-8696-44897bc95cd3"],
        ["tasks", "find", "--email", "a@b.c"],
        ["tasks", "export"],
        ["accounts", "list"],
        ["apps", "list"],
        ["advance"],
    ],
)
@pytest.mark.parametrize("kind", ["sqlite", "jsonfiles"])
def test_commands_that_need_a_store_never_make_one(
    tmp_path: Path, command: list[str], kind: str
) -> None:
    target = tmp_path / ("typo.db" if kind == "sqlite" else "nonexistent/dir")
    output = fails(*command, "--store", f"{kind}:///{target}")
    assert "no store at" in output
    assert not target.exists()
    assert not target.parent.exists() or kind == "sqlite"


def test_an_app_for_an_account_not_allow_listed_is_refused(store_url: str) -> None:
    run("accounts", "allow", "acct-1", "--store", store_url)
    output = fails(
        "apps", "create", "--account", "acct-1", "--account", "acct-9", "--store", store_url
    )
    assert "acct-9 not allow-listed" in output
    assert run("apps", "list", "--json", "--store", store_url).strip() == "[]"


def test_serving_a_memory_store_is_refused_with_a_pointer() -> None:
    output = fails("serve", "--store", "memory://")
    assert "memory:// cannot be served" in output
    assert "--store sqlite:///" in output


def test_listings_print_json_for_scripts(store_url: str) -> None:
    with seeded(store_url, days_ago=1) as (service, caller, _):
        task = service.create(caller, "acct-1", raw_emails=["a@b.c"])
    (listed,) = json.loads(run("tasks", "list", "--json", "--store", store_url))
    assert listed["taskId"] == task.task_id
    assert listed["createdBy"] == caller.app_id
    assert "history" not in listed
    assert "a@b.c" not in json.dumps(listed)
    assert [
        a["accountId"] for a in json.loads(run("accounts", "list", "--json", "--store", store_url))
    ] == ["acct-1"]
    (app,) = json.loads(run("apps", "list", "--json", "--store", store_url))
    assert app["appId"] == caller.app_id
    assert app["revoked"] is False


def test_a_listing_says_when_it_shows_fewer_rows_than_there_are(store_url: str) -> None:
    with seeded(store_url, days_ago=1) as (service, caller, _):
        for n in range(5):
            service.create(caller, "acct-1", raw_emails=[f"p{n}@example.com"])
    result = CliRunner().invoke(
        main, ["tasks", "list", "--limit", "3", "--json", "--store", store_url]
    )
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 3
    assert "more tasks than the 3 shown" in result.stderr
    everything = CliRunner().invoke(
        main, ["tasks", "list", "--all", "--json", "--store", store_url]
    )
    assert len(json.loads(everything.stdout)) == 5
    assert everything.stderr == ""


def test_tasks_of_a_revoked_account_stay_in_the_operators_listing(store_url: str) -> None:
    with seeded(store_url, days_ago=1) as (service, caller, _):
        task = service.create(caller, "acct-1", raw_emails=["a@b.c"])
    run("accounts", "revoke", "acct-1", "--store", store_url)
    assert task.task_id in run("tasks", "list", "--store", store_url)


def test_overdue_is_caught_up_on_read_before_any_advance(store_url: str) -> None:
    with seeded(store_url, days_ago=31) as (service, caller, _):
        late = service.create(caller, "acct-1", raw_emails=["a@b.c"])
    listed = run("tasks", "list", "--overdue", "--store", store_url)
    assert late.task_id in listed
    assert "actioned (overdue)" in listed


def test_show_gives_every_field_and_the_whole_history(store_url: str) -> None:
    with seeded(store_url, days_ago=13) as (service, caller, _):
        task = service.create(caller, "acct-1", raw_emails=["a@b.c"])
        service.cancel(caller, task.task_id)
    shown = run("tasks", "show", task.task_id, "--store", store_url)
    assert "status:" in shown
    assert "cancelled" in shown
    assert f"by {caller.app_id}" in shown
    detail = json.loads(run("tasks", "show", task.task_id, "--json", "--store", store_url))
    assert detail["status"] == "cancelled"
    assert [step["to"] for step in detail["history"]][-1] == "cancelled"
    missing = fails("tasks", "show", "3bc2e8b0-88ee-400c-8696-44897bc95cd3", "--store", store_url)
    assert "no task 3bc2e8b0-88ee-400c-8696-44897bc95cd3" in missing
    assert "task not found for with task_id" not in missing  # the API's words, not the CLI's


def test_find_by_email_or_hash(store_url: str, tmp_path: Path) -> None:
    with seeded(store_url, days_ago=1) as (service, caller, _):
        mine = service.create(caller, "acct-1", raw_emails=["Someone@Example.com"])
        service.create(caller, "acct-1", raw_emails=["other@example.com"])
    by_email = run("tasks", "find", "--email", " someone@example.COM ", "--store", store_url)
    assert mine.task_id in by_email
    assert by_email.count("\n") == 2  # the header and one task
    by_hash = json.loads(
        run(
            "tasks",
            "find",
            "--sha256",
            hash_email("someone@example.com"),
            "--json",
            "--store",
            store_url,
        )
    )
    assert [t["taskId"] for t in by_hash] == [mine.task_id]
    bad = fails("tasks", "find", "--sha256", "abc", "--store", store_url)
    assert "base64" in bad
    database = Path(store_url.removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):
        assert b"someone@example" not in path.read_bytes().lower()


def test_export_as_jsonl_and_csv_with_hashes_only_when_asked(store_url: str) -> None:
    with seeded(store_url, days_ago=20) as (service, caller, clock):
        old = service.create(caller, "acct-1", raw_emails=["a@b.c"])
        clock.advance(dt.timedelta(days=10))
        new = service.create(caller, "acct-1", raw_emails=["d@e.f"])
        service.cancel(caller, new.task_id)
    lines = [json.loads(line) for line in run("tasks", "export", "--store", store_url).splitlines()]
    assert [line["taskId"] for line in lines] == [new.task_id, old.task_id]
    assert all("identifiers" not in line for line in lines)
    assert lines[0]["history"][-1]["to"] == "cancelled"
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=15)).strftime("%Y-%m-%d")
    recent = run("tasks", "export", "--since", since, "--store", store_url).splitlines()
    assert [json.loads(line)["taskId"] for line in recent] == [new.task_id]
    rows = list(
        csv.DictReader(
            io.StringIO(
                run("tasks", "export", "--format", "csv", "--with-hashes", "--store", store_url)
            )
        )
    )
    assert [row["taskId"] for row in rows] == [new.task_id, old.task_id]
    assert json.loads(rows[1]["identifiers"]) == [hash_email("a@b.c")]
    assert json.loads(rows[0]["history"])[-1]["to"] == "cancelled"


def test_complete_of_an_unknown_task_speaks_the_clis_words(store_url: str) -> None:
    run("accounts", "allow", "acct-1", "--store", store_url)
    output = fails(
        "tasks", "complete", "3bc2e8b0-88ee-400c-8696-44897bc95cd3", "--store", store_url
    )
    assert "no task 3bc2e8b0-88ee-400c-8696-44897bc95cd3" in output
    with open_store(store_url) as store:
        assert store.list_accounts()


def test_an_operator_cancels_with_a_reason_and_a_name_under_the_clients_guard(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with seeded(store_url, days_ago=16) as (service, caller, clock):
        late = service.create(caller, "acct-1", raw_emails=["late@example.com"])
        clock.advance(dt.timedelta(days=14))
        ready = service.create(caller, "acct-1", raw_emails=["ready@example.com"])
    nameless = fails("tasks", "cancel", ready.task_id, "--reason", "x", "--store", store_url)
    assert "--operator NAME" in nameless
    monkeypatch.setenv("DELETION_REQUESTS_OPERATOR", "ana")
    result = CliRunner().invoke(
        main,
        [
            "tasks",
            "cancel",
            ready.task_id,
            late.task_id,
            "--reason",
            "duplicate  request",
            "--store",
            store_url,
        ],
    )
    assert result.exit_code == 1
    assert f"cancelled {ready.task_id}" in result.stdout
    assert f"{late.task_id}: task {late.task_id} cannot be cancelled" in result.stderr
    assert "1 of 2 task(s) not cancelled" in result.stderr
    detail = json.loads(run("tasks", "show", ready.task_id, "--json", "--store", store_url))
    assert detail["status"] == "cancelled"
    last = detail["history"][-1]
    assert (last["to"], last["by"], last["detail"]) == (
        "cancelled",
        "operator:ana",
        "duplicate request",
    )
    assert (
        json.loads(run("tasks", "show", late.task_id, "--json", "--store", store_url))["status"]
        == "actioned"
    )


def test_hold_and_release_from_the_command_line(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with seeded(store_url, days_ago=13) as (service, caller, _):
        task = service.create(caller, "acct-1", raw_emails=["held@example.com"])
    monkeypatch.setenv("DELETION_REQUESTS_OPERATOR", "ana")
    held = run("tasks", "hold", task.task_id, "--reason", "legal hold", "--store", store_url)
    assert f"held {task.task_id} (ready)" in held
    assert "ready (held)" in run("tasks", "list", "--store", store_url)
    (listed,) = json.loads(run("tasks", "list", "--held", "--json", "--store", store_url))
    assert listed["taskId"] == task.task_id
    assert listed["heldTime"] is not None
    again = fails("tasks", "hold", task.task_id, "--reason", "twice", "--store", store_url)
    assert "already on hold" in again
    released = run("tasks", "release", task.task_id, "--store", store_url)
    assert f"released {task.task_id}: ready" in released
    detail = json.loads(run("tasks", "show", task.task_id, "--json", "--store", store_url))
    assert [(s["event"], s["by"]) for s in detail["history"][-2:]] == [
        ("held", "operator:ana"),
        ("released", "operator:ana"),
    ]
    assert json.loads(run("tasks", "list", "--held", "--json", "--store", store_url)) == []


def test_extending_a_due_date_from_the_command_line(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with seeded(store_url, days_ago=20) as (service, caller, _):
        task = service.create(caller, "acct-1", raw_emails=["late@example.com"])
        cancelled = service.create(caller, "acct-1", raw_emails=["gone@example.com"])
        service.cancel(caller, cancelled.task_id)
    monkeypatch.setenv("DELETION_REQUESTS_OPERATOR", "ana")
    due = task.creation_time + dt.timedelta(days=40)
    extended = run(
        "tasks",
        "extend",
        task.task_id,
        "--days",
        "10",
        "--reason",
        "slow CRM",
        "--store",
        store_url,
    )
    assert f"extended {task.task_id}: due {due:%Y-%m-%d %H:%M:%SZ}" in extended
    detail = json.loads(run("tasks", "show", task.task_id, "--json", "--store", store_url))
    assert detail["dueTime"] == due.isoformat()
    last = detail["history"][-1]
    assert (last["event"], last["by"]) == ("deadline_extended", "operator:ana")
    assert last["detail"].endswith(": slow CRM")
    assert "DUE" in run("tasks", "list", "--store", store_url).splitlines()[0].split()
    too_far = fails(
        "tasks", "extend", task.task_id, "--days", "36", "--reason", "more", "--store", store_url
    )
    assert "at most 35 more day(s), not 36" in too_far
    for days in ("46", "10000000", "9" * 40):
        refused = fails(
            "tasks", "extend", task.task_id, "--days", days, "--reason", "x", "--store", store_url
        )
        assert "an extension is at most 45 days" in refused
        assert "Traceback" not in refused
    helped = run("tasks", "extend", "--help")
    assert f"at most {Policy().extension_limit.days} days" in " ".join(helped.split())
    finished = fails(
        "tasks", "extend", cancelled.task_id, "--days", "1", "--reason", "x", "--store", store_url
    )
    assert "is cancelled" in finished
    after = json.loads(run("tasks", "show", task.task_id, "--json", "--store", store_url))
    assert after["dueTime"] == due.isoformat()
