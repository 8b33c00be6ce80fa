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
        self._client = _client(timeout, connections=4)

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        message = message_id(task, self.kind)
        _post_signed(self._client, self.url, self.secret, message, body, self.now())
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
        self._client = _client(timeout, connections=8)

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        _post_signed(self._client, callback.url, callback.secret, event_id, body, self.now())

    def close(self) -> None:
        self._client.close()


def _client(timeout: float, connections: int) -> httpx.Client:
    """A pooled client that never follows a redirect (it would send the body elsewhere)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections // 2
        ),
        follow_redirects=False,
        headers={"User-Agent": "deletion-requests"},
    )


def _post_signed(
    client: httpx.Client,
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    at: dt.datetime,
) -> None:
    """POST *body* signed as Standard Webhooks message *message_id*; `DeliveryFailed` naming
    the status or the error class unless the answer is a 2xx."""
    headers = {"Content-Type": "application/json", **signed_headers(secret, message_id, body, at)}
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise DeliveryFailed("timeout") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(type(exc).__name__) from None
    if not response.is_success:
        raise DeliveryFailed(f"HTTP {response.status_code}")
