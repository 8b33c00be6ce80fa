"""`deletion-requests operators`: the people who sign in to the console."""

from __future__ import annotations

import sys

import click

from ._cli_common import _echo_json, _iso, _table, _time, json_option, opened, reading, store_option


@click.group()
def operators() -> None:
    """Operators, who sign in to the console at /console/."""


@operators.command("add")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of generating one.",
)
@store_option
def operators_add(name: str, password_stdin: bool, store_url: str) -> None:
    """Add operator NAME; prints a generated password once (only a scrypt hash is kept)."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    with opened(store_url) as application:
        operator, password = application.admin.add_operator(name, password)
        click.echo(f"added operator {operator.name}")
        if not password_stdin:
            click.echo(f"Password: {password}")
            click.echo("Keep it now: it is stored only as a hash and cannot be shown again.")


@operators.command("list")
@json_option
@store_option
def operators_list(as_json: bool, store_url: str) -> None:
    """List operators (never their passwords)."""
    with reading(store_url) as application:
        found = application.admin.list_operators()
        if as_json:
            _echo_json([{"name": o.name, "createdTime": _iso(o.created_time)} for o in found])
            return
        _table(["OPERATOR", "ADDED"], [[o.name, _time(o.created_time)] for o in found])


@operators.command("remove")
@click.argument("name")
@store_option
def operators_remove(name: str, store_url: str) -> None:
    """Remove operator NAME: their console sessions end at their next request."""
    with opened(store_url, create=False) as application:
        if not application.admin.remove_operator(name):
            raise click.ClickException(f"no operator {name}")
        click.echo(f"removed operator {name}")
