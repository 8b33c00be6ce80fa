"""A sink that POSTs each message to a URL, signed as Standard Webhooks, over a pooled HTTP
client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx

from deletion_requests import Callback, DeletionTask, DeliveryFailed, message_id

from ._signing import check_webhook_secret, signed_headers


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookSink:
    """POST the message body of *kind* to *url* with `Content-Type: application/json` and
    the Standard Webhooks headers (`webhook-id`: the message's id, the same on every attempt;
    `webhook-timestamp`; `webhook-signature`, HMAC-SHA256 with the `whsec_` *secret*).
    Any 2xx is a delivery; anything else (another status, a redirect, a timeout, a
    refused connection) is a failed attempt whose detail names the status or the error class.

    A 2xx means "accepted": the receiver reports completion later. Redirects are not followed:
    following one would send identifiers somewhere else. Connections are kept and reused;
    `close` releases them.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        kind: str,
        name: str = "webhook",
        timeout: float = 10.0,
        now: Callable[[], dt.datetime] = _system_now,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http:// or https://, got {url!r}")
        check_webhook_secret(secret)
        self.url = url
        self.secret = secret
        self.kind = kind
        self.name = name
        self.now = now
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            follow_redirects=False,
            headers={"User-Agent": "deletion-requests"},
        )

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        headers = {
            "Content-Type": "application/json",
            **signed_headers(self.secret, message_id(task, self.kind), body, self.now()),
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


class CallbackWebhooks:
    """Sends apps' status callbacks: POSTs each body to the app's URL with the Standard
    Webhooks headers, signed with the app's own secret, `webhook-id` being the event id. Any
    2xx is a delivery; redirects are not followed; anything else is a failed attempt."""

    name = "callback-webhook"

    def __init__(self, timeout: float = 10.0, now: Callable[[], dt.datetime] = _system_now) -> None:
        self.now = now
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            follow_redirects=False,
            headers={"User-Agent": "deletion-requests"},
        )

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            **signed_headers(callback.secret, event_id, body, self.now()),
        }
        try:
            response = self._client.post(callback.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("timeout") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()
