"""`deletion-requests`: serve the API and administer accounts, apps and tasks."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from deletion_requests import (
    DeletionRequestError,
    DeletionTask,
    Operators,
    Policy,
    Sink,
    Status,
    StoreError,
    TaskNotFound,
    UnknownStore,
    task_detail_to_api,
)

from ._logs import configure_logging
from ._serve import Settings, port_in_use
from ._serve import serve as run_server
from ._wiring import (
    DEFAULT_STORE,
    SIGNING_KEY_ENV,
    STORE_ENV,
    WEBHOOK_SECRET_ENV,
    Server,
    sinks_for,
)

F = TypeVar("F", bound=Callable[..., Any])


def store_option(function: F) -> F:
    return click.option(
        "--store",
        "store_url",
        envvar=STORE_ENV,
        default=DEFAULT_STORE,
        show_default=True,
        help=f"Store URL (also ${STORE_ENV}): sqlite:///file.db, jsonfiles:///dir, "
        "postgresql://..., memory://",
    )(function)


def webhook_options(function: F) -> F:
    function = click.option(
        "--webhook-secret",
        envvar=WEBHOOK_SECRET_ENV,
        help=f"Shared secret (at least 16 bytes; better ${WEBHOOK_SECRET_ENV}) that signs "
        "webhooks and authenticates completions.",
    )(function)
    function = click.option(
        "--review-url", help="Webhook for review alerts at ready (default: the log)."
    )(function)
    return click.option("--handoff-url", help="Webhook of the deleter, POSTed each actioned task.")(
        function
    )


def _sinks(
    handoff_url: str | None, review_url: str | None, webhook_secret: str | None
) -> dict[str, Sink]:
    try:
        return sinks_for(
            handoff_url, review_url, webhook_secret.encode() if webhook_secret else None
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def retention_option(function: F) -> F:
    return click.option(
        "--retention-days",
        envvar="DELETION_REQUESTS_RETENTION_DAYS",
        default=30.0,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        help="Days to keep a completed task's identifier hashes before purging them "
        "(also $DELETION_REQUESTS_RETENTION_DAYS).",
    )(function)


def policy_for(retention_days: float | None) -> Policy:
    """The policy, with the retention `--retention-days` gives (the default without)."""
    if retention_days is None:
        return Policy()
    return Policy(retention=dt.timedelta(days=retention_days))


@contextmanager
def opened(
    store_url: str, retention_days: float | None = None, create: bool = True
) -> Iterator[Server]:
    """The server's parts over *store_url* (an existing store only, unless *create*); errors
    become one clear line and exit code 1."""
    try:
        server = Server.open(
            store_url,
            policy=policy_for(retention_days),
            signing_key=os.environ.get(SIGNING_KEY_ENV),
            create=create,
        )
    except (UnknownStore, StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield server
    except TaskNotFound as exc:
        raise click.ClickException(f"no task {exc.task_id} in {store_url}") from None
    except (DeletionRequestError, StoreError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    finally:
        server.close()


def reading(store_url: str) -> contextlib.AbstractContextManager[Server]:
    """`opened` for a command that only reads: a store that does not exist is an error."""
    return opened(store_url, create=False)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")(
        function
    )


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=None))


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deletion-requests-http")
def main() -> None:
    """Data-subject deletion requests: serve the API, manage accounts, apps and tasks."""


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes serving the port: one per core uses the machine.",
)
@click.option(
    "--advance-interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between background advance_due passes (reads never depend on them).",
)
@click.option(
    "--deliver-interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between delivery rounds of the outbox (webhooks).",
)
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Run delivery rounds. With several servers on one store, let one deliver.",
)
@webhook_options
@retention_option
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(
    store_url: str,
    host: str,
    port: int,
    workers: int,
    advance_interval: float,
    deliver_interval: float,
    deliver: bool,
    handoff_url: str | None,
    review_url: str | None,
    webhook_secret: str | None,
    retention_days: float,
    log_level: str,
) -> None:
    """Serve the HTTP API, and run transitions, overdue marks, purges and webhook deliveries
    in the background (once, however many workers serve). SIGINT or SIGTERM stops it after
    the requests in flight are answered."""
    sinks = _sinks(handoff_url, review_url, webhook_secret)
    configure_logging(log_level)
    if urlsplit(store_url).scheme == "memory":
        raise click.ClickException(
            "memory:// cannot be served: each worker would have a store of its own, empty, that "
            "no command can reach to allow an account or create an app. Serve a file instead: "
            f"--store {DEFAULT_STORE}"
        )
    if port_in_use(host, port):
        raise click.ClickException(
            f"port {port} on {host} is in use: stop the server already running there, or "
            "choose another --port"
        )
    with opened(store_url, retention_days) as server:
        if not server.admin.list_apps():
            click.echo(
                "No app exists yet. Create one with (from a clone, put `uv run` in front):\n"
                f"  deletion-requests accounts allow ACCOUNT_ID --store {store_url}\n"
                f"  deletion-requests apps create --account ACCOUNT_ID --store {store_url}",
                err=True,
            )
        if deliver and not handoff_url:
            click.echo(
                "No --handoff-url: actioned tasks wait in the outbox until a deleter is "
                "configured.",
                err=True,
            )
        click.echo(
            f"serving {store_url} on http://{host}:{port} with {workers} worker(s)", err=True
        )
        settings = Settings(store_url, retention_days, log_level, webhook_secret, workers)
        background = server.background(
            advance_interval, sinks if deliver else None, deliver_interval
        )
        run_server(settings, host, port, background)


@main.group()
def accounts() -> None:
    """The allow-list of accounts that may request deletions."""


@accounts.command("allow")
@click.argument("account_id")
@store_option
def accounts_allow(account_id: str, store_url: str) -> None:
    """Allow-list ACCOUNT_ID (idempotent)."""
    with opened(store_url) as server:
        account = server.admin.allow_account(account_id)
        click.echo(f"allowed {account.account_id} (since {_time(account.allowed_time)})")


@accounts.command("revoke")
@click.argument("account_id")
@store_option
def accounts_revoke(account_id: str, store_url: str) -> None:
    """Remove ACCOUNT_ID from the allow-list."""
    with opened(store_url, create=False) as server:
        if not server.admin.revoke_account(account_id):
            raise click.ClickException(f"account {account_id} is not allow-listed")
        click.echo(f"revoked {account_id}")


@accounts.command("list")
@json_option
@store_option
def accounts_list(as_json: bool, store_url: str) -> None:
    """List allow-listed accounts."""
    with reading(store_url) as server:
        found = server.admin.list_accounts()
        if as_json:
            _echo_json(
                [{"accountId": a.account_id, "allowedTime": _iso(a.allowed_time)} for a in found]
            )
            return
        _table(["ACCOUNT", "ALLOWED"], [[a.account_id, _time(a.allowed_time)] for a in found])


@main.group()
def apps() -> None:
    """API clients: an AppId and an AppSecret, granted accounts."""


@apps.command("create")
@click.option(
    "--account", "accounts_", multiple=True, required=True, help="Account to grant (repeat)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@store_option
def apps_create(accounts_: tuple[str, ...], as_json: bool, store_url: str) -> None:
    """Create an app; prints its AppId and AppSecret. The secret is shown only this once."""
    with opened(store_url) as server:
        app, secret = server.admin.create_app(list(accounts_))
        if as_json:
            click.echo(
                json.dumps(
                    {"appId": app.app_id, "appSecret": secret, "accounts": sorted(app.accounts)}
                )
            )
        else:
            click.echo(f"AppId:     {app.app_id}")
            click.echo(f"AppSecret: {secret}")
            click.echo(f"Accounts:  {', '.join(sorted(app.accounts))}")
            click.echo(
                "Keep the secret now: it is stored only as a digest and cannot be shown again."
            )


@apps.command("revoke")
@click.argument("app_id")
@store_option
def apps_revoke(app_id: str, store_url: str) -> None:
    """Revoke APP_ID: its credentials and tokens stop working at once."""
    with opened(store_url, create=False) as server:
        if not server.admin.revoke_app(app_id):
            raise click.ClickException(f"no app {app_id}")
        click.echo(f"revoked {app_id}")


@apps.command("list")
@json_option
@store_option
def apps_list(as_json: bool, store_url: str) -> None:
    """List apps (never their secrets)."""
    with reading(store_url) as server:
        if as_json:
            _echo_json(
                [
                    {
                        "appId": a.app_id,
                        "accounts": sorted(a.accounts),
                        "createdTime": _iso(a.created_time),
                        "revoked": a.revoked,
                    }
                    for a in server.admin.list_apps()
                ]
            )
            return
        rows = [
            [
                a.app_id,
                ",".join(sorted(a.accounts)),
                _time(a.created_time),
                "revoked" if a.revoked else "active",
            ]
            for a in server.admin.list_apps()
        ]
        _table(["APP", "ACCOUNTS", "CREATED", "STATE"], rows)


@main.command()
@retention_option
@store_option
def advance(retention_days: float, store_url: str) -> None:
    """Store what time made due: transitions, overdue marks, purges (for cron)."""
    with opened(store_url, retention_days, create=False) as server:
        done = server.service.maintain()
        click.echo(
            f"moved {done['moved']} task(s); marked {done['overdue']} overdue; "
            f"purged {done['purged']}"
        )


@main.command()
@webhook_options
@store_option
def deliver(
    handoff_url: str | None, review_url: str | None, webhook_secret: str | None, store_url: str
) -> None:
    """One delivery round of the outbox to the webhooks (for cron; serve does this itself)."""
    sinks = _sinks(handoff_url, review_url, webhook_secret)
    with opened(store_url, create=False) as server:
        report = server.service.deliver(sinks)
        click.echo(
            f"delivered {report.delivered}; failed {report.failed}; waiting {report.waiting}"
        )


@main.group()
def tasks() -> None:
    """Deletion tasks, for operators."""


@tasks.command("complete")
@click.argument("task_id")
@store_option
def tasks_complete(task_id: str, store_url: str) -> None:
    """Record that the deletion of TASK_ID is done (when the deleter cannot call the API)."""
    with opened(store_url, create=False) as server:
        task = server.service.complete(task_id, by="operator")
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
            f"who decides? Give --operator NAME or set ${OPERATOR_ENV}: the task's history "
            "records every decision with the operator's name"
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
    with opened(store_url, create=False) as server:
        task = Operators(server.service).hold(task_id, name, reason)
        click.echo(f"held {task.task_id} ({task.status.value}) at {_time(task.held_time)}")


@tasks.command("release")
@click.argument("task_id")
@click.option("--reason", default="", help="Why (optional): recorded in the task's history.")
@operator_option
@store_option
def tasks_release(task_id: str, reason: str, operator: str | None, store_url: str) -> None:
    """End TASK_ID's hold. If its hand-off moment passed meanwhile, it is actioned now."""
    name = _operator(operator)
    with opened(store_url, create=False) as server:
        task = Operators(server.service).release(task_id, name, reason)
        click.echo(f"released {task.task_id}: {task.status.value}")


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
    with opened(store_url, create=False) as server:
        operators = Operators(server.service)
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
    help="Only tasks actioned more than the action window ago and not completed, oldest first.",
)
@click.option("--held", is_flag=True, help="Only tasks on hold, newest first.")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1), help="Rows at most."
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
    with reading(store_url) as server:
        operators = Operators(server.service)
        wanted = None if show_all else limit
        if overdue or held:
            if account_id is not None or status is not None or (overdue and held):
                raise click.ClickException(
                    "--overdue and --held list every account's: use one, without "
                    "--account or --status"
                )
            listing = operators.overdue if overdue else operators.held
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
    """Every field of TASK_ID and its whole history, with who did what and why."""
    with reading(store_url) as server:
        task = Operators(server.service).show(task_id)
        if as_json:
            _echo_json(_task_json(task, history=True))
            return
        detail = task_detail_to_api(task, for_operators=True)
        for name, value in detail.items():
            if name != "history":
                click.echo(f"{name + ':':15} {'-' if value is None else value}")
        click.echo(f"{'identifiers:':15} {len(task.identifiers)} (hashes; --json shows none)")
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
    with reading(store_url) as server:
        found = Operators(server.service).find(email=email, sha256=sha256)
        if as_json:
            _echo_json([_task_json(task) for task in found])
        else:
            _task_table(found)


