"""`deletion-requests`: serve the API and administer accounts, apps and tasks."""

from __future__ import annotations

from collections.abc import Iterator

import click

from ._cli_access import accounts, apps
from ._cli_common import (
    _time,
    opened,
    retention_option,
    running,
    settings_for,
    store_option,
    webhook_options,
)
from ._cli_destinations import destinations
from ._cli_operators import operators
from ._cli_serve import serve
from ._cli_tasks import tasks
from ._logs import FORMATS, LogFormat, configure_logging, default_format
from ._signing import new_webhook_secret


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


@main.command()
@retention_option
@store_option
def advance(retention_days: float, store_url: str) -> None:
    """Store what time made due: transitions, overdue marks, purges (for cron)."""
    with opened(store_url, retention_days, create=False) as application:
        done = application.service.maintain()
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
    settings = settings_for(
        store_url,
        create=False,
        handoff_url=handoff_url,
        review_url=review_url,
        webhook_secret=webhook_secret,
        deliver=True,
    )
    with running(settings) as application:
        report = application.service.deliver(
            application.sinks,
            limit=limit,
            callback_sender=application.callbacks,
            job_sender=application.jobs,
        )
        click.echo(
            f"delivered {report.delivered}; failed {report.failed}; waiting {report.waiting}"
        )
        for kind in sorted(application.sinks):
            backlog = application.store.backlog(kind)
            age = "" if backlog.oldest is None else f", oldest owed since {_time(backlog.oldest)}"
            click.echo(f"  {kind}: {backlog.count} owed{age}")


@main.command("new-webhook-secret")
def new_webhook_secret_command() -> None:
    """Print a new webhook secret (whsec_ and 32 random bytes, base64), for
    --webhook-secret, the deleter and the review webhook's receiver."""
    click.echo(new_webhook_secret())


for command in (serve, accounts, apps, tasks, operators, destinations):
    main.add_command(command)


def _all_commands(group: click.Group = main, prefix: str = "") -> Iterator[str]:
    """Every command path, for the documentation test."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _all_commands(command, f"{path} ")
        else:
            yield path
