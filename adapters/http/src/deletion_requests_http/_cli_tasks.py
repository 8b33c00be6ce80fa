"""`deletion-requests tasks`: the operators' commands over deletion tasks."""

from __future__ import annotations

import datetime as dt
import sys

import click

from deletion_requests import (
    DeletionRequestError,
    DeletionTask,
    Job,
    Operators,
    Policy,
    Status,
    TaskNotFound,
)
from deletion_requests.wire import task_detail_to_api

from ._cli_common import (
    F,
    _echo_json,
    _table,
    _time,
    json_option,
    opened,
    reading,
    store_option,
)
from ._export import export_csv, export_jsonl, job_json, with_destinations
from ._export import task_json as _task_json


@click.group()
def tasks() -> None:
    """Deletion tasks, for operators."""


@tasks.command("complete")
@click.argument("task_id")
@store_option
def tasks_complete(task_id: str, store_url: str) -> None:
    """Record that the deletion of TASK_ID is done (when the deleter cannot call the API)."""
    with opened(store_url, create=False) as application:
        task = application.service.complete(task_id, by="operator")
        click.echo(f"completed {task.task_id} at {_time(task.completed_time)}")


OPERATOR_ENV = "DELETION_REQUESTS_OPERATOR"


def operator_option(function: F) -> F:
    return click.option(
        "--operator",
        envvar=OPERATOR_ENV,
        help=f"Your name, recorded with the decision as operator:NAME (also ${OPERATOR_ENV}).",
    )(function)


def _operator(name: str | None) -> str:
    if not name:
        raise click.ClickException(
            f"who decides? Give --operator NAME or set ${OPERATOR_ENV}: every decision is "
            "recorded with the operator's name"
        )
    return name


@tasks.command("hold")
@click.argument("task_id")
@click.option("--reason", required=True, help="Why: recorded in the task's history.")
@operator_option
@store_option
def tasks_hold(task_id: str, reason: str, operator: str | None, store_url: str) -> None:
    """Put TASK_ID on hold (pending or ready): it is not handed off until released, and the
    client still sees pending or ready, with heldTime."""
    name = _operator(operator)
    with opened(store_url, create=False) as application:
        task = application.operators.hold(task_id, name, reason)
        click.echo(f"held {task.task_id} ({task.status.value}) at {_time(task.held_time)}")


@tasks.command("release")
@click.argument("task_id")
@click.option("--reason", default="", help="Why (optional): recorded in the task's history.")
@operator_option
@store_option
def tasks_release(task_id: str, reason: str, operator: str | None, store_url: str) -> None:
    """End TASK_ID's hold. If its hand-off moment passed meanwhile, it is actioned now."""
    name = _operator(operator)
    with opened(store_url, create=False) as application:
        task = application.operators.release(task_id, name, reason)
        click.echo(f"released {task.task_id}: {task.status.value}")


@tasks.command(
    "extend",
    help="Make TASK_ID due DAYS later, before its due time passes: at most "
    f"{Policy().extension_limit.days} days past its original due date in all (the policy's "
    "extension limit). The app gets a deadline_extended callback; a completed or cancelled "
    "task is refused.",
)
@click.argument("task_id")
@click.option(
    "--days", type=click.IntRange(min=1), required=True, help="How many days later it is due."
)
@click.option("--reason", required=True, help="Why: recorded in the task's history.")
@operator_option
@store_option
def tasks_extend(
    task_id: str, days: int, reason: str, operator: str | None, store_url: str
) -> None:
    """`Operators.extend_due`, as the command's help says."""
    name = _operator(operator)
    with opened(store_url, create=False) as application:
        task = application.operators.extend_due(task_id, name, days, reason)
        click.echo(f"extended {task.task_id}: due {_time(task.due_time)}")


