"""Prometheus metrics, through `prometheus_client`.

Counters and histograms are kept per process; under `serve` (which sets
`PROMETHEUS_MULTIPROC_DIR` before any of them is made, in the supervisor and so in every
worker) they are written to files there and summed at each scrape, so one scrape of any worker
sees every worker's requests and deliveries. The store's numbers (tasks by
status, held, overdue, purged, the outbox) are read at scrape time, from indexes.

`prometheus_client` is imported on first use, never at import time: it decides between
in-process and multiprocess values when it is imported."""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from deletion_requests import HANDOFF, REVIEW, DeletionTask, Operators, Sink
from deletion_requests.stores import Awaiting, Callback, Destinations
from deletion_requests.wire import CALLBACK, CallbackSender

from ._errors import HttpError
from ._metrics_destinations import DestinationCollector

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
GAUGE_CAP = 1000
"""The gauges that count tasks one by one (overdue, owing callbacks) count up to this many:
an alert needs only more than none."""


@attrs.frozen
class Metrics:
    """This process's counters and histograms."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    deliveries: Counter
    review_alerts: Counter
    rate_limited: Counter
    token_failures: Counter
    sign_in_failures: Counter
    round_finished: Gauge
    push_attempts: Counter
    breaker_openings: Counter
    _answered: dict[tuple[str, str, int], tuple[Counter, Histogram]] = attrs.field(
        factory=dict, init=False
    )
    """The request counter's and the latency histogram's children, by route, method and
    status."""

    def count_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a request answered with *status* in *seconds*. Each label set's children
        are looked up once a process."""
        children = self._answered.get((route, method, status))
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._answered[route, method, status] = children
        children[0].inc()
        children[1].observe(seconds)


