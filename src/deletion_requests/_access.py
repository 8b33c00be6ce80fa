"""Who may ask for deletions: allow-listed accounts and the apps that act for them."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable

import attrs

from ._clock import as_utc
from ._task import frozen_strings


def _utc(value: dt.datetime) -> dt.datetime:
    return as_utc(value, "time")


@attrs.frozen
class Account:
    """An account allow-listed for data deletion."""

    account_id: str
    allowed_time: dt.datetime = attrs.field(converter=_utc)


@attrs.frozen
class App:
    """An API client. Its secret is kept only as a SHA-256 digest (hex).

    No slow KDF: secrets are 256-bit random tokens, so a plain digest resists guessing, and the
    request path stays cheap.
    """

    app_id: str
    secret_digest: str = attrs.field(repr=False)
    accounts: frozenset[str] = attrs.field(converter=frozen_strings)
    created_time: dt.datetime = attrs.field(converter=_utc)
    revoked: bool = False

    def verify(self, secret: str) -> bool:
        """Constant-time check of *secret* against the stored digest."""
        return hmac.compare_digest(digest_secret(secret), self.secret_digest)


def apps_from_grants(
    rows: Iterable[tuple[str, str, dt.datetime, bool, str | None]],
) -> list[App]:
    """Apps from rows of (app id, secret digest, created, revoked, granted account or None),
    one row per grant, as a join of apps and their grants gives them; in first-seen order."""
    apps: dict[str, tuple[str, dt.datetime, bool]] = {}
    grants: dict[str, set[str]] = {}
    for app_id, digest, created, revoked, account in rows:
        apps[app_id] = (digest, created, revoked)
        granted = grants.setdefault(app_id, set())
        if account is not None:
            granted.add(account)
    return [
        App(app_id, digest, frozenset(grants[app_id]), created, bool(revoked))
        for app_id, (digest, created, revoked) in apps.items()
    ]


def digest_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_app_id() -> str:
    return "app_" + secrets.token_hex(12)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@attrs.frozen
class Caller:
    """An authenticated app and the accounts it may act for now (granted and allow-listed)."""

    app_id: str
    accounts: frozenset[str] = attrs.field(converter=frozen_strings)
