"""`HttpJobSender`: push delivery of jobs, a signed POST to each push destination."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

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

from ._metrics import metrics
from ._outbound import Poster
from ._signing import signed_headers
from ._webhooks import WebhookSink

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
    """The outcome a 2xx answer's body reports, if it reports a valid one. Its reason's ends
    are trimmed before it is checked: an answer is a destination's own body, not held to the
    report endpoint's schema, and a trailing line break must not lose its outcome."""
    if not content.strip():
        return None
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or "outcome" not in document:
        return None
    try:
        reason = document.get("reason")
        return Outcome.parse(
            document["outcome"], reason.strip() if isinstance(reason, str) else reason
        )
    except DeletionRequestError as exc:
        log.warning("destination %s answered an outcome that is refused: %s", name, exc.message)
        return None


class CountedJobSender:
    """A job sender whose attempts are counted in
    `deletion_requests_destination_push_attempts`, by destination and outcome."""

    def __init__(self, sender: HttpJobSender) -> None:
        self.sender = sender

    def close(self) -> None:
        self.sender.close()

    def send(self, destination: Destination, job: Job, body: bytes) -> Outcome | None:
        attempts = metrics().push_attempts
        try:
            outcome = self.sender.send(destination, job, body)
        except BaseException:
            attempts.labels(destination.name, "failed").inc()
            raise
        attempts.labels(destination.name, "delivered").inc()
        return outcome


class BreakerAlerts:
    """Tells operators that a destination's breaker opened, on the review webhook: a POST of
    `{"type": "destination.breaker_opened", "destination", "pausedTime", "failures",
    "failingSince", "lastError"}`, signed with the webhook secret as review alerts are,
    `webhook-id` being `breaker_<name>_<pausedTime in Unix seconds>`. An alert that fails is
    tried again at each delivery round of this process while that breaker stays open."""

    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        self.sink = WebhookSink(url, secret, "breaker", name="review-webhook", timeout=timeout)
        self.pending: dict[str, Destination] = {}

    def send(self, work: DestinationWork, opened: Sequence[Destination]) -> None:
        """Send the alerts of the breakers *opened*, and those still owed."""
        self.pending |= {d.name: d for d in opened}
        for name, destination in list(self.pending.items()):
            now = work.store.get_destination(name)
            if (
                now is None
                or not now.paused_by_breaker
                or now.changed_time != destination.changed_time
            ):
                del self.pending[name]  # resumed, or opened again since (a new alert)
                continue
            try:
                self.sink.alert(_alert_id(destination), breaker_alert(destination))
            except DeliveryFailed as exc:
                log.warning("breaker alert for destination %s failed: %s", name, exc.detail)
                continue
            metrics().review_alerts.labels(self.sink.name).inc()
            del self.pending[name]

    def close(self) -> None:
        self.sink.close()


def _alert_id(destination: Destination) -> str:
    at = destination.changed_time
    return f"breaker_{destination.name}_{0 if at is None else int(at.timestamp())}"


def breaker_alert(destination: Destination) -> bytes:
    """The body of the alert that *destination*'s breaker opened (no secret, no body)."""

    def iso(moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return orjson.dumps(
        {
            "type": "destination.breaker_opened",
            "destination": destination.name,
            "pausedTime": iso(destination.changed_time),
            "failures": destination.failures,
            "failingSince": iso(destination.failing_since),
            "lastError": destination.last_error,
        }
    )


def after_push(
    service: DeletionService, opened: Sequence[Destination], alerts: BreakerAlerts | None
) -> None:
    """What follows a round of push delivery: each breaker it *opened* counted and, with
    *alerts*, sent to the review webhook (with the alerts still owed)."""
    for destination in opened:
        metrics().breaker_openings.labels(destination.name).inc()
    if alerts is not None:
        alerts.send(DestinationWork(service), opened)
