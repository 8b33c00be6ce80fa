"""Who is calling: the app behind a request's `Authorization` header."""

from __future__ import annotations

import base64
import binascii
import logging

from deletion_requests import AuthenticationFailed, Caller, DeletionService

from ._tokens import TokenIssuer

auth_log = logging.getLogger("deletion_requests.http.auth")


def caller(service: DeletionService, tokens: TokenIssuer, header: str | None) -> Caller:
    """The caller for `Bearer <token>` or `Basic base64(AppId:AppSecret)`; reads the store
    (its access version, and the app when that moved). `AuthenticationFailed` for anything
    else."""
    if not header:
        raise AuthenticationFailed(
            "missing Authorization header: send Bearer <token> or Basic AppId:AppSecret"
        )
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        try:
            return service.caller_for(tokens.verify(credentials))
        except AuthenticationFailed as exc:
            auth_log.warning("bearer token refused: %s", exc.message, extra={"reason": exc.message})
            raise
    if scheme.lower() == "basic" and credentials:
        app_id, secret = basic_credentials(credentials)
        try:
            return service.authenticate(app_id, secret)
        except AuthenticationFailed as exc:
            tried = app_id[:128]
            auth_log.warning(
                "authentication failed for AppId %r: %s",
                tried,
                exc.message,
                extra={"app_id_tried": tried, "reason": exc.message},
            )
            raise
    raise AuthenticationFailed("the Authorization header must be Bearer or Basic")


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


def basic_app_id(header: str | None) -> str | None:
    """The AppId a Basic `Authorization` header names, unchecked; None for anything else."""
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return basic_credentials(credentials.strip())[0]
    except AuthenticationFailed:
        return None
