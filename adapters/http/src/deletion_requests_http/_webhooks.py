"""A sink that POSTs each message to a URL, and a sender of the apps' status callbacks, both
signed as Standard Webhooks and sent by a `Poster`: each attempt has a total deadline, reads at
most `MAX_ANSWER` bytes of the answer, and goes through the environment's proxy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from deletion_requests import DeletionTask, DeliveryFailed
from deletion_requests.stores import Callback
from deletion_requests.wire import message_id

from ._outbound import Poster
from ._signing import check_webhook_secret, signed_headers


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookSink:
    """POST the message body of *kind* to *url* with `Content-Type: application/json` and
    the Standard Webhooks headers (`webhook-id`: the message's id, the same on every attempt;
    `webhook-timestamp`; `webhook-signature`, HMAC-SHA256 with the `whsec_` *secret*).
    Any 2xx is a delivery; anything else (another status, a redirect, a timeout, a
    refused connection) is a failed attempt whose detail names the status or the error class.
    An attempt takes at most *timeout* seconds in all, from connecting to the end of the
    answer, however slowly the receiver answers, and reads at most `MAX_ANSWER` bytes of it.
    It goes through the proxy that `HTTP_PROXY` or `HTTPS_PROXY` names, unless `NO_PROXY`
    covers the URL's host (`Poster`; the environment is read when the sink is made).

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
        self._poster = Poster(timeout, connections=4)

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        message = message_id(task, self.kind)
        _post_signed(self._poster, self.url, self.secret, message, body, self.now())
        return False

    def alert(self, message: str, body: bytes) -> None:
        """POST *body*, signed, as the message *message*: an alert that no task owes."""
        _post_signed(self._poster, self.url, self.secret, message, body, self.now())

    def close(self) -> None:
        self._poster.close()

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r})"  # never the secret


class CallbackWebhooks:
    """Sends apps' status callbacks: POSTs each body to the app's URL with the Standard
    Webhooks headers, signed with the app's own secret, `webhook-id` being the event id. Any
    2xx is a delivery; redirects are not followed; anything else is a failed attempt. An
    attempt takes at most *timeout* seconds in all, through the environment's proxy as
    `WebhookSink`'s."""

    name = "callback-webhook"

    def __init__(self, timeout: float = 10.0, now: Callable[[], dt.datetime] = _system_now) -> None:
        self.now = now
        self._poster = Poster(timeout, connections=16)

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        _post_signed(self._poster, callback.url, callback.secret, event_id, body, self.now())

    def close(self) -> None:
        self._poster.close()


def _post_signed(
    poster: Poster,
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    at: dt.datetime,
) -> None:
    """POST *body* signed as Standard Webhooks message *message_id*; `DeliveryFailed` naming
    the status or the error class unless the answer is a 2xx."""
    headers = {"Content-Type": "application/json", **signed_headers(secret, message_id, body, at)}
    answer = poster.post(url, body, headers)
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"HTTP {answer.status}")
