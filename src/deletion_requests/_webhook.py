"""A sink that POSTs each message to a URL, signed, with the standard library only."""

from __future__ import annotations

import datetime as dt
import http.client
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import IO, Any

from ._handoff import SIGNATURE_HEADER, DeliveryFailed, sign
from ._task import DeletionTask

DELIVERY_HEADER = "Deletion-Requests-Delivery"
"""A fresh id per attempt, for receivers' logs; deduplicate by task id and type, not by this."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: following it would re-send identifiers elsewhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> None:
        return None


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookSink:
    """POST the message body to *url* with `Content-Type: application/json` and the
    `Deletion-Requests-Signature` header (HMAC-SHA256 with *secret* over the timestamp and the
    body). Any 2xx is a delivery; anything else (another status, a redirect, a timeout, a
    refused connection) is a failed attempt whose detail names the status or the error class.

    A 2xx means "accepted": the receiver reports completion later.
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
        self.timeout = timeout
        self.now = now
        self._opener = urllib.request.build_opener(_NoRedirects)

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        timestamp = int(self.now().timestamp())
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "deletion-requests",
                SIGNATURE_HEADER: sign(self.secret, body, timestamp),
                DELIVERY_HEADER: str(uuid.uuid4()),
            },
        )
        try:
            response: Any = self._opener.open(request, timeout=self.timeout)
            with response:
                response.read(65536)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DeliveryFailed(f"HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise DeliveryFailed(type(exc.reason).__name__) from None
        except TimeoutError:
            raise DeliveryFailed("timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}")
        return False

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r})"  # never the secret
