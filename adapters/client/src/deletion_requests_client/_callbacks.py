"""Verifying the server's status callbacks: Standard Webhooks signatures with the app's
`whsec_` callback secret, by the `standardwebhooks` package."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from ._errors import CallbackVerificationError
from ._models import CallbackEvent, Task


def callback_verifier(secret: str) -> Webhook:
    """A verifier for *secret* (`whsec_` and base64, as `apps set-callback` prints it);
    `ValueError` for anything else, without repeating the secret."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ValueError("a callback secret starts with whsec_ (as `apps set-callback` prints it)")
    try:
        return Webhook(secret)
    except (binascii.Error, ValueError, RuntimeError, EmptyWebhookSecretError) as exc:
        raise ValueError(f"a callback secret is whsec_ and base64 ({type(exc).__name__})") from None


def verify_callback(
    headers: Mapping[str, str], body: bytes, *, secret: str | Webhook
) -> CallbackEvent:
    """The event of a status callback, once its `webhook-signature` is checked against the
    exact *body* received, with its `webhook-id` and a `webhook-timestamp` within 5 minutes of
    this machine's clock. `CallbackVerificationError` for a callback that is not from the
    server, was altered, or is replayed late; answer those 401. *headers* may be any mapping
    of the request's headers (names in any case)."""
    verifier = secret if isinstance(secret, Webhook) else callback_verifier(secret)
    wanted = {name.lower(): value for name, value in headers.items()}
    try:
        verifier.verify(body, wanted, json_parse=False)
    except WebhookVerificationError as exc:
        raise CallbackVerificationError(f"the callback is not verified: {exc}") from None
    try:
        document = json.loads(body)
        event = CallbackEvent(
            event_type=str(document["eventType"]),
            event_id=str(document["eventId"]),
            task=Task.from_api(document["task"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CallbackVerificationError(
            f"the callback is signed but is not a status callback: {exc!r}"
        ) from None
    if event.event_id != wanted.get("webhook-id"):
        raise CallbackVerificationError("the callback's eventId is not its webhook-id")
    return event
