"""`deletion-requests`: serve the API and administer accounts, apps and tasks."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from deletion_requests import (
    Caller,
    DeletionRequestError,
    DeletionTask,
    Policy,
    Sink,
    Status,
    StoreError,
    UnknownStore,
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
def opened(store_url: str, retention_days: float | None = None) -> Iterator[Server]:
    """The server's parts over *store_url*; errors become one clear line and exit code 1."""
    try:
        server = Server.open(
            store_url,
            policy=policy_for(retention_days),
            signing_key=os.environ.get(SIGNING_KEY_ENV),
        )
    except (UnknownStore, StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield server
    except (DeletionRequestError, StoreError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    finally:
        server.close()


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
    with opened(store_url) as server:
        if not server.admin.revoke_account(account_id):
            raise click.ClickException(f"account {account_id} is not allow-listed")
        click.echo(f"revoked {account_id}")


@accounts.command("list")
@store_option
def accounts_list(store_url: str) -> None:
    """List allow-listed accounts."""
    with opened(store_url) as server:
        rows = [[a.account_id, _time(a.allowed_time)] for a in server.admin.list_accounts()]
        _table(["ACCOUNT", "ALLOWED"], rows)


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
    with opened(store_url) as server:
        if not server.admin.revoke_app(app_id):
            raise click.ClickException(f"no app {app_id}")
        click.echo(f"revoked {app_id}")


@apps.command("list")
@store_option
def apps_list(store_url: str) -> None:
    """List apps (never their secrets)."""
    with opened(store_url) as server:
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
    with opened(store_url, retention_days) as server:
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
    with opened(store_url) as server:
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
    with opened(store_url) as server:
        task = server.service.complete(task_id, by="operator")
        click.echo(f"completed {task.task_id} at {_time(task.completed_time)}")


@tasks.command("list")
@click.option("--account", "account_id", help="Only this account (allow-listed or not).")
@click.option("--status", type=click.Choice([s.value for s in Status]))
@click.option(
    "--overdue",
    is_flag=True,
    help="Only tasks actioned more than the action window ago and not completed, oldest first.",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@store_option
def tasks_list(
    account_id: str | None, status: str | None, overdue: bool, limit: int, store_url: str
) -> None:
    """List tasks newest first, with their times, as the clock sees them now."""
    with opened(store_url) as server:
        if overdue:
            if account_id is not None or status is not None:
                raise click.ClickException(
                    "--overdue lists every account's; drop --account/--status"
                )
            _task_table(server.service.overdue(limit))
            return
        if account_id is not None:
            accounts_ = frozenset({account_id})
        else:
            accounts_ = frozenset(a.account_id for a in server.admin.list_accounts())
        operator = Caller("operator", accounts_)
        found: list[DeletionTask] = []
        cursor: str | None = None
        while len(found) < limit:
            page = server.service.list(
                operator, status=status, limit=min(1000, limit - len(found)), cursor=cursor
            )
            found.extend(page.tasks)
            cursor = page.next_cursor
            if cursor is None:
                break
        _task_table(found)


def _task_table(found: list[DeletionTask]) -> None:
    rows = [
        [
            t.task_id,
            t.account_id,
            t.status.value + (" (overdue)" if t.overdue_time and not t.completed_time else ""),
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
