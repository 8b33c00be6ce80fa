"""Making a new destination: its webhook URL checked, and its secret or credential made.

The CLI (`destinations add`) and the console's add form both go through
`DestinationWork.create`, so a destination is refused for the same reasons wherever it is
added.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urlsplit

import attrs

from ._access import digest_secret
from ._context import check_account_id
from ._destinations import DEFAULT, Destination, DestinationConflict, Mode
from ._errors import InvalidRequest, StoreError
from ._port_destinations import Destinations
from ._secrets import new_credential, new_signing_secret
from ._text import check_text


def check_waits_for(destination: Destination, known: Iterable[str]) -> None:
    """`InvalidRequest` naming the destinations *destination* waits for that are not among
    *known*, the names stored. A store checks it in the write that adds *destination*, so a
    removal at the same moment cannot leave it waiting for a destination that is gone."""
    missing = sorted(destination.waits_for - set(known))
    if missing:
        raise InvalidRequest(
            f"destination {destination.name!r} waits for unknown destination(s): "
            + ", ".join(missing)
        )


def check_webhook_url(url: str) -> str:
    """A push destination's webhook URL: absolute `https://` (or `http://`) with a host, and
    no user name or password in it, no control character (`check_text`). `InvalidRequest`
    naming the problem otherwise."""
    check_text(url, "a webhook URL")
    refused = InvalidRequest(
        "a webhook URL must be an absolute https:// or http:// URL with a host, such as "
        "https://crm.example/jobs"
    )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise refused from None
    if parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in url):
        raise refused
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest(
            "a webhook URL must not hold a user name or password: the destination checks "
            "the signature of each job instead"
        )
    return url


def new_destination(
    name: str,
    mode: Mode,
    now: dt.datetime,
    webhook_url: str | None = None,
    accounts: Iterable[str] | None = None,
    waits_for: Iterable[str] = (),
    secret: str | None = None,
) -> tuple[Destination, str | None]:
    """A destination to add, and the value to show once: a new `whsec_` secret for a push
    destination given none, a new credential for a pull one (the destination keeps only its
    digest), None when *secret* was given. *accounts* are account ids (none: every account).
    `InvalidRequest` when the mode and the rest disagree, or a name or account id is not one."""
    shown: str | None = None
    digest = None
    if mode is Mode.PULL:
        if webhook_url:
            raise InvalidRequest("a pull destination has no webhook URL: it claims its jobs")
        if secret is not None:
            raise InvalidRequest("a pull destination has no whsec_ secret: it gets a credential")
        shown = new_credential()
        digest = digest_secret(shown)
    else:
        if not webhook_url:
            raise InvalidRequest("a push destination needs a webhook URL")
        if secret is None:
            secret = shown = new_signing_secret()
    served = frozenset(check_account_id(a, "an account served") for a in accounts or ())
    made = Destination(
        name, mode, now, webhook_url, secret, digest, served or None, frozenset(waits_for)
    )
    return made, shown


def configure_default(store: Destinations, url: str, secret: str, now: dt.datetime) -> Destination:
    """`DestinationWork.configure_default` on *store*, a missing `default` made at *now*."""
    for _ in range(3):
        found = store.get_destination(DEFAULT)
        if found is None:
            made = Destination(DEFAULT, Mode.PUSH, now, url, secret)
            try:
                store.add_destination(made)
            except DestinationConflict:
                continue  # another server added it meanwhile: read it again
            return made
        if found.mode is not Mode.PUSH:
            raise DestinationConflict(
                f"the destination {DEFAULT!r} is a pull destination; the hand-off URL makes "
                f"{DEFAULT!r} a push destination: remove it, or serve without --handoff-url"
            )
        if (found.webhook_url, found.secret) == (url, secret):
            return found
        changed = attrs.evolve(found, webhook_url=url, secret=secret)
        if store.put_destination(changed):
            return changed
    raise StoreError(f"the destination {DEFAULT!r} kept changing; gave up")
