"""`HttpJobSender`: push delivery of jobs, a signed POST to each push destination."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import orjson

from deletion_requests import DeletionRequestError, DeliveryFailed, Destination, Job, Outcome

from ._outbound import Poster
from ._signing import signed_headers

log = logging.getLogger("deletion_requests.http.destinations")


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class HttpJobSender:
    """POSTs each job body to its destination's URL, signed (Standard Webhooks) with the
    destination's own secret, `webhook-id` being the job id (the same for every attempt). Any
    2xx means received; a 2xx body of `{"outcome": ..., "reason": ...}` (of at most
    `MAX_ANSWER` bytes) also reports the outcome. Redirects are not followed; anything else is
    a failed attempt. An attempt takes at most *timeout* seconds in all, through the
    environment's proxy (a `Poster`, as `WebhookSink`'s). Callable from any thread."""

    def __init__(self, timeout: float = 10.0, now: Callable[[], dt.datetime] = _system_now) -> None:
        self.now = now
        self._poster = Poster(timeout, connections=16)

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None:
        if destination.webhook_url is None or destination.secret is None:
            raise DeliveryFailed("not a push destination")
        headers = {
            "Content-Type": "application/json",
            **signed_headers(destination.secret, f"job_{job.job_id}", body, self.now()),
        }
        answer = self._poster.post(destination.webhook_url, body, headers)
        if not 200 <= answer.status < 300:
            raise DeliveryFailed(f"HTTP {answer.status}")
        return None if answer.body is None else _outcome_in(destination.name, answer.body)

    def close(self) -> None:
        self._poster.close()


def _outcome_in(name: str, content: bytes) -> Outcome | None:
    """The outcome a 2xx answer's body reports, if it reports a valid one."""
    if not content.strip():
        return None
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or "outcome" not in document:
        return None
    try:
        return Outcome.parse(document["outcome"], document.get("reason"))
    except DeletionRequestError as exc:
        log.warning("destination %s answered an outcome that is refused: %s", name, exc.message)
        return None
