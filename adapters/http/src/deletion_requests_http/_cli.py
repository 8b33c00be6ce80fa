"""`deletion-requests`: serve the API and administer accounts, apps and tasks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import click

from deletion_requests import check_callback_url
from deletion_requests.stores import redacted_url

from ._cli_common import (
    F,
    _echo_json,
    _iso,
    _sinks,
    _table,
    _time,
    json_option,
    opened,
    reading,
    retention_option,
    store_option,
    webhook_options,
)
from ._cli_operators import operators
from ._cli_tasks import tasks
from ._limits import RateLimits
from ._logs import FORMATS, LogFormat, configure_logging, default_format
from ._serve import Settings, metrics_directory, port_in_use
from ._serve import serve as run_server
from ._signing import new_webhook_secret
from ._wiring import DEFAULT_STORE, callback_sender
from ._wiring import logger as server_log
from .console import ConsoleSettings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deletion-requests-http")
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default=None,
    envvar="DELETION_REQUESTS_LOG_FORMAT",
    show_envvar=True,
    help="How every command and the server log: one JSON object a line, or text. "
    "Default: text on a terminal, json otherwise.",
)
@click.pass_context
def main(context: click.Context, log_format: LogFormat | None) -> None:
    """Data-subject deletion requests: serve the API, manage accounts, apps and tasks."""
    context.obj = log_format or default_format()
    configure_logging("warning", context.obj)


def _env(option: str) -> dict[str, Any]:
    """An option of `serve` that its environment variable can give: DELETION_REQUESTS_<OPTION>."""
    return {"envvar": f"DELETION_REQUESTS_{option}", "show_envvar": True}


@main.command()
@store_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to listen on.", **_env("HOST")
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), **_env("PORT")
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes serving the port: one per core uses the machine.",
    **_env("WORKERS"),
)
@click.option(
    "--advance-interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between background advance_due passes (reads never depend on them).",
    **_env("ADVANCE_INTERVAL"),
)
@click.option(
    "--deliver-interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between delivery rounds of the outbox (webhooks).",
    **_env("DELIVER_INTERVAL"),
)
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Run delivery rounds (several servers on one store may all deliver: each message "
    "is leased to one).",
    **_env("DELIVER"),
)
@click.option(
    "--delivery-lease",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds a message being delivered is this server's; a server that dies holding it "
    "leaves it to the others after this long.",
    **_env("DELIVERY_LEASE"),
)
@webhook_options
@retention_option
@click.option(
    "--rate-limit",
    default="none",
    show_default=True,
    help="Requests each app may make to the data endpoints, in the limits notation "
    "(100/second, 6000/minute), or none.",
    **_env("RATE_LIMIT"),
)
@click.option(
    "--token-rate-limit",
    default="60/minute",
    show_default=True,
    help="Token requests per AppId and per client address, or none.",
    **_env("TOKEN_RATE_LIMIT"),
)
@click.option(
    "--rate-limit-store",
    default="memory://",
    show_default=True,
    help="Where the counts live: memory:// (each worker its own) or redis://host:port/db "
    "(shared by every worker and server that uses it).",
    **_env("RATE_LIMIT_STORE"),
)
@click.option(
    "--metrics-token",
    default=None,
    help="A token that scrapes of /metrics must send as Bearer; without one, /metrics "
    "answers loopback only.",
    **_env("METRICS_TOKEN"),
)
@click.option(
    "--console/--no-console",
    default=True,
    show_default=True,
    help="Serve the operators' console under /console/.",
    **_env("CONSOLE"),
)
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark the console's session cookie Secure: set it when the console is reached over "
    "HTTPS (as behind a TLS proxy).",
    **_env("SECURE_COOKIES"),
)
@click.option(
    "--console-idle-minutes",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=1, max=24 * 60),
    help="A console session ends after this long without a request.",
    **_env("CONSOLE_IDLE_MINUTES"),
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    **_env("LOG_LEVEL"),
)
def serve(
    store_url: str,
    host: str,
    port: int,
    workers: int,
    advance_interval: float,
    deliver_interval: float,
    deliver: bool,
    delivery_lease: float,
    handoff_url: str | None,
    review_url: str | None,
    webhook_secret: str | None,
    retention_days: float,
    rate_limit: str,
    token_rate_limit: str,
    rate_limit_store: str,
    metrics_token: str | None,
    console: bool,
    secure_cookies: bool,
    console_idle_minutes: float,
    log_level: str,
) -> None:
    """Serve the HTTP API, and run transitions, overdue marks, purges and webhook deliveries
    in the background (once, however many workers serve). SIGINT or SIGTERM stops it after
    the requests in flight are answered."""
    sinks = _sinks(handoff_url, review_url, webhook_secret)
    log_format: LogFormat = click.get_current_context().find_root().obj or default_format()
    configure_logging(log_level, log_format)
    if urlsplit(store_url).scheme == "memory":
        raise click.ClickException(
            "memory:// cannot be served: each worker would have a store of its own, empty, that "
            "no command can reach to allow an account or create an app. Serve a file instead: "
            f"--store {DEFAULT_STORE}"
        )
    limit_texts = [None if text == "none" else text for text in (rate_limit, token_rate_limit)]
    try:
        limits = RateLimits.open(limit_texts[0], limit_texts[1], rate_limit_store)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if limits is not None and not limits.storage.check():
        raise click.ClickException(
            f"--rate-limit-store {redacted_url(rate_limit_store)} does not answer"
        )
    if port_in_use(host, port):
        raise click.ClickException(
            f"port {port} on {host} is in use: stop the server already running there, or "
            "choose another --port"
        )
    with metrics_directory(), opened(store_url, retention_days) as server:
        if not server.admin.list_apps():
            server_log.warning(
                "No app exists yet. Create one with (from a clone, put `uv run` in front):\n"
                "  deletion-requests accounts allow ACCOUNT_ID --store %s\n"
                "  deletion-requests apps create --account ACCOUNT_ID --store %s",
                redacted_url(store_url),
                redacted_url(store_url),
            )
        if deliver and not handoff_url:
            server_log.warning(
                "No --handoff-url: actioned tasks wait in the outbox until a deleter is configured."
            )
        console_settings = ConsoleSettings(
            secure_cookies=secure_cookies, idle_timeout=round(console_idle_minutes * 60)
        )
        if console and not server.admin.list_operators():
            server_log.warning(
                "No operator can sign in to the console yet. Add one with:\n"
                "  deletion-requests operators add NAME --store %s",
                redacted_url(store_url),
            )
        server_log.info(
            "serving %s on http://%s:%s with %s worker(s)",
            redacted_url(store_url),
            host,
            port,
            workers,
            extra={"host": host, "port": port, "workers": workers},
        )
        settings = Settings(
            store_url,
            retention_days,
            log_level,
            webhook_secret,
            workers,
            console_settings if console else None,
            log_format,
            rate_limit=limit_texts[0],
            token_rate_limit=limit_texts[1],
            rate_limit_store=rate_limit_store,
            metrics_token=metrics_token,
        )
        server.service.lease = dt.timedelta(seconds=delivery_lease)
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


def _callback_options(function: F) -> F:
    function = click.option(
        "--allow-http-callbacks",
        is_flag=True,
        help="Allow an http:// callback URL to a loopback host (for tests on one machine).",
    )(function)
    return function


def _echo_callback_secret(secret: str) -> None:
    click.echo(f"Callback secret: {secret}")
    click.echo(
        "Give it to the app's developers now, to verify callbacks (Standard Webhooks): it "
        "is not shown again."
    )


@apps.command("create")
@click.option(
    "--account", "accounts_", multiple=True, required=True, help="Account to grant (repeat)."
)
@click.option("--callback-url", help="Where the app hears of its tasks' changes (https://).")
@_callback_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@store_option
def apps_create(
    accounts_: tuple[str, ...],
    callback_url: str | None,
    allow_http_callbacks: bool,
    as_json: bool,
    store_url: str,
) -> None:
    """Create an app; prints its AppId and AppSecret, and with --callback-url the callback
    signing secret. Secrets are shown only this once."""
    with opened(store_url) as server:
        if callback_url is not None:
            check_callback_url(callback_url, allow_http_callbacks)  # before the app is made
        app, secret = server.admin.create_app(list(accounts_))
        callback_secret = None
        if callback_url is not None:
            callback_secret = server.admin.set_callback(
                app.app_id, callback_url, allow_http_callbacks
            )
        if as_json:
            document: dict[str, object] = {
                "appId": app.app_id,
                "appSecret": secret,
                "accounts": sorted(app.accounts),
            }
            if callback_secret is not None:
                document |= {"callbackUrl": callback_url, "callbackSecret": callback_secret}
            click.echo(json.dumps(document))
        else:
            click.echo(f"AppId:     {app.app_id}")
            click.echo(f"AppSecret: {secret}")
            click.echo(f"Accounts:  {', '.join(sorted(app.accounts))}")
            click.echo(
                "Keep the secret now: it is stored only as a digest and cannot be shown again."
            )
            if callback_secret is not None:
                click.echo(f"Callback:  {callback_url}")
                _echo_callback_secret(callback_secret)


@apps.command("set-callback")
@click.argument("app_id")
@click.argument("url", required=False)
@click.option("--none", "remove", is_flag=True, help="Remove the app's callback URL.")
@_callback_options
@store_option
def apps_set_callback(
    app_id: str, url: str | None, remove: bool, allow_http_callbacks: bool, store_url: str
) -> None:
    """Set APP_ID's status callback URL (with a new signing secret, printed once), or remove
    it with --none (callbacks still owed are then dropped, and their tasks' histories say so)."""
    if remove == (url is not None):
        raise click.UsageError("give a URL, or --none")
    with opened(store_url, create=False) as server:
        if remove:
            if not server.admin.remove_callback(app_id):
                raise click.ClickException(f"app {app_id} has no callback URL")
            click.echo(f"removed the callback of {app_id}")
            return
        assert url is not None
        secret = server.admin.set_callback(app_id, url, allow_http_callbacks)
        click.echo(f"callbacks of {app_id} go to {url}")
        _echo_callback_secret(secret)


@apps.command("rotate-callback-secret")
@click.argument("app_id")
@store_option
def apps_rotate_callback_secret(app_id: str, store_url: str) -> None:
    """A new signing secret for APP_ID's callbacks, in use at once; printed once."""
    with opened(store_url, create=False) as server:
        _echo_callback_secret(server.admin.rotate_callback_secret(app_id))


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
        callbacks = server.admin.callbacks()
        if as_json:
            _echo_json(
                [
                    {
                        "appId": a.app_id,
                        "accounts": sorted(a.accounts),
                        "createdTime": _iso(a.created_time),
                        "revoked": a.revoked,
                        "callbackUrl": getattr(callbacks.get(a.app_id), "url", None),
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
                getattr(callbacks.get(a.app_id), "url", "-"),
            ]
            for a in server.admin.list_apps()
        ]
        _table(["APP", "ACCOUNTS", "CREATED", "STATE", "CALLBACK"], rows)


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
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Messages to try at most, of each kind.",
)
@webhook_options
@store_option
def deliver(
    limit: int,
    handoff_url: str | None,
    review_url: str | None,
    webhook_secret: str | None,
    store_url: str,
) -> None:
    """One delivery round of the outbox to the webhooks (for cron; serve does this itself).
    Prints what was delivered and failed, and the whole backlog left: every message still
    owed, of each kind, with the age of the oldest."""
    sinks = _sinks(handoff_url, review_url, webhook_secret)
    with opened(store_url, create=False) as server:
        report = server.service.deliver(sinks, limit=limit, callback_sender=callback_sender())
        click.echo(
            f"delivered {report.delivered}; failed {report.failed}; waiting {report.waiting}"
        )
        for kind in sorted(sinks):
            backlog = server.store.backlog(kind)
            age = "" if backlog.oldest is None else f", oldest owed since {_time(backlog.oldest)}"
            click.echo(f"  {kind}: {backlog.count} owed{age}")


@main.command("new-webhook-secret")
def new_webhook_secret_command() -> None:
    """Print a new webhook secret (whsec_ and 32 random bytes, base64), for
    --webhook-secret, the deleter and the review webhook's receiver."""
    click.echo(new_webhook_secret())


main.add_command(tasks)
main.add_command(operators)


def _all_commands(group: click.Group = main, prefix: str = "") -> Iterator[str]:
    """Every command path, for the documentation test."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _all_commands(command, f"{path} ")
        else:
            yield path
