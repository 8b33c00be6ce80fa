"""OAuth2 client-credentials bearer tokens: HS256 JWTs whose times are judged by the service's
clock (so tests can move time), never by the wall clock inside the JWT library."""

from __future__ import annotations

import datetime as dt
import secrets

import attrs
import jwt

from deletion_requests import AuthenticationFailed, Clock, Store

ISSUER = "deletion-requests"
SIGNING_KEY_SETTING = "jwt-signing-key"
DEFAULT_TTL = dt.timedelta(hours=1)
CLOCK_SKEW = dt.timedelta(seconds=30)
"""How far in the future a token's `iat` may be: servers on several machines disagree a little
about the time."""


def stored_signing_key(store: Store) -> str:
    """The key the store keeps, generated on first use and shared by every server on the store."""
    return store.setting(SIGNING_KEY_SETTING, lambda: secrets.token_urlsafe(48))


@attrs.frozen
class TokenIssuer:
    """Issues tokens for `ttl`, and accepts only tokens it could have issued: signed with
    `key`, from `ISSUER`, issued no later than now (give or take `CLOCK_SKEW`), valid already
    (`nbf`, when the token has one, no later than now, give or take `CLOCK_SKEW`), not
    expired, and valid for no longer than `ttl`."""

    key: str = attrs.field(repr=False)
    clock: Clock
    ttl: dt.timedelta = DEFAULT_TTL
    _checked: dict[str, tuple[str, int, int, int]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    """Tokens whose signature and claims this process already checked: (app id, iat, nbf,
    exp), nbf being iat when the token has none. A
    client sends one token for an hour; its signature is checked once, its times every time."""

    def __attrs_post_init__(self) -> None:
        if len(self.key) < 32:
            raise ValueError("the token signing key must be at least 32 characters")

    def issue(self, app_id: str) -> tuple[str, int]:
        """A signed token for *app_id* and its lifetime in seconds."""
        now = int(self.clock.now().timestamp())
        lifetime = int(self.ttl.total_seconds())
        claims = {"sub": app_id, "iss": ISSUER, "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, self.key, algorithm="HS256"), lifetime

    def verify(self, token: str) -> str:
        """The app id a valid, unexpired token names; `AuthenticationFailed` otherwise."""
        checked = self._checked.get(token)
        if checked is None:
            checked = self._claims(token)
            if len(self._checked) >= 10_000:
                self._checked.clear()
            self._checked[token] = checked
        subject, issued, not_before, expires = checked
        now = self.clock.now().timestamp()
        if issued > now + CLOCK_SKEW.total_seconds():
            raise AuthenticationFailed("the bearer token is issued in the future")
        if not_before > now + CLOCK_SKEW.total_seconds():
            raise AuthenticationFailed("the bearer token is not valid yet (its nbf is later)")
        if expires <= now:
            raise AuthenticationFailed("the bearer token has expired; request a new one")
        return subject

    def _claims(self, token: str) -> tuple[str, int, int, int]:
        """(app id, iat, nbf, exp) of a token signed with our key, by us, for no longer than
        `ttl`."""
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "sub"],
                },
            )
        except jwt.InvalidTokenError:
            raise AuthenticationFailed("the bearer token is invalid") from None
        issued, expires, subject = claims["iat"], claims["exp"], claims["sub"]
        not_before = claims.get("nbf", issued)
        times = (issued, not_before, expires)
        if not all(type(value) is int for value in times) or not isinstance(subject, str):
            raise AuthenticationFailed("the bearer token is invalid")
        if expires - issued > self.ttl.total_seconds():
            raise AuthenticationFailed("the bearer token is valid for longer than tokens are")
        return subject, issued, not_before, expires
