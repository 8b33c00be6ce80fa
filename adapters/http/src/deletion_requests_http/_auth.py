"""Who is calling: the app behind a request's `Authorization` header."""

from __future__ import annotations

import base64
import binascii
import logging

from deletion_requests import AuthenticationFailed, Caller, DeletionService

from ._errors import HttpError
from ._tokens import TokenIssuer

auth_log = logging.getLogger("deletion_requests.http.auth")


def bearer_challenge(description: str) -> dict[str, str]:
    """The `WWW-Authenticate` header of a refused bearer token (RFC 6750 3.1)."""
    quoted = description.replace("\\", "\\\\").replace('"', '\\"')
    return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{quoted}"'}


def caller(service: DeletionService, tokens: TokenIssuer, header: str | None) -> Caller:
    """The caller for `Bearer <token>` or `Basic base64(AppId:AppSecret)`; reads the store
    (its access version, and the app when that moved). `AuthenticationFailed` for anything
    else, but a refused bearer token: 403 `AUTHENTICATION_ERROR` with the RFC 6750
    `WWW-Authenticate` challenge, so a client knows to fetch a new token."""
    app_id, secret = credentials(tokens, header)
    if secret is None:
        try:
            return service.caller_for(app_id)
        except AuthenticationFailed as exc:
            raise bearer_refused(exc) from None
    return authenticate(service, app_id, secret)


def credentials(tokens: TokenIssuer, header: str | None) -> tuple[str, str | None]:
    """(AppId, AppSecret) of Basic credentials, or (AppId, None) for a bearer token whose
    signature and times *tokens* accept (else `bearer_refused`); `AuthenticationFailed` for
    a missing header or another scheme."""
    if not header:
        raise AuthenticationFailed(
            "missing Authorization header: send Bearer <token> or Basic AppId:AppSecret"
        )
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() == "bearer" and given:
        try:
            return tokens.verify(given), None
        except AuthenticationFailed as exc:
            raise bearer_refused(exc) from None
    if scheme.lower() == "basic" and given:
        return basic_credentials(given)
    raise AuthenticationFailed("the Authorization header must be Bearer or Basic")


def bearer_refused(exc: AuthenticationFailed) -> HttpError:
    """The 403 of a refused bearer token, with its challenge; logged."""
    auth_log.warning("bearer token refused: %s", exc.message, extra={"reason": exc.message})
    return HttpError("AUTHENTICATION_ERROR", exc.message, bearer_challenge(exc.message))


def authenticate(service: DeletionService, app_id: str, secret: str) -> Caller:
    """The app *app_id* whose secret is *secret*; `AuthenticationFailed` (logged with the
    AppId tried, never the secret) otherwise."""
    try:
        return service.authenticate(app_id, secret)
    except AuthenticationFailed as exc:
        log_refused(app_id, exc)
        raise


def log_refused(app_id: str, exc: AuthenticationFailed) -> None:
    """Log failed credentials: the AppId tried, never the secret."""
    tried = app_id[:128]
    auth_log.warning(
        "authentication failed for AppId %r: %s",
        tried,
        exc.message,
        extra={"app_id_tried": tried, "reason": exc.message},
    )


def client_credentials(header: str | None, form: dict[str, list[str]]) -> tuple[str, str]:
    """(AppId, AppSecret) of a token request (RFC 6749 2.3.1): Basic credentials in *header*
    (`client_secret_basic`) or `client_id` and `client_secret` in the *form* body
    (`client_secret_post`). Both at once, or a parameter twice, is 400 (OAuth2's
    `invalid_request`); neither, 403 `AUTHENTICATION_ERROR`."""
    in_form = [name for name in ("client_id", "client_secret") if name in form]
    if in_form and header:
        raise HttpError(
            "BAD_REQUEST",
            "invalid_request: send the client credentials either as Basic credentials or as "
            "client_id and client_secret in the form body, not both",
        )
    if in_form:
        if any(len(form.get(name, [])) > 1 for name in in_form):
            raise HttpError("BAD_REQUEST", "invalid_request: client_id or client_secret repeated")
        app_id = form.get("client_id", [""])[0]
        secret = form.get("client_secret", [""])[0]
        if not app_id or not secret:
            raise AuthenticationFailed(
                "send both client_id (the AppId) and client_secret (the AppSecret)"
            )
        return app_id, secret
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        raise AuthenticationFailed(
            "send the AppId and AppSecret as Basic credentials, or as client_id and "
            "client_secret in the form body"
        )
    return basic_credentials(credentials.strip())


def basic_credentials(credentials: str) -> tuple[str, str]:
    """(AppId, AppSecret) from the base64 part of a Basic header."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("Basic credentials are not valid base64") from None
    app_id, colon, secret = decoded.partition(":")
    if not colon or not app_id or not secret:
        raise AuthenticationFailed("Basic credentials must be AppId:AppSecret")
    return app_id, secret
