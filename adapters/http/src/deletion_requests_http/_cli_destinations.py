"""`deletion-requests destinations`: the downstream systems every actioned task is sent to."""

from __future__ import annotations

import click

from deletion_requests import Destination, DestinationWork, Mode

from ._cli_common import _echo_json, _iso, _table, _time, json_option, opened, store_option
from ._cli_tasks import _operator, operator_option
from ._signing import check_webhook_secret


@click.group()
def destinations() -> None:
    """Destinations: the systems that must act on every actioned task, by push or pull."""


def _describe(destination: Destination) -> dict[str, object]:
    return {
        "name": destination.name,
        "mode": destination.mode.value,
        "webhookUrl": destination.webhook_url,
        "accounts": None if destination.accounts is None else sorted(destination.accounts),
        "waitsFor": sorted(destination.waits_for),
        "paused": destination.paused,
        "pausedBy": _paused_by(destination),
        "changedBy": destination.changed_by,
        "changedTime": _iso(destination.changed_time),
        "failures": destination.failures,
        "lastError": destination.last_error or None,
        "createdTime": _iso(destination.created_time),
    }


def _paused_by(destination: Destination) -> str | None:
    """Why it is paused: `breaker`, `operator`, or None when it is not."""
    if not destination.paused:
        return None
    return "breaker" if destination.paused_by_breaker else "operator"


@destinations.command("add")
@click.argument("name")
@click.option("--push", "webhook_url", metavar="URL", help="Push: POST each job to URL.")
@click.option(
    "--secret",
    metavar="WHSEC",
    help="Push: the destination's whsec_ secret (a new one is made and shown when omitted).",
)
@click.option("--pull", is_flag=True, help="Pull: the destination claims its jobs over HTTP.")
@click.option("--account", "accounts", multiple=True, help="An account served (default: all).")
@click.option("--waits-for", "waits_for", multiple=True, help="A destination that reports first.")
@store_option
def destinations_add(
    name: str,
    webhook_url: str | None,
    secret: str | None,
    pull: bool,
    accounts: tuple[str, ...],
    waits_for: tuple[str, ...],
    store_url: str,
) -> None:
    """Add destination NAME, by --push URL or --pull. Its secret or credential is shown once."""
    if pull == (webhook_url is not None):
        raise click.UsageError("give exactly one of --push URL and --pull")
    if pull and secret is not None:
        raise click.UsageError("--secret is for a push destination")
    if secret is not None:
        try:
            check_webhook_secret(secret)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    with opened(store_url) as application:
        destination, shown = DestinationWork(application.service).create(
            name, Mode.PULL if pull else Mode.PUSH, webhook_url, accounts, waits_for, secret
        )
    click.echo(f"added {destination.mode.value} destination {name}")
    if shown is not None:
        label = "Credential" if pull else "Webhook secret"
        click.echo(f"{label} (shown once): {shown}")


@destinations.command("list")
@json_option
@store_option
def destinations_list(as_json: bool, store_url: str) -> None:
    """List the destinations, with their open jobs."""
    with opened(store_url, create=False) as application:
        work = DestinationWork(application.service)
        found = work.store.list_destinations()
        counts = work.store.job_counts()
    if as_json:
        _echo_json([_describe(d) for d in found])
        return
    rows = []
    for d in found:
        count = counts.get(d.name)
        rows.append(
            [
                d.name,
                d.mode.value,
                f"paused ({_paused_by(d)})" if d.paused else "active",
                str(count.owed if count else 0),
                str(count.in_progress if count else 0),
                _time(count.oldest_open if count else None),
            ]
        )
    _table(["NAME", "MODE", "STATE", "OWED", "IN PROGRESS", "OLDEST OPEN"], rows)


