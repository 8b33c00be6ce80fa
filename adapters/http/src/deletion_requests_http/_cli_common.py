"""What the CLI's commands share: the store and webhook options, the application's settings
and its bootstrap, output."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from deletion_requests import (
    MAX_PERIOD,
    DeletionRequestError,
    Policy,
    StoreError,
    TaskNotFound,
    UnknownStore,
)

from ._bootstrap import Application, Settings, bootstrap
from ._signing import WEBHOOK_SECRET_ENV
from ._wiring import DEFAULT_STORE, SIGNING_KEY_ENV, STORE_ENV

F = TypeVar("F", bound=Callable[..., Any])


class Finite(click.FloatRange):
    """A `click.FloatRange` that also refuses `nan`, which passes every comparison with its
    bounds. Every option of this type has both bounds, so `inf` is refused too."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


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
        help=f"Shared Standard Webhooks secret, whsec_ and base64 of 16 bytes or more (better "
        f"${WEBHOOK_SECRET_ENV}; make one with new-webhook-secret), that signs webhooks and "
        "authenticates completions.",
    )(function)
    function = click.option(
        "--review-url",
        envvar="DELETION_REQUESTS_REVIEW_URL",
        show_envvar=True,
        help="Webhook for review alerts at ready (default: the log).",
    )(function)
    return click.option(
        "--handoff-url",
        envvar="DELETION_REQUESTS_HANDOFF_URL",
        show_envvar=True,
        help="Webhook of the deleter, POSTed each actioned task.",
    )(function)


def retention_option(function: F) -> F:
    return click.option(
        "--retention-days",
        envvar="DELETION_REQUESTS_RETENTION_DAYS",
        default=30.0,
        show_default=True,
        type=Finite(min=0, min_open=True, max=MAX_PERIOD.days),
        help="Days to keep a completed task's identifier hashes before purging them, at most "
        f"{MAX_PERIOD.days} (also $DELETION_REQUESTS_RETENTION_DAYS).",
    )(function)


def policy_for(retention_days: float | None) -> Policy:
    """The policy, with the retention `--retention-days` gives (the default without)."""
    if retention_days is None:
        return Policy()
    return Policy(retention=dt.timedelta(days=retention_days))


def settings_for(
    store_url: str, retention_days: float | None = None, create: bool = True, **more: Any
) -> Settings:
    """The application's settings for a command: the store, the retention, the signing key
    of `$DELETION_REQUESTS_SIGNING_KEY`, and *more*; a setting that cannot work becomes one
    clear line and exit code 1."""
    try:
        return Settings(
            store_url,
            policy=policy_for(retention_days),
            signing_key=os.environ.get(SIGNING_KEY_ENV),
            create=create,
            **more,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def running(settings: Settings) -> Iterator[Application]:
    """The application *settings* describe, closed at the end; errors become one clear line
    and exit code 1."""
    try:
        application = bootstrap(settings)
    except (UnknownStore, StoreError, ValueError, DeletionRequestError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    try:
        yield application
    except TaskNotFound as exc:
        raise click.ClickException(f"no task {exc.task_id} in {settings.store_url}") from None
    except (DeletionRequestError, StoreError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    finally:
        application.close()


def opened(
    store_url: str, retention_days: float | None = None, create: bool = True
) -> contextlib.AbstractContextManager[Application]:
    """The application over *store_url* (an existing store only, unless *create*)."""
    return running(settings_for(store_url, retention_days, create))


def reading(store_url: str) -> contextlib.AbstractContextManager[Application]:
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
