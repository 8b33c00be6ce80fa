"""`deletion-requests destinations`: add, list, show, pause, resume, remove."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from deletion_requests_http._cli import main

from deletion_requests import (
    AccessAdmin,
    AuthenticationFailed,
    DeletionService,
    DestinationWork,
    ManualClock,
    Policy,
    open_store,
)
from deletion_requests._access import digest_secret


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result.output


def test_destinations_are_added_paused_resumed_and_removed(store_url: str) -> None:
    pushed = run(
        "destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url
    )
    assert "Webhook secret (shown once): whsec_" in pushed
    pulled = run(
        "destinations",
        "add",
        "backups",
        "--pull",
        "--waits-for",
        "crm",
        "--account",
        "acct-1",
        "--store",
        store_url,
    )
    credential = pulled.split("Credential (shown once): ")[1].strip()
    with open_store(store_url) as store:
        backups = store.get_destination("backups")  # type: ignore[attr-defined]
    assert backups.credential_digest == digest_secret(credential)
    assert backups.waits_for == frozenset({"crm"})
    listed = json.loads(run("destinations", "list", "--json", "--store", store_url))
    assert [d["name"] for d in listed] == ["backups", "crm"]
    assert "--operator NAME" in run("destinations", "pause", "crm", "--store", store_url, ok=False)
    run("destinations", "pause", "crm", "--operator", "alice", "--store", store_url)
    shown = json.loads(run("destinations", "show", "crm", "--json", "--store", store_url))
    assert (shown["paused"], shown["pausedBy"], shown["changedBy"]) == (
        True,
        "operator",
        "operator:alice",
    )
    assert credential not in run("destinations", "list", "--store", store_url)
    run("destinations", "resume", "crm", "--operator", "bob", "--store", store_url)
    assert "active" in run("destinations", "list", "--store", store_url)
    run("destinations", "remove", "backups", "--operator", "alice", "--store", store_url)
    assert "no destination named 'backups'" in run(
        "destinations", "show", "backups", "--store", store_url, ok=False
    )


def test_bad_destinations_are_refused_in_one_line(store_url: str) -> None:
    run("accounts", "allow", "acct-1", "--store", store_url)
    assert "exactly one of --push URL and --pull" in run(
        "destinations", "add", "x", "--store", store_url, ok=False
    )
    assert "whsec_" in run(
        "destinations",
        "add",
        "x",
        "--push",
        "https://x.example",
        "--secret",
        "nope",
        "--store",
        store_url,
        ok=False,
    )
    assert "absolute https://" in run(
        "destinations", "add", "x", "--push", "crm.example/jobs", "--store", store_url, ok=False
    )
    assert "unknown destination" in run(
        "destinations", "add", "x", "--pull", "--waits-for", "ghost", "--store", store_url, ok=False
    )
    assert "must be 1 to 63" in run(
        "destinations", "add", "Bad Name", "--pull", "--store", store_url, ok=False
    )


def test_a_destination_that_owes_jobs_is_not_removed(store_url: str) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    with open_store(store_url) as store:
        clock = ManualClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
        admin = AccessAdmin(store, clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        service = DeletionService(store, clock)
        caller = service.authenticate(app.app_id, secret)
        service.create(caller, "acct-1", raw_emails=["someone@example.com"])
        clock.advance(Policy().cancel_period)
        service.advance_due()
        assert len(DestinationWork(service).store.job_counts()) == 1
    refused = run(
        "destinations", "remove", "crm", "--operator", "alice", "--store", store_url, ok=False
    )
    assert "1 job(s) without an outcome" in refused


def test_a_destination_others_wait_for_is_not_removed(store_url: str) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    add_backups = ("destinations", "add", "backups", "--pull", "--waits-for", "crm")
    run(*add_backups, "--store", store_url)
    refused = run(
        "destinations", "remove", "crm", "--operator", "alice", "--store", store_url, ok=False
    )
    assert "'crm' is waited for by backups" in refused
    assert "remove backups first" in refused
    assert "Traceback" not in refused
    run("destinations", "show", "crm", "--store", store_url)
    run("destinations", "remove", "backups", "--operator", "alice", "--store", store_url)
    run("destinations", "remove", "crm", "--operator", "alice", "--store", store_url)


def test_rotate_and_remove_need_an_operator_and_log_who(store_url: str) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    before = json.loads(run("destinations", "show", "crm", "--json", "--store", store_url))
    for action in ("rotate", "remove"):
        refused = run("destinations", action, "crm", "--store", store_url, ok=False)
        assert "--operator NAME" in refused
    assert json.loads(run("destinations", "show", "crm", "--json", "--store", store_url)) == before
    rotated = run("destinations", "rotate", "crm", "--operator", "alice", "--store", store_url)
    removed = run("destinations", "remove", "crm", "--operator", "bob", "--store", store_url)
    logged = [json.loads(line) for line in (rotated + removed).splitlines() if line[:1] == "{"]
    assert [(r["event.action"], r["deletion_requests.task.by"]) for r in logged] == [
        ("destination.rotated", "operator:alice"),
        ("destination.removed", "operator:bob"),
    ]


def test_an_operator_skips_a_job_from_the_command_line(store_url: str) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    with open_store(store_url) as store:
        clock = ManualClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
        admin = AccessAdmin(store, clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        service = DeletionService(store, clock)
        caller = service.authenticate(app.app_id, secret)
        task = service.create(caller, "acct-1", raw_emails=["someone@example.com"])
        clock.advance(Policy().cancel_period)
        service.advance_due()
    assert "who decides?" in run(
        "destinations",
        "skip",
        "crm",
        task.task_id,
        "--reason",
        "gone",
        "--store",
        store_url,
        ok=False,
    )
    done = run(
        "destinations",
        "skip",
        "crm",
        task.task_id,
        "--reason",
        "system retired",
        "--operator",
        "alice",
        "--store",
        store_url,
    )
    assert "the task is completed" in done
    shown = run("tasks", "show", task.task_id, "--store", store_url)
    assert "destination.skipped" in shown


def test_resuming_a_destination_its_breaker_paused_closes_the_breaker(store_url: str) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/", "--store", store_url)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open_store(store_url) as store:
        store.change_destination(  # type: ignore[attr-defined]
            "crm",
            lambda d: attrs.evolve(
                d, paused=True, changed_by="breaker", failures=20, failing_since=now
            ),
        )
    assert "paused (breaker)" in run("destinations", "list", "--store", store_url)
    resumed = run("destinations", "resume", "crm", "--operator", "carol", "--store", store_url)
    assert "its breaker is closed" in resumed
    shown = json.loads(run("destinations", "show", "crm", "--json", "--store", store_url))
    assert (shown["paused"], shown["failures"], shown["changedBy"]) == (
        False,
        0,
        "operator:carol",
    )


def _actioned_task(store_url: str, age: dt.timedelta = dt.timedelta(days=30)) -> str:
    """One task of acct-1 created *age* ago and actioned (so with a job per destination), in
    the store. At the default age it is due by now."""
    with open_store(store_url) as store:
        clock = ManualClock(dt.datetime.now(dt.UTC) - age)
        admin = AccessAdmin(store, clock)
        admin.allow_account("acct-1")
        app, secret = admin.create_app(["acct-1"])
        service = DeletionService(store, clock)
        caller = service.authenticate(app.app_id, secret)
        task = service.create(caller, "acct-1", raw_emails=["someone@example.com"])
        clock.advance(Policy().cancel_period)
        service.advance_due()
        return task.task_id


def test_an_operator_retries_a_job_and_tasks_show_prints_the_destinations(
    store_url: str,
) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    run("destinations", "add", "erp", "--push", "https://erp.example/jobs", "--store", store_url)
    task_id = _actioned_task(store_url)
    with open_store(store_url) as store:
        now = dt.datetime.now(dt.UTC)
        (job,) = store.claim_jobs("crm", "server", now, now + dt.timedelta(minutes=2), 10)
        store.mark_attempt_failed(job.job_id, "server", "HTTP 503", now + dt.timedelta(hours=1))
    retry = ["destinations", "retry", "crm", task_id, "--reason", "the CRM is back"]
    done = run(*retry, "--operator", "bob", "--store", store_url)
    assert "retried crm" in done
    assert "1 attempt(s)" in done
    skip = ["destinations", "skip", "erp", task_id, "--reason", "retired"]
    run(*skip, "--operator", "alice", "--store", store_url)
    refused = run(*skip, "--operator", "alice", "--store", store_url, ok=False)
    assert "a final job cannot be skipped" in refused
    refused = run(
        "destinations",
        "retry",
        "erp",
        task_id,
        "--reason",
        "x",
        "--operator",
        "bob",
        "--store",
        store_url,
        ok=False,
    )
    assert "a final job cannot be retried" in refused
    shown = run("tasks", "show", task_id, "--store", store_url)
    table = shown[shown.index("destinations:") :].splitlines()
    assert table[1].split() == [
        *("DESTINATION", "STATE", "OUTCOME", "ATTEMPTS", "LAST", "ERROR", "DUE")
    ]
    assert table[2].split()[:6] == ["crm", "owed", "-", "1", "HTTP", "503"]
    assert table[3].split()[:6] == ["erp", "final", "failed", "(retired)", "0", "-"]
    assert "destination.retried" in shown
    assert "by operator:bob  (crm: the CRM is back)" in shown
    as_json = json.loads(run("tasks", "show", task_id, "--json", "--store", store_url))
    assert [(d["destination"], d["outcome"]) for d in as_json["destinations"]] == [
        ("crm", None),
        ("erp", "failed"),
    ]
    assert as_json["outcome"] is None


def _rows(shown: str) -> dict[str, list[str]]:
    """`tasks show`'s destinations table, each row's words by destination."""
    table = shown[shown.index("destinations:") : shown.index("history:")].splitlines()[2:]
    return {row.split()[0]: row.split() for row in table}


def test_tasks_show_flags_the_task_overdue_and_each_job_still_open_past_its_due_date_late(
    store_url: str,
) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    run("destinations", "add", "erp", "--push", "https://erp.example/jobs", "--store", store_url)
    due_later = _actioned_task(store_url, age=dt.timedelta(days=20))  # due in 10 days
    past_due = _actioned_task(store_url, age=dt.timedelta(days=31))  # due a day ago
    skip = ["destinations", "skip", "erp", past_due, "--reason", "retired"]
    run(*skip, "--operator", "alice", "--store", store_url)

    early = run("tasks", "show", due_later, "--store", store_url)
    assert "status:         actioned\n" in early
    assert "late" not in early
    assert [row[-1][-1] for row in _rows(early).values()] == ["Z", "Z"]  # the due time ends

    late = run("tasks", "show", past_due, "--store", store_url)
    assert "status:         actioned (overdue)\n" in late
    rows = _rows(late)
    assert rows["crm"][-1] == "late"  # no outcome, past the due date
    assert rows["erp"][:3] == ["erp", "final", "failed"]
    assert rows["erp"][-1] != "late"  # an outcome: not late, whatever the time
    as_json = json.loads(run("tasks", "show", past_due, "--json", "--store", store_url))
    assert as_json["overdue"] is True
    assert [(d["destination"], d["late"]) for d in as_json["destinations"]] == [
        ("crm", True),
        ("erp", False),
    ]
    early_json = json.loads(run("tasks", "show", due_later, "--json", "--store", store_url))
    assert early_json["overdue"] is False
    assert [d["late"] for d in early_json["destinations"]] == [False, False]


def test_the_audit_export_carries_each_destinations_outcome(store_url: str) -> None:
    run("destinations", "add", "crm", "--push", "https://crm.example/jobs", "--store", store_url)
    task_id = _actioned_task(store_url)
    run(
        "destinations",
        "skip",
        "crm",
        task_id,
        "--reason",
        "retired",
        "--operator",
        "alice",
        "--store",
        store_url,
    )
    (line,) = run("tasks", "export", "--store", store_url).splitlines()
    record = json.loads(line)
    assert record["outcome"] == "exempt"
    (crm,) = record["destinations"]
    assert (crm["destination"], crm["outcome"], crm["reason"]) == ("crm", "failed", "retired")
    header, row = run("tasks", "export", "--format", "csv", "--store", store_url).splitlines()
    assert "destinations" in header.split(",")
    assert '""outcome"": ""failed""' in row


def test_rotating_gives_a_new_credential_or_secret_and_the_old_one_stops_working(
    store_url: str,
) -> None:
    added = run("destinations", "add", "warehouse", "--pull", "--store", store_url)
    old = added.rsplit(": ", 1)[1].strip()
    run("destinations", "add", "crm", "--push", "https://crm.example/", "--store", store_url)
    with open_store(store_url) as store:
        secret_before = store.get_destination("crm").secret  # type: ignore[attr-defined]
    rotated = run(
        "destinations", "rotate", "warehouse", "--operator", "alice", "--store", store_url
    )
    assert "rotated warehouse" in rotated.splitlines()
    new = rotated.rsplit(": ", 1)[1].strip()
    assert new.startswith("drd_")
    assert new != old
    pushed = run("destinations", "rotate", "crm", "--operator", "alice", "--store", store_url)
    new_secret = pushed.rsplit(": ", 1)[1].strip()
    assert new_secret.startswith("whsec_")
    assert new_secret != secret_before
    with open_store(store_url) as store:
        work = DestinationWork(DeletionService(store))
        assert work.authenticate("warehouse", new).name == "warehouse"
        with pytest.raises(AuthenticationFailed):
            work.authenticate("warehouse", old)
        assert work.get("crm").secret == new_secret
    refused = run(
        "destinations", "rotate", "nope", "--operator", "alice", "--store", store_url, ok=False
    )
    assert "nope" in refused
