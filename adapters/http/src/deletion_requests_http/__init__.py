"""The HTTP service and CLI of deletion-requests."""

from ._app import MAX_BODY, create_app
from ._tokens import TokenIssuer, stored_signing_key
from ._wiring import DEFAULT_STORE, Server

__all__ = ["DEFAULT_STORE", "MAX_BODY", "Server", "TokenIssuer", "create_app", "stored_signing_key"]