_made: Metrics | None = None
_lock = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics, made on first use."""
    global _made
    if _made is not None:
        return _made
    with _lock:
        if _made is None:
            _made = _make()
        return _made


def round_finished(name: str) -> None:
    """Stamp the background round *name* (`maintenance`, `delivery`) as finished now."""
    metrics().round_finished.labels(name).set_to_current_time()


def _make() -> Metrics:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry(auto_describe=True)
    prefix = "deletion_requests"
    return Metrics(
        registry=registry,
        requests=Counter(
            f"{prefix}_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        ),
        latency=Histogram(
            f"{prefix}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        ),
        deliveries=Counter(
            f"{prefix}_delivery_attempts",
            "Attempts to deliver an outbox message, by kind, sink and outcome "
            "(delivered or failed).",
            ["kind", "sink", "outcome"],
            registry=registry,
        ),
        review_alerts=Counter(
            f"{prefix}_review_alerts_sent",
            "Review alerts delivered (a task became ready), by sink.",
            ["sink"],
            registry=registry,
        ),
        rate_limited=Counter(
            f"{prefix}_rate_limited_requests",
            "Requests refused with 429, by limit (data or token).",
            ["limit"],
            registry=registry,
        ),
        token_failures=Counter(
            f"{prefix}_token_request_failures",
            "Token requests refused for their credentials.",
            registry=registry,
        ),
        sign_in_failures=Counter(
            f"{prefix}_console_sign_in_failures",
            "Console sign-ins refused for their name or password.",
            registry=registry,
        ),
        round_finished=Gauge(
            f"{prefix}_background_round_finished_timestamp_seconds",
            "When the last background round of each kind (maintenance, delivery) finished, "
            "in Unix time, in whichever live process of the server holds the lease: its age "
            "is time() minus this.",
            ["round"],
            multiprocess_mode="livemax",
            registry=registry,
        ),
        push_attempts=Counter(
            f"{prefix}_destination_push_attempts",
            "Attempts to push a job to a destination, by destination and outcome "
            "(delivered or failed).",
            ["destination", "outcome"],
            registry=registry,
        ),
        breaker_openings=Counter(
            f"{prefix}_destination_breaker_openings",
            "Times a destination's breaker opened (it paused itself), by destination.",
            ["destination"],
            registry=registry,
        ),
    )


@attrs.define
class CountedSink:
    """A sink whose attempts are counted in `deletion_requests_delivery_attempts`."""

    kind: str
    sink: Sink
    name: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.name = self.sink.name

    def deliver(self, task: DeletionTask, body: bytes) -> bool:
        try:
            done = self.sink.deliver(task, body)
        except BaseException:
            metrics().deliveries.labels(self.kind, self.sink.name, "failed").inc()
            raise
        metrics().deliveries.labels(self.kind, self.sink.name, "delivered").inc()
        if self.kind == REVIEW:
            metrics().review_alerts.labels(self.sink.name).inc()
        return done


@attrs.define
class CountedSender:
    """A callback sender whose attempts are counted in `deletion_requests_delivery_attempts`
    (kind `callback`)."""

    sender: CallbackSender
    name: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.name = self.sender.name

    def send(self, callback: Callback, event_id: str, body: bytes) -> None:
        try:
            self.sender.send(callback, event_id, body)
        except BaseException:
            metrics().deliveries.labels(CALLBACK, self.name, "failed").inc()
            raise
        metrics().deliveries.labels(CALLBACK, self.name, "delivered").inc()


class StoreCollector:
    """The store's numbers, read when scraped."""

    def __init__(self, operators: Operators) -> None:
        self.operators = operators
        self.service = operators.service

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        counts = self.operators.counts()
        tasks = GaugeMetricFamily(
            "deletion_requests_tasks",
            "Tasks by status, as the clock sees them (purged ones included).",
            labels=["status"],
        )
        for status in ("pending", "ready", "actioned", "cancelled"):
            tasks.add_metric([status], counts[status])
        yield tasks
        yield GaugeMetricFamily("deletion_requests_tasks_held", "Tasks on hold.", counts["held"])
        yield GaugeMetricFamily(
            "deletion_requests_tasks_purged",
            "Tasks whose identifier hashes were deleted.",
            counts["purged"],
        )
        overdue = len(self.service.overdue(GAUGE_CAP))
        yield GaugeMetricFamily(
            "deletion_requests_tasks_overdue",
            f"Tasks handed off, past their due time and not completed (counted up to {GAUGE_CAP}).",
            overdue,
        )
        owed = GaugeMetricFamily(
            "deletion_requests_outbox_owed",
            f"Outbox messages owed, by kind (callback: tasks owing one, counted up to "
            f"{GAUGE_CAP}).",
            labels=["kind"],
        )
        age = GaugeMetricFamily(
            "deletion_requests_outbox_oldest_age_seconds",
            "How long the oldest owed message of each kind has been owed (0 when none is).",
            labels=["kind"],
        )
        now = self.service.clock.now()
        for kind in (HANDOFF, REVIEW):
            backlog = self.service.store.backlog(kind)
            owed.add_metric([kind], backlog.count)
            oldest = 0.0 if backlog.oldest is None else (now - backlog.oldest).total_seconds()
            age.add_metric([kind], max(0.0, oldest))
        callbacks = len(self.service.store.awaiting(Awaiting.CALLBACK, now, GAUGE_CAP))
        owed.add_metric([CALLBACK], callbacks)
        yield owed
        yield age


def exposition(operators: Operators) -> tuple[bytes, str]:
    """The text exposition of every process's counters and the store's gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(MULTIPROCESS_ENV):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
    else:
        processes = metrics().registry
    store = CollectorRegistry()
    store.register(StoreCollector(operators))
    if isinstance(operators.service.store, Destinations):
        now = operators.service.clock.now()
        store.register(DestinationCollector(operators.service.store, now))
    return generate_latest(processes) + generate_latest(store), CONTENT_TYPE_LATEST


def scrape_allowed(request: Request, token: str | None) -> None:
    """With a token: the scrape must carry it as a bearer token. Without one: it must come
    from loopback. `HttpError` (403) otherwise."""
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HttpError("AUTHENTICATION_ERROR", "send the metrics token as Bearer <token>")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HttpError(
            "AUTHENTICATION_ERROR",
            "metrics are served to loopback only; set --metrics-token to scrape from elsewhere",
        )


def metrics_endpoint(operators: Operators, token: str | None) -> Any:
    """The `GET /metrics` handler."""

    async def endpoint(request: Request) -> Response:
        scrape_allowed(request, token)
        body, media_type = await run_in_threadpool(exposition, operators)
        return Response(body, media_type=media_type)

    return endpoint
