"""Webhook signatures in the Standard Webhooks format, with the `standardwebhooks` package:
`webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256>`), and
`whsec_` secrets. Hand-offs, review alerts and the completion endpoint all use them."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deletion_requests.wire import SignatureInvalid, new_signing_secret

PREFIX = "whsec_"
MIN_SECRET_BYTES = 16
WEBHOOK_SECRET_ENV = "DELETION_REQUESTS_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
_WHOLE_SECONDS = re.compile(r"[1-9][0-9]{0,11}")
"""A `webhook-timestamp` as Standard Webhooks spells it: whole seconds since the epoch, ASCII
digits only, no sign, space, fraction, exponent or leading zero."""


new_webhook_secret = new_signing_secret
"""A new secret: `whsec_` and 32 random bytes in base64 (the core's, which also makes the
apps' callback secrets)."""


def check_webhook_secret(secret: str | None) -> None:
    """A secret, when one is set, is `whsec_` and base64 of at least `MIN_SECRET_BYTES` bytes
    (`ValueError` naming the problem, never the secret)."""
    if secret is None:
        return
    hint = "make one with `deletion-requests new-webhook-secret`"
    if not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret starts with {PREFIX} (Standard Webhooks): {hint}")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {PREFIX} and base64: {hint}") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret holds at least {MIN_SECRET_BYTES} bytes (set "
            f"${WEBHOOK_SECRET_ENV}): {hint}"
        )


def signed_headers(secret: str, message_id: str, body: bytes, at: dt.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for *body*, sent at *at* as *message_id*."""
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def verify_signed(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Check the Standard Webhooks headers of a request over its exact *body*: the signature,
    and a timestamp of whole seconds (`_WHOLE_SECONDS`: the one spelling that was signed)
    within 5 minutes of the wall clock (a request replayed later is refused).
    `SignatureInvalid` for anything wrong, whatever the headers hold."""
    wanted = {
        name: headers.get(name, "")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    if not all(wanted.values()):
        raise SignatureInvalid(
            "send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)"
        )
    if not _WHOLE_SECONDS.fullmatch(wanted["webhook-timestamp"]):
        raise SignatureInvalid(
            "the webhook-timestamp must be whole seconds since the epoch, in digits only "
            "(no sign, spaces, fraction or leading zero)"
        )
    try:
        Webhook(secret).verify(body, wanted, json_parse=False)
    except WebhookVerificationError as exc:
        raise SignatureInvalid(f"the webhook signature is refused: {exc}") from None
    except (ValueError, OverflowError, OSError):  # a timestamp past what datetime holds
        raise SignatureInvalid("the webhook-timestamp is not a time") from None
