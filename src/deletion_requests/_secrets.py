"""The secrets the service makes and shows once: a Standard Webhooks signing secret, and a pull
destination's credential (of which only a digest is kept)."""

from __future__ import annotations

import base64
import secrets


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_credential() -> str:
    """A new pull credential (shown once; the destination keeps only its digest)."""
    return "drd_" + secrets.token_urlsafe(32)
