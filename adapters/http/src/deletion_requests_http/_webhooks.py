"""A sink that POSTs each message to a URL, signed as Standard Webhooks, over a pooled HTTP
client: each attempt has a total deadline, and reads at most `MAX_ANSWER` bytes of the answer."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

from deletion_requests import Callback, DeletionTask, DeliveryFailed, message_id

from ._signing import check_webhook_secret, signed_headers

MAX_ANSWER = 64 * 1024
"""Bytes of an answer's body read at most: only the status counts. A longer body is not read
on; its connection is closed instead of kept."""


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookSink:
    """POST the message body of *kind* to *url* with `Content-Type: application/json` and
    the Standard Webhooks headers (`webhook-id`: the message's id, the same on every attempt;
    `webhook-timestamp`; `webhook-signature`, HMAC-SHA256 with the `whsec_` *secret*).
    Any 2xx is a delivery; anything else (another status, a redirect, a timeout, a
    refused connection) is a failed attempt whose detail names the status or the error class.
    An attempt takes at most *timeout* seconds in all, from connecting to the end of the
    answer, however slowly the receiver answers.

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
        self._poster = _Poster(timeout, connections=4)

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
    attempt takes at most *timeout* seconds in all."""

    name = "callback-webhook"

    def __init__(self, timeout: float = 10.0, now: Callable[[], dt.datetime] = _system_now) -> None:
        self.now = now
        self._poster = _Poster(timeout, connections=8)

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        _post_signed(self._poster, callback.url, callback.secret, event_id, body, self.now())

    def close(self) -> None:
        self._poster.close()


class _Poster:
    """POSTs over a pool of kept connections (httpcore's), never following a redirect (it
    would send the body elsewhere), each attempt within `timeout` seconds in all: every
    connect, TLS handshake, read and write may take only what is left of the attempt's time,
    so a receiver that trickles its answer times out like one that says nothing. Callable
    from any thread."""

    def __init__(self, timeout: float, connections: int) -> None:
        self.timeout = timeout
        self._pool = httpcore.ConnectionPool(
            max_connections=connections,
            max_keepalive_connections=connections // 2,
            network_backend=_DeadlineBackend(),
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The status of the answer to a POST of *body*; `DeliveryFailed` naming the error
        class when there is none, "timeout" when it took longer than `timeout`."""
        limit = self.timeout
        sent = [("User-Agent", "deletion-requests"), *headers.items()]
        _deadline.at = time.monotonic() + limit
        try:
            with self._pool.stream(
                "POST",
                url,
                headers=sent,
                content=body,
                extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), limit)},
            ) as response:
                read = 0
                for chunk in response.iter_stream():
                    read += len(chunk)
                    if read > MAX_ANSWER:
                        break
                return response.status
        except httpcore.TimeoutException:
            raise DeliveryFailed("timeout") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        finally:
            _deadline.at = None

    def close(self) -> None:
        self._pool.close()


class _Deadline(threading.local):
    at: float | None = None
    """The `time.monotonic()` by which this thread's current attempt must be over."""


_deadline = _Deadline()


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """*timeout*, cut to what is left of the current attempt; *expired* when nothing is."""
    at = _deadline.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the attempt's time is up")
    return left if timeout is None else min(timeout, left)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own blocking sockets, each wait bounded by the attempt's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _post_signed(
    poster: _Poster,
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    at: dt.datetime,
) -> None:
    """POST *body* signed as Standard Webhooks message *message_id*; `DeliveryFailed` naming
    the status or the error class unless the answer is a 2xx."""
    headers = {"Content-Type": "application/json", **signed_headers(secret, message_id, body, at)}
    status = poster.post(url, body, headers)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}")
