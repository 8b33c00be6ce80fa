"""OAuth2 client-credentials bearer tokens: HS256 JWTs whose expiry is judged by the service's
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


def stored_signing_key(store: Store) -> str:
    """The key the store keeps, generated on first use and shared by every server on the store."""
    return store.setting(SIGNING_KEY_SETTING, lambda: secrets.token_urlsafe(48))


@attrs.frozen
class TokenIssuer:
    key: str = attrs.field(repr=False)
    clock: Clock
    ttl: dt.timedelta = DEFAULT_TTL
    _verified: dict[str, tuple[str, int]] = attrs.field(factory=dict, init=False, repr=False)
    """Tokens whose signature this process already checked: (app id, expiry). A client sends
    the same token for an hour; checking its signature once keeps Bearer as cheap as Basic.
    Expiry is still judged on every use, and the app behind it is still checked by the
    service."""

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
        known = self._verified.get(token)
        if known is not None:
            subject, expires = known
        else:
            subject, expires = self._check(token)
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[token] = (subject, expires)
        if expires <= self.clock.now().timestamp():
            raise AuthenticationFailed("the bearer token has expired; request a new one")
        return subject

    def _check(self, token: str) -> tuple[str, int]:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
            )
        except jwt.InvalidTokenError:
            raise AuthenticationFailed("the bearer token is invalid") from None
        expires, subject = claims["exp"], claims["sub"]
        if not isinstance(expires, int) or not isinstance(subject, str):
            raise AuthenticationFailed("the bearer token is invalid")
        return subject, expires