EXPORT_FIELDS = [
    "taskId",
    "accountId",
    "status",
    "creationTime",
    "readyTime",
    "actionedTime",
    "cancelledTime",
    "completedTime",
    "purgedTime",
    "overdue",
    "createdBy",
    "history",
]


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
    """Every task with its times, decisions and history, to stdout, newest first: one JSON
    object a line, or CSV (the history as JSON in one column). For audits; no identifier
    hashes unless --with-hashes."""
    bounds = [None if d is None else d.replace(tzinfo=dt.UTC) for d in (since, until)]
    with reading(store_url) as server:
        tasks_ = Operators(server.service).export(*bounds)
        writer = None
        if form == "csv":
            fields = [*EXPORT_FIELDS, *(["identifiers"] if with_hashes else [])]
            writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
        for task in tasks_:
            record = _task_json(task, history=True)
            if with_hashes:
                record["identifiers"] = sorted(task.identifiers)
            if writer is None:
                click.echo(json.dumps(record))
                continue
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()}
            )


def _task_json(task: DeletionTask, history: bool = False) -> dict[str, Any]:
    """A task for operators: the API's detail view (with `createdBy` and `purgedTime`),
    with or without its history. Never identifiers."""
    record: dict[str, Any] = task_detail_to_api(task, for_operators=True)
    if not history:
        record.pop("history")
    return record


def _task_table(found: list[DeletionTask]) -> None:
    rows = [
        [
            t.task_id,
            t.account_id,
            t.status.value
            + (" (overdue)" if t.overdue_time and not t.completed_time else "")
            + (" (held)" if t.held_time else ""),
            _time(t.creation_time),
            _time(t.ready_time),
            _time(t.actioned_time),
            _time(t.cancelled_time),
            _time(t.completed_time),
        ]
        for t in found
    ]
    _table(
        ["TASK", "ACCOUNT", "STATUS", "CREATED", "READY", "ACTIONED", "CANCELLED", "COMPLETED"],
        rows,
    )


def _all_commands(group: click.Group = main, prefix: str = "") -> Iterator[str]:
    """Every command path, for the documentation test."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _all_commands(command, f"{path} ")
        else:
            yield path
