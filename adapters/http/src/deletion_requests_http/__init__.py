"""The HTTP service and CLI of deletion-requests."""

from ._app import create_app
from ._endpoints import MAX_BODY
from ._tokens import TokenIssuer, stored_signing_key
from ._webhooks import DELIVERY_HEADER, WebhookSink
from ._wiring import DEFAULT_STORE, Server

__all__ = [
    "DEFAULT_STORE",
    "DELIVERY_HEADER",
    "MAX_BODY",
    "Server",
    "TokenIssuer",
    "WebhookSink",
    "create_app",
    "stored_signing_key",
]
