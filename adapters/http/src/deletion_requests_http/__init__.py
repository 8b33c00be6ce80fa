"""The HTTP service and CLI of deletion-requests."""

from ._app import create_app
from ._bootstrap import Application, Settings, bootstrap
from ._documents import MAX_BODY
from ._signing import check_webhook_secret, new_webhook_secret, signed_headers, verify_signed
from ._tokens import TokenIssuer, stored_signing_key
from ._webhooks import WebhookSink
from ._wiring import DEFAULT_STORE

__all__ = [
    "DEFAULT_STORE",
    "MAX_BODY",
    "Application",
    "Settings",
    "TokenIssuer",
    "WebhookSink",
    "bootstrap",
    "check_webhook_secret",
    "create_app",
    "new_webhook_secret",
    "signed_headers",
    "stored_signing_key",
    "verify_signed",
]
