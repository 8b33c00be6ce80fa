"""The one place that composes the application: `bootstrap(settings)` builds every part from
`Settings` (the store, the service with its delivery lease, the use cases, the token issuer,
the rate limits, the console, the sinks), and `Application` holds them, builds the HTTP app
and the background work. The CLI's commands, `serve`, each worker and the tests call it."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Mapping

import attrs
from starlette.applications import Starlette

from deletion_requests import (
    AccessAdmin,
    Clock,
    DeletionService,
    DestinationWork,
    Operators,
    Policy,
    Sink,
    Store,
    SystemClock,
    open_store,
)
from deletion_requests.stores import Destinations
from deletion_requests.wire import CallbackSender

from ._app import create_app
from ._bodies import BODY_TIMEOUT
from ._destination_sender import BreakerAlerts, CountedJobSender, HttpJobSender, after_push
from ._health import health_endpoint
from ._limits import RateLimits, parse_limit
from ._metrics import round_finished
from ._tokens import TokenIssuer, stored_signing_key
from ._wiring import (
    DEFAULT_STORE,
    Background,
    Round,
    attempt_timeout,
    callback_sender,
    check_webhooks,
    logger,
    sinks_for,
)
from .console import Console, ConsoleSettings


@attrs.frozen
class Settings:
    """What the application is built from: what `serve`'s options say, and the clock.

    The defaults are a library user's: no rate limit, no console, no deliveries. A setting
    that cannot work (a webhook secret that is not a `whsec_` one, a webhook URL without a
    secret, a limit that is not in the `limits` notation) is a `ValueError` here, before
    anything is opened."""

    store_url: str = DEFAULT_STORE
    clock: Clock = attrs.field(factory=SystemClock, eq=False)
    """The time of the service, the tokens and the console (`serve`'s workers read the system
    clock: a clock is not sent to them)."""
    policy: Policy = attrs.field(factory=Policy)
    signing_key: str | None = attrs.field(default=None, repr=False)
    """The bearer tokens' key; without one, the key the store keeps (made on first use)."""
    create: bool = True
    """Whether a store that does not exist yet is made; otherwise it is an error."""
    delivery_lease: dt.timedelta = dt.timedelta(minutes=2)
    """How long a message being delivered is this application's (`DeletionService.lease`)."""
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    """Signs the webhooks and authenticates completions (`POST .../completion`)."""
    handoff_url: str | None = None
    review_url: str | None = None
    deliver: bool = False
    """Whether this application delivers the outbox: with it, the sinks and the callback
    sender are built, and the background work runs delivery rounds."""
    advance_interval: float = 60.0
    """Seconds between the background's `maintain` passes."""
    deliver_interval: float = 5.0
    """Seconds between the background's delivery rounds."""
    lease_interval: float = 2.0
    """Seconds between tries of the store's background lease: the background work runs in
    the one process that holds it, and another takes it over within two of these after the
    holder dies."""
    rate_limit: str | None = None
    token_rate_limit: str | None = None
    rate_limit_store: str = attrs.field(default="memory://", repr=False)
    metrics_token: str | None = attrs.field(default=None, repr=False)
    console: ConsoleSettings | None = None
    """The operators' console under `/console/`; without settings, no console."""
    body_timeout: float = BODY_TIMEOUT
    """Seconds a request body has to arrive whole (`BodyBounds`): else 408."""

    def __attrs_post_init__(self) -> None:
        check_webhooks(self.handoff_url, self.review_url, self.webhook_secret)
        if self.rate_limit:
            parse_limit(self.rate_limit, "--rate-limit")
        if self.token_rate_limit:
            parse_limit(self.token_rate_limit, "--token-rate-limit")


def rate_limits(settings: Settings) -> RateLimits | None:
    """The rate limits *settings* give (None without any limit); `ValueError` for a storage
    URL that `limits` does not know."""
    return RateLimits.open(
        settings.rate_limit, settings.token_rate_limit, settings.rate_limit_store
    )


