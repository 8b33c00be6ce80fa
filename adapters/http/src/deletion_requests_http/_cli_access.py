"""`deletion-requests accounts` and `apps`: who may request deletions, and the API clients."""

from __future__ import annotations

import json

import click

from deletion_requests.wire import check_callback_url

from ._cli_common import (
    F,
    _echo_json,
    _iso,
    _table,
    _time,
    json_option,
    opened,
    reading,
    store_option,
)


@click.group()
def accounts() -> None:
    """The allow-list of accounts that may request deletions."""


@accounts.command("allow")
@click.argument("account_id")
@store_option
def accounts_allow(account_id: str, store_url: str) -> None:
    """Allow-list ACCOUNT_ID (idempotent)."""
    with opened(store_url) as application:
        account = application.admin.allow_account(account_id)
        click.echo(f"allowed {account.account_id} (since {_time(account.allowed_time)})")


@accounts.command("revoke")
@click.argument("account_id")
@store_option
def accounts_revoke(account_id: str, store_url: str) -> None:
    """Remove ACCOUNT_ID from the allow-list."""
    with opened(store_url, create=False) as application:
        if not application.admin.revoke_account(account_id):
            raise click.ClickException(f"account {account_id} is not allow-listed")
        click.echo(f"revoked {account_id}")


@accounts.command("list")
@json_option
@store_option
def accounts_list(as_json: bool, store_url: str) -> None:
    """List allow-listed accounts."""
    with reading(store_url) as application:
        found = application.admin.list_accounts()
        if as_json:
            _echo_json(
                [{"accountId": a.account_id, "allowedTime": _iso(a.allowed_time)} for a in found]
            )
            return
        _table(["ACCOUNT", "ALLOWED"], [[a.account_id, _time(a.allowed_time)] for a in found])


@click.group()
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
    with opened(store_url) as application:
        if callback_url is not None:
            check_callback_url(callback_url, allow_http_callbacks)  # before the app is made
        app, secret = application.admin.create_app(list(accounts_))
        callback_secret = None
        if callback_url is not None:
            callback_secret = application.admin.set_callback(
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
    with opened(store_url, create=False) as application:
        if remove:
            if not application.admin.remove_callback(app_id):
                raise click.ClickException(f"app {app_id} has no callback URL")
            click.echo(f"removed the callback of {app_id}")
            return
        assert url is not None
        secret = application.admin.set_callback(app_id, url, allow_http_callbacks)
        click.echo(f"callbacks of {app_id} go to {url}")
        _echo_callback_secret(secret)


@apps.command("rotate-callback-secret")
@click.argument("app_id")
@store_option
def apps_rotate_callback_secret(app_id: str, store_url: str) -> None:
    """A new signing secret for APP_ID's callbacks, in use at once; printed once."""
    with opened(store_url, create=False) as application:
        _echo_callback_secret(application.admin.rotate_callback_secret(app_id))


@apps.command("revoke")
@click.argument("app_id")
@store_option
def apps_revoke(app_id: str, store_url: str) -> None:
    """Revoke APP_ID: its credentials and tokens stop working at once."""
    with opened(store_url, create=False) as application:
        if not application.admin.revoke_app(app_id):
            raise click.ClickException(f"no app {app_id}")
        click.echo(f"revoked {app_id}")


@apps.command("list")
@json_option
@store_option
def apps_list(as_json: bool, store_url: str) -> None:
    """List apps (never their secrets)."""
    with reading(store_url) as application:
        callbacks = application.admin.callbacks()
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
                    for a in application.admin.list_apps()
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
            for a in application.admin.list_apps()
        ]
        _table(["APP", "ACCOUNTS", "CREATED", "STATE", "CALLBACK"], rows)