@tasks.command("cancel")
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why: recorded in each task's history.")
@operator_option
@store_option
def tasks_cancel(
    task_ids: tuple[str, ...], reason: str, operator: str | None, store_url: str
) -> None:
    """Cancel TASK_ID... as an operator, while each is pending or ready (as a client's cancel
    is guarded). Every task is tried; the command fails if any could not be cancelled."""
    name = _operator(operator)
    failed = 0
    with opened(store_url, create=False) as application:
        operators = application.operators
        for task_id in task_ids:
            try:
                task = operators.cancel(task_id, name, reason)
            except TaskNotFound:
                click.echo(f"{task_id}: no such task", err=True)
            except DeletionRequestError as exc:
                click.echo(f"{task_id}: {exc.message}", err=True)
            else:
                click.echo(f"cancelled {task.task_id} at {_time(task.cancelled_time)}")
                continue
            failed += 1
    if failed:
        raise click.ClickException(f"{failed} of {len(task_ids)} task(s) not cancelled")


@tasks.command("list")
@click.option("--account", "account_id", help="Only this account (allow-listed or not).")
@click.option("--status", type=click.Choice([s.value for s in Status]))
@click.option(
    "--overdue",
    is_flag=True,
    help="Only tasks handed off, past their due date and not completed, soonest due first.",
)
@click.option("--held", is_flag=True, help="Only tasks on hold, newest first.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Rows at most (--all for every row).",
)
@click.option("--all", "show_all", is_flag=True, help="Every row, however many.")
@json_option
@store_option
def tasks_list(
    account_id: str | None,
    status: str | None,
    overdue: bool,
    held: bool,
    limit: int,
    show_all: bool,
    as_json: bool,
    store_url: str,
) -> None:
    """List tasks newest first, with their times, as the clock sees them now: every account
    that ever had tasks, revoked ones included. Says on stderr when there are more rows than
    it shows."""
    with reading(store_url) as application:
        operators = application.operators
        wanted = None if show_all else limit
        if overdue or held:
            if account_id is not None or status is not None or (overdue and held):
                raise click.ClickException(
                    "--overdue and --held list every account's: use one, without "
                    "--account or --status"
                )
            listing = application.service.overdue if overdue else operators.held
            found = listing(10**9 if wanted is None else wanted + 1)
            more = wanted is not None and len(found) > wanted
            found = found[:wanted]
        else:
            found, more = _listed(operators, account_id, status, wanted)
        if as_json:
            _echo_json([_task_json(task) for task in found])
        else:
            _task_table(found)
        if more:
            click.echo(
                f"(more tasks than the {len(found)} shown: raise --limit, or use --all)", err=True
            )


def _listed(
    operators: Operators, account_id: str | None, status: str | None, wanted: int | None
) -> tuple[list[DeletionTask], bool]:
    """Up to *wanted* tasks (all when None), and whether more exist."""
    found: list[DeletionTask] = []
    cursor: str | None = None
    while wanted is None or len(found) < wanted:
        step = 1000 if wanted is None else min(1000, wanted - len(found))
        page = operators.list(account_id, status, limit=step, cursor=cursor)
        found.extend(page.tasks)
        cursor = page.next_cursor
        if cursor is None:
            return found, False
    return found, True


@tasks.command("show")
@click.argument("task_id")
@json_option
@store_option
def tasks_show(task_id: str, as_json: bool, store_url: str) -> None:
    """Every field of TASK_ID and its whole history, with who did what and why. The status
    is flagged (overdue) past the due date with a job still open, and so is each such job
    (late), as the console's task page flags them."""
    with reading(store_url) as application:
        task = application.operators.show(task_id)
        jobs = application.service.jobs(task.task_id)
        now = application.service.clock.now()
        if as_json:
            record = _task_json(task, history=True)
            with_destinations(record, task, jobs)
            for shown, job in zip(record["destinations"], jobs, strict=True):
                shown["late"] = job.late(task, now)
            _echo_json(record)
            return
        detail = task_detail_to_api(task, for_operators=True)
        detail["status"] = _flagged_status(task)
        for name, value in detail.items():
            if name != "history":
                click.echo(f"{name + ':':15} {'-' if value is None else value}")
        click.echo(f"{'outcome:':15} {application.service.outcome(task) or '-'}")
        click.echo(f"{'identifiers:':15} {len(task.identifiers)} (hashes; --json shows none)")
        if jobs:
            click.echo("destinations:")
            _jobs_table(jobs, task, now)
        click.echo("history:")
        for step in task.history:
            change = step.event if step.event != "transition" else f"{step.source} -> {step.dest}"
            note = f"  ({step.detail})" if step.detail else ""
            click.echo(f"  {_time(step.at)}  {change:20}  by {step.by}{note}")


