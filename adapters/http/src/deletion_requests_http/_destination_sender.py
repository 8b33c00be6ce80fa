"""`HttpJobSender`: push delivery of jobs, a signed POST to each push destination."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable

import httpx
import orjson

from deletion_requests import (
    DeletionRequestError,
    DeletionService,
    DeliveryFailed,
    Destination,
    DestinationWork,
    Job,
    Outcome,
)

from ._signing import signed_headers

log = logging.getLogger("deletion_requests.http.destinations")


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class HttpJobSender:
    """POSTs each job body to its destination's URL, signed (Standard Webhooks) with the
    destination's own secret, `webhook-id` being the job id (the same for every attempt). Any
    2xx means received; a 2xx body of `{"outcome": ..., "reason": ...}` also reports the
    outcome. Redirects are not followed; anything else is a failed attempt."""

    def __init__(self, timeout: float = 10.0, now: Callable[[], dt.datetime] = _system_now) -> None:
        self.now = now
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": "deletion-requests"},
        )

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None:
        if destination.webhook_url is None or destination.secret is None:
            raise DeliveryFailed("not a push destination")
        headers = {
            "Content-Type": "application/json",
            **signed_headers(destination.secret, f"job_{job.job_id}", body, self.now()),
        }
        try:
            response = self._client.post(destination.webhook_url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("timeout") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")
        return _outcome_in(destination.name, response.content)

    def close(self) -> None:
        self._client.close()


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


@functools.cache
def shared_sender() -> HttpJobSender:
    """The process's one `HttpJobSender` (its connection pool lives as long as the process)."""
    return HttpJobSender()


def push_jobs(service: DeletionService) -> None:
    """One round of push delivery to the destinations of *service*'s store, logged."""
    done = DestinationWork(service).push_round(shared_sender())
    if done.delivered or done.failed:
        log.info(
            "destination jobs: %d delivered, %d failed, %d outcomes in answers",
            done.delivered,
            done.failed,
            done.reported,
        )
