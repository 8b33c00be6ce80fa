"""`deletion-requests serve`: its options (each with its DELETION_REQUESTS_ variable) and
the checks made before anything is opened."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import click

from deletion_requests import StoreError
from deletion_requests.stores import DEFAULT_DESTINATION, Destinations, redacted_url

from ._bodies import BODY_TIMEOUT
from ._bootstrap import Application, Settings, rate_limits
from ._cli_common import (
    Finite,
    retention_option,
    running,
    settings_for,
    store_option,
    webhook_options,
)
from ._logs import FORMATS, LogFormat, configure_logging, default_format
from ._serve import MAX_CONNECTIONS, Processes, metrics_directory, port_in_use
from ._serve import serve as run_server
from ._wiring import DEFAULT_STORE
from ._wiring import logger as server_log
from .console import ConsoleSettings

DAY_SECONDS = 24 * 60 * 60
"""The longest interval or lease `serve` takes, in seconds."""


def _env(option: str) -> dict[str, Any]:
    """An option of `serve` that its environment variable can give: DELETION_REQUESTS_<OPTION>."""
    return {"envvar": f"DELETION_REQUESTS_{option}", "show_envvar": True}


@click.command()
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
    "--max-connections",
    default=MAX_CONNECTIONS,
    show_default=True,
    type=click.IntRange(16, 65536),
    help="Connections each worker holds open at once (more wait in the listen queue).",
    **_env("MAX_CONNECTIONS"),
)
@click.option(
    "--body-timeout",
    default=BODY_TIMEOUT,
    show_default=True,
    type=Finite(min=0.1, max=3600),
    help="Seconds a request body has to arrive whole, from the end of its head: a slower "
    "one is answered 408 and its connection closed.",
    **_env("BODY_TIMEOUT"),
)
@click.option(
    "--advance-interval",
    default=60.0,
    show_default=True,
    type=Finite(min=0.1, max=DAY_SECONDS),
    help="Seconds between background advance_due passes (reads never depend on them).",
    **_env("ADVANCE_INTERVAL"),
)
@click.option(
    "--deliver-interval",
    default=5.0,
    show_default=True,
    type=Finite(min=0.1, max=DAY_SECONDS),
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
    type=Finite(min=1, max=DAY_SECONDS),
    help="Seconds a message being delivered is this server's; a server that dies holding it "
    "leaves it to the others after this long.",
    **_env("DELIVERY_LEASE"),
)
@click.option(
    "--lease-interval",
    default=2.0,
    show_default=True,
    type=Finite(min=0.1, max=60),
    help="Seconds between tries of the store's background lease: the background work runs "
    "in one process, and another takes it over within two of these after that one dies.",
    **_env("LEASE_INTERVAL"),
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
    type=Finite(min=1, max=24 * 60),
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
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default=None,
    help="As `deletion-requests --log-format`, which it overrides here.",
    **_env("LOG_FORMAT"),
)
def serve(
    store_url: str,
    host: str,
    port: int,
    workers: int,
    max_connections: int,
    body_timeout: float,
    advance_interval: float,
    deliver_interval: float,
    deliver: bool,
    delivery_lease: float,
    lease_interval: float,
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
    log_format: LogFormat | None,
) -> None:
    """Serve the HTTP API, and run transitions, overdue marks, purges and webhook deliveries
    in the background (in one process at a time, the holder of the store's lease, however
    many workers and servers serve). SIGINT or SIGTERM stops it after
    the requests in flight are answered."""
    limit_texts = [None if text == "none" else text for text in (rate_limit, token_rate_limit)]
    console_settings = ConsoleSettings(
        secure_cookies=secure_cookies, idle_timeout=round(console_idle_minutes * 60)
    )
    settings = settings_for(
        store_url,
        retention_days,
        delivery_lease=dt.timedelta(seconds=delivery_lease),
        webhook_secret=webhook_secret,
        handoff_url=handoff_url,
        review_url=review_url,
        deliver=deliver,
        advance_interval=advance_interval,
        deliver_interval=deliver_interval,
        lease_interval=lease_interval,
        rate_limit=limit_texts[0],
        token_rate_limit=limit_texts[1],
        rate_limit_store=rate_limit_store,
        metrics_token=metrics_token,
        console=console_settings if console else None,
        body_timeout=body_timeout,
    )
    log_format = log_format or click.get_current_context().find_root().obj or default_format()
    configure_logging(log_level, log_format, serving=True)
    if urlsplit(store_url).scheme == "memory":
        raise click.ClickException(
            "memory:// cannot be served: each worker would have a store of its own, empty, that "
            "no command can reach to allow an account or create an app. Serve a file instead: "
            f"--store {DEFAULT_STORE}"
        )
    _check_limits(settings)
    if port_in_use(host, port):
        raise click.ClickException(
            f"port {port} on {host} is in use: stop the server already running there, or "
            "choose another --port"
        )
    with metrics_directory(), running(settings) as application:
        _check_store(application)
        _warn_of_what_is_missing(application)
        server_log.info(
            "serving %s on http://%s:%s with %s worker(s)",
            redacted_url(store_url),
            host,
            port,
            workers,
            extra={"host": host, "port": port, "workers": workers},
        )
        processes = Processes(settings, workers, log_level, log_format, max_connections)
        run_server(processes, host, port)


def _check_limits(settings: Settings) -> None:
    """Before anything is opened: the limits' storage answers (the workers count there)."""
    try:
        limits = rate_limits(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if limits is not None and not limits.storage.check():
        raise click.ClickException(
            f"--rate-limit-store {redacted_url(settings.rate_limit_store)} does not answer"
        )


def _check_store(application: Application) -> None:
    """Before serving: the store takes a write. A server that could not store a request does
    not start (its supervisor starts it again once the disk is writable)."""
    try:
        application.store.check()
    except StoreError as exc:
        raise click.ClickException(
            f"the store cannot take a write, so the server does not start: {exc}"
        ) from None


def _warn_of_what_is_missing(application: Application) -> None:
    """Warnings for a store with no app, a server with no deleter, a console nobody can use."""
    store_url = redacted_url(application.settings.store_url)
    if not application.admin.list_apps():
        server_log.warning(
            "No app exists yet. Create one with (from a clone, put `uv run` in front):\n"
            "  deletion-requests accounts allow ACCOUNT_ID --store %s\n"
            "  deletion-requests apps create --account ACCOUNT_ID --store %s",
            store_url,
            store_url,
        )
    if application.settings.deliver and not application.settings.handoff_url:
        server_log.warning(
            "No --handoff-url: actioned tasks wait in the outbox until a deleter is configured."
        )
        store = application.store
        if isinstance(store, Destinations) and store.get_destination(DEFAULT_DESTINATION):
            server_log.warning(
                "The destination %r stays, sent nothing: its jobs wait until a server runs "
                "with --handoff-url, or an operator skips them and removes it.",
                DEFAULT_DESTINATION,
            )
    if application.console is not None and not application.admin.list_operators():
        server_log.warning(
            "No operator can sign in to the console yet. Add one with:\n"
            "  deletion-requests operators add NAME --store %s",
            store_url,
        )