@attrs.define(eq=False)
class Application:
    """Every part of one process, built once by `bootstrap`; `close` closes the store."""

    settings: Settings
    store: Store
    service: DeletionService
    admin: AccessAdmin
    operators: Operators
    tokens: TokenIssuer
    limits: RateLimits | None
    console: Console | None
    sinks: Mapping[str, Sink]
    """Where the outbox goes, by kind (counted in the metrics); empty unless it delivers."""
    callbacks: CallbackSender | None
    """What sends the apps' status callbacks; None unless it delivers."""
    jobs: CountedJobSender | None = None
    """What sends the push destinations' jobs; None unless it delivers."""
    alerts: BreakerAlerts | None = None
    """What tells the review webhook that a destination's breaker opened; None unless it
    delivers to a review URL (the breaker's log record is the alert then)."""

    def http(
        self, background: bool | Background = False, close_on_shutdown: bool = False
    ) -> Starlette:
        """The HTTP app. With *background* (True for `background()`), its lifespan runs it
        and `/healthz` reports it; with *close_on_shutdown*, its shutdown closes the store."""
        work = self.background() if background is True else background or None

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            try:
                with work or contextlib.nullcontext():
                    yield
            finally:
                if close_on_shutdown:
                    self.close()

        return create_app(
            self.service,
            self.tokens,
            self.settings.webhook_secret,
            lifespan,
            None if self.console is None else self.console.app(),
            self.limits,
            self.settings.metrics_token,
            operators=self.operators,
            health=health_endpoint(self.store, work),
            body_timeout=self.settings.body_timeout,
        )

    def background(self, now: Callable[[], float] = time.monotonic) -> Background:
        """While this process holds the store's background lease: every `advance_interval`
        seconds, transitions, overdue marks and purges (`maintain`, the `maintenance` round);
        when it delivers, every `deliver_interval`, a `delivery` round, the apps' status
        callbacks included. It runs while this process holds the store's background lease
        when it delivers, and always when it does not. Each finished round is stamped in the
        metrics. *now* is the
        monotonic clock of the rounds' ages."""
        rounds = [Round("maintenance", self._maintain, self.settings.advance_interval)]
        if self.settings.deliver:
            rounds.append(Round("delivery", self._deliver, self.settings.deliver_interval))
        # Without deliveries, the maintenance runs here whoever holds the lease (side by side
        # it is safe: compare-and-set), and the lease is left to a process that delivers.
        take, release = (
            (self.store.take_lease, self.store.release_lease)
            if self.settings.deliver
            else _ALWAYS_HELD
        )
        return Background(
            rounds,
            take_lease=take,
            release_lease=release,
            lease_interval=self.settings.lease_interval,
            on_finished=round_finished,
            now=now,
        )

    def _maintain(self) -> None:
        done = self.service.maintain()
        if any(done.values()):
            logger.info("maintenance: %s", ", ".join(f"{k} {v}" for k, v in done.items()))

    def _deliver(self) -> None:
        report = self.service.deliver(
            self.sinks, callback_sender=self.callbacks, job_sender=self.jobs
        )
        if isinstance(self.store, Destinations):
            after_push(self.service, report.opened, self.alerts)
        if report.delivered or report.failed:
            logger.info(
                "deliveries: %d delivered, %d failed, %d waiting, %d outcomes in answers",
                report.delivered,
                report.failed,
                report.waiting,
                report.reported,
            )

    def close(self) -> None:
        """Close the store, and end the delivery lanes and the senders' connections."""
        self.service.close()
        if self.jobs is not None:
            self.jobs.close()
        if self.alerts is not None:
            self.alerts.close()
        self.store.close()


_ALWAYS_HELD: tuple[Callable[[], bool], Callable[[], None]] = (lambda: True, lambda: None)


def bootstrap(settings: Settings) -> Application:
    """The application *settings* describe. The limits and the sinks are built before the
    store is opened, so a bad one opens nothing; `ValueError`, `UnknownStore` or `StoreError`
    when a part cannot be built. With a hand-off URL, the store's push destination `default`
    is made that URL's, signed with the webhook secret (`DestinationWork.configure_default`;
    a pull destination named `default` is a `DestinationConflict`)."""
    limits = rate_limits(settings)
    sinks: Mapping[str, Sink] = {}
    callbacks = jobs = alerts = None
    if settings.deliver:
        timeout = attempt_timeout(settings.delivery_lease)
        sinks = sinks_for(
            settings.handoff_url, settings.review_url, settings.webhook_secret, timeout
        )
        callbacks = callback_sender(timeout)
        jobs = CountedJobSender(HttpJobSender(timeout))
        if settings.review_url and settings.webhook_secret:
            alerts = BreakerAlerts(settings.review_url, settings.webhook_secret, timeout)
    store = open_store(settings.store_url, create=settings.create)
    try:
        clock = settings.clock
        service = DeletionService(store, clock, settings.policy, lease=settings.delivery_lease)
        if settings.handoff_url and isinstance(store, Destinations):
            assert settings.webhook_secret is not None  # checked with the settings
            DestinationWork(service).configure_default(
                settings.handoff_url, settings.webhook_secret
            )
        admin = AccessAdmin(store, clock)
        operators = Operators(service)
        tokens = TokenIssuer(settings.signing_key or stored_signing_key(store), clock)
        console = None
        if settings.console is not None:
            console = Console(service, admin, settings.console, operators=operators)
    except BaseException:
        store.close()
        raise
    return Application(
        settings,
        store,
        service,
        admin,
        operators,
        tokens,
        limits,
        console,
        sinks,
        callbacks,
        jobs,
        alerts,
    )