@destinations.command("show")
@click.argument("name")
@json_option
@store_option
def destinations_show(name: str, as_json: bool, store_url: str) -> None:
    """Show destination NAME and its jobs at a glance."""
    with opened(store_url, create=False) as application:
        work = DestinationWork(application.service)
        destination = work.get(name)
        count = work.store.job_counts().get(name)
    described = _describe(destination)
    if count is not None:
        described |= {
            "owed": count.owed,
            "inProgress": count.in_progress,
            "final": count.final,
            "failed": count.failed,
            "oldestOpen": _iso(count.oldest_open),
        }
    if as_json:
        _echo_json(described)
        return
    for key, value in described.items():
        click.echo(f"{key}: {'-' if value is None else value}")


def _set_paused(name: str, paused: bool, operator: str | None, store_url: str) -> None:
    by = _operator(operator)
    with opened(store_url, create=False) as application:
        before = DestinationWork(application.service).get(name)
        DestinationWork(application.service).set_paused(name, paused, by)
    closed = " (its breaker is closed)" if not paused and before.paused_by_breaker else ""
    click.echo(f"{'paused' if paused else 'resumed'} {name}{closed}")


@destinations.command("pause")
@click.argument("name")
@operator_option
@store_option
def destinations_pause(name: str, operator: str | None, store_url: str) -> None:
    """Pause NAME: it is sent nothing, and its jobs stay owed."""
    _set_paused(name, True, operator, store_url)


@destinations.command("resume")
@click.argument("name")
@operator_option
@store_option
def destinations_resume(name: str, operator: str | None, store_url: str) -> None:
    """Resume NAME: its owed jobs are sent again. Resuming one its breaker paused closes the
    breaker and starts its count of failures again."""
    _set_paused(name, False, operator, store_url)


@destinations.command("rotate")
@click.argument("name")
@operator_option
@store_option
def destinations_rotate(name: str, operator: str | None, store_url: str) -> None:
    """Give NAME a new secret (push) or credential (pull), shown once; the old one stops
    working at once."""
    by = _operator(operator)
    with opened(store_url, create=False) as application:
        rotated, shown = DestinationWork(application.service).rotate(name, by)
    label = "Credential" if rotated.mode is Mode.PULL else "Webhook secret"
    click.echo(f"rotated {name}")
    click.echo(f"{label} (shown once): {shown}")


@destinations.command("remove")
@click.argument("name")
@operator_option
@store_option
def destinations_remove(name: str, operator: str | None, store_url: str) -> None:
    """Remove NAME; refused while others wait for it or it has jobs without an outcome."""
    by = _operator(operator)
    with opened(store_url, create=False) as application:
        DestinationWork(application.service).remove(name, by)
    click.echo(f"removed {name}")


@destinations.command("skip")
@click.argument("name")
@click.argument("task_id")
@click.option("--reason", required=True, help="Why: recorded as the outcome and in the history.")
@operator_option
@store_option
def destinations_skip(
    name: str, task_id: str, reason: str, operator: str | None, store_url: str
) -> None:
    """Give up on NAME's job for TASK_ID: its outcome is failed, with the reason."""
    by = _operator(operator)
    with opened(store_url, create=False) as application:
        recorded = DestinationWork(application.service).skip(task_id, name, reason, by)
    done = " (the task is completed)" if recorded.completed is not None else ""
    click.echo(f"skipped {name} for {task_id}{done}")


@destinations.command("retry")
@click.argument("name")
@click.argument("task_id")
@click.option("--reason", required=True, help="Why: recorded in the task's history.")
@operator_option
@store_option
def destinations_retry(
    name: str, task_id: str, reason: str, operator: str | None, store_url: str
) -> None:
    """Send NAME's job for TASK_ID again: owed now, its attempts and last error kept."""
    by = _operator(operator)
    with opened(store_url, create=False) as application:
        job = DestinationWork(application.service).retry(task_id, name, reason, by)
    click.echo(f"retried {name} for {task_id} (owed, {job.attempts} attempt(s) so far)")