@tasks.command("find")
@click.option("--email", help="An email address: hashed as a create hashes it, never kept.")
@click.option("--sha256", help="The base64 SHA-256 of a normalised email address.")
@json_option
@store_option
def tasks_find(email: str | None, sha256: str | None, as_json: bool, store_url: str) -> None:
    """The tasks that hold a subject, oldest first (purged tasks hold none)."""
    if (email is None) == (sha256 is None):
        raise click.UsageError("give --email or --sha256 (one of them)")
    with reading(store_url) as application:
        found = application.operators.find(email=email, sha256=sha256)
        if as_json:
            _echo_json([_task_json(task) for task in found])
        else:
            _task_table(found)


@tasks.command("export")
@click.option(
    "--format", "form", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("--since", type=click.DateTime(), help="Created after this date (UTC).")
@click.option("--until", type=click.DateTime(), help="Created at or before this date (UTC).")
@click.option("--with-hashes", is_flag=True, help="Include the identifier hashes.")
@store_option
def tasks_export(
    form: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    with_hashes: bool,
    store_url: str,
) -> None:
    """Every task with its times, decisions, outcome, each destination's job and history, to
    stdout, newest first: one JSON object a line, or CSV (the lists as JSON in their column).
    For audits; no identifier hashes unless --with-hashes."""
    bounds = [None if d is None else d.replace(tzinfo=dt.UTC) for d in (since, until)]
    with reading(store_url) as application:
        found = application.operators.export(*bounds)
        export = export_csv if form == "csv" else export_jsonl
        lines = export(found, with_hashes, application.service.jobs)
        for line in lines:
            sys.stdout.write(line)


def _jobs_table(jobs: list[Job], task: DeletionTask, now: dt.datetime) -> None:
    """Each destination's job: state, outcome (and reason), attempts, last error, and the
    task's due date, marked late while the job has no outcome past it (`Job.late`)."""
    rows = []
    for job in jobs:
        shown = job_json(job)
        outcome = shown["outcome"] or "-"
        if shown["reason"]:
            outcome += f" ({shown['reason']})"
        state = shown["state"] + (
            " (waits for " + ", ".join(shown["waitsFor"]) + ")" if shown["waitsFor"] else ""
        )
        due = _time(task.due_time) + (" late" if job.late(task, now) else "")
        error = shown["lastError"] or "-"
        rows.append([job.destination, state, outcome, str(job.attempts), error, due])
    _table(["DESTINATION", "STATE", "OUTCOME", "ATTEMPTS", "LAST ERROR", "DUE"], rows)


def _flagged_status(task: DeletionTask) -> str:
    """The status, flagged as the console's badges flag it: (overdue), (held)."""
    return (
        task.status.value
        + (" (overdue)" if task.overdue else "")
        + (" (held)" if task.held_time else "")
    )


def _task_table(found: list[DeletionTask]) -> None:
    rows = [
        [
            t.task_id,
            t.account_id,
            _flagged_status(t),
            _time(t.creation_time),
            _time(t.ready_time),
            _time(t.actioned_time),
            _time(t.cancelled_time),
            _time(t.completed_time),
            _time(t.due_time),
        ]
        for t in found
    ]
    _table(
        [
            "TASK",
            "ACCOUNT",
            "STATUS",
            "CREATED",
            "READY",
            "ACTIONED",
            "CANCELLED",
            "COMPLETED",
            "DUE",
        ],
        rows,
    )
