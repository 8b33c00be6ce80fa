"""A sink that POSTs each message to a URL, signed, over a pooled HTTP client."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import httpx

from deletion_requests import SIGNATURE_HEADER, DeletionTask, DeliveryFailed, sign

DELIVERY_HEADER = "Deletion-Requests-Delivery"
"""A fresh id per attempt, for receivers' logs; deduplicate by task id and type, not by this."""


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookSink:
    """POST the message body to *url* with `Content-Type: application/json` and the
    `Deletion-Requests-Signature` header (HMAC-SHA256 with *secret* over the timestamp and the
    body). Any 2xx is a delivery; anything else (another status, a redirect, a timeout, a
    refused connection) is a failed attempt whose detail names the status or the error class.

    A 2xx means "accepted": the receiver reports completion later. Redirects are not followed:
    following one would send identifiers somewhere else. Connections are kept and reused;
    `close` releases them.
    """

    def __init__(
        self,
        url: str,
        secret: bytes,
        name: str = "webhook",
        timeout: float = 10.0,
        now: Callable[[], dt.datetime] = _system_now,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http:// or https://, got {url!r}")
        if len(secret) < 16:
            raise ValueError("a webhook secret must be at least 16 bytes")
        self.url = url
        self.secret = secret
        self.name = name
        self.now = now
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            follow_redirects=False,
            headers={"User-Agent": "deletion-requests"},
        )

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        timestamp = int(self.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body, timestamp),
            DELIVERY_HEADER: str(uuid.uuid4()),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("timeout") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")
        return False

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r})"  # never the secret
