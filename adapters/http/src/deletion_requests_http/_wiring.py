"""The parts `bootstrap` composes that are the adapter's own: the background work, the
webhook sinks, the callback sender, and the names of the settings' environment variables."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

import attrs

from deletion_requests import HANDOFF, REVIEW, Sink
from deletion_requests.wire import CallbackSender

from ._metrics import CountedSender, CountedSink
from ._signing import WEBHOOK_SECRET_ENV, check_webhook_secret
from ._webhooks import CallbackWebhooks, WebhookSink

DEFAULT_STORE = "sqlite:///deletion-requests.db"
STORE_ENV = "DELETION_REQUESTS_STORE"
SIGNING_KEY_ENV = "DELETION_REQUESTS_SIGNING_KEY"

logger = logging.getLogger("deletion_requests.server")


@attrs.frozen
class Round:
    """One kind of background work: *work* every *interval* seconds, under the name *name*
    (`maintenance`, `delivery`)."""

    name: str
    work: Callable[[], None]
    interval: float

    @property
    def stale_after(self) -> float:
        """Seconds after which a round not finished means the work has stopped: three
        intervals and 30 s."""
        return 3 * self.interval + 30


@attrs.define
class Background:
    """Rounds repeated at intervals, each on a thread of its own, from `start` (or entering
    the context) until `stop`, while this process holds the lease; a failure is logged and
    tried again at the next interval. `stop` waits for a round in progress to end, then gives
    the lease up.

    *take_lease* is tried every *lease_interval* seconds (a store's `take_lease`: without
    one, the lease is always held); once it is held, the rounds start within *lease_interval*.
    *on_finished* is told the name of each round that finishes; *now* is the monotonic clock
    the ages are read on."""

    rounds: list[Round]
    take_lease: Callable[[], bool] = lambda: True
    release_lease: Callable[[], None] = lambda: None
    lease_interval: float = 2.0
    on_finished: Callable[[str], None] = lambda name: None
    now: Callable[[], float] = time.monotonic
    _stopping: threading.Event = attrs.field(factory=threading.Event, init=False)
    _held: threading.Event = attrs.field(factory=threading.Event, init=False)
    _threads: list[threading.Thread] = attrs.field(factory=list, init=False)
    _finished: dict[str, float] = attrs.field(factory=dict, init=False)
    _held_since: float | None = attrs.field(default=None, init=False)

    def start(self) -> None:
        targets: list[tuple[Callable[..., None], tuple[object, ...]]] = [(self._lease, ())]
        targets += [(self._repeat, (each,)) for each in self.rounds]
        for target, args in targets:
            thread = threading.Thread(target=target, args=args, name="background", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _lease(self) -> None:
        while not self._stopping.is_set():
            try:
                held = self.take_lease()
            except Exception:
                logger.exception("the background lease could not be taken")
                held = False
            if held and not self._held.is_set():
                logger.info("this process took the background lease")
                self._held_since = self.now()
                self._held.set()
            elif not held and self._held.is_set():
                logger.warning("this process lost the background lease")
                self._held.clear()
                self._held_since = None
            self._stopping.wait(self.lease_interval)

    def _repeat(self, each: Round) -> None:
        while not self._stopping.is_set():
            if not self._held.is_set():
                self._stopping.wait(min(each.interval, self.lease_interval))
                continue
            try:
                each.work()
            except Exception:
                logger.exception("background work failed; retrying in %s s", each.interval)
            else:
                self._finished[each.name] = self.now()
                self.on_finished(each.name)
            self._stopping.wait(each.interval)

    @property
    def holds_lease(self) -> bool:
        return self._held.is_set()

    def age(self, name: str) -> float | None:
        """Seconds since round *name* last finished here, or since the lease was taken when
        it has not finished since; None while this process does not hold the lease."""
        since = self._held_since
        if since is None:
            return None
        return self.now() - max(self._finished.get(name, since), since)

    def stale(self) -> list[Round]:
        """The rounds whose age is past their `stale_after`."""
        return [
            each
            for each in self.rounds
            if (age := self.age(each.name)) is not None and age > each.stale_after
        ]

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._held.clear()
        self._held_since = None
        try:
            self.release_lease()
        except Exception:
            logger.exception("the background lease could not be given up")

    def __enter__(self) -> Background:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_webhooks(handoff_url: str | None, review_url: str | None, secret: str | None) -> None:
    """`ValueError` unless *secret* is a `whsec_` secret (or None) and every webhook URL has
    one."""
    check_webhook_secret(secret)
    if (handoff_url or review_url) and not secret:
        raise ValueError(f"a webhook URL needs a webhook secret (set ${WEBHOOK_SECRET_ENV})")


ATTEMPT_TIMEOUT = 10.0
"""Seconds an outbound attempt takes at most, unless the delivery lease is shorter than
twice this (`attempt_timeout`)."""


def attempt_timeout(lease: dt.timedelta) -> float:
    """Seconds each outbound attempt may take under a delivery lease of *lease*: at most half
    of it, so that the lease of a message outlasts its attempt (a round starts no attempt
    once half of a lease has gone), and at most `ATTEMPT_TIMEOUT`."""
    return min(ATTEMPT_TIMEOUT, lease.total_seconds() / 2)


def sinks_for(
    handoff_url: str | None,
    review_url: str | None,
    secret: str | None,
    timeout: float = ATTEMPT_TIMEOUT,
) -> dict[str, Sink]:
    """Webhook sinks for the configured URLs, each attempt within *timeout* seconds; both
    need the shared *secret*. Without a review URL, review alerts go to the log (operators
    still see them); without a hand-off URL, hand-offs wait in the outbox until one is
    configured. Signatures are dated by the wall clock, as receivers check them."""
    check_webhooks(handoff_url, review_url, secret)
    sinks: dict[str, Sink] = {REVIEW: LogSink()}
    if review_url:
        assert secret is not None
        sinks[REVIEW] = WebhookSink(review_url, secret, REVIEW, "review-webhook", timeout)
    if handoff_url:
        assert secret is not None
        sinks[HANDOFF] = WebhookSink(handoff_url, secret, HANDOFF, "handoff-webhook", timeout)
    return {kind: CountedSink(kind, sink) for kind, sink in sinks.items()}


def callback_sender(timeout: float = ATTEMPT_TIMEOUT) -> CallbackSender:
    """What sends the apps' status callbacks, each attempt within *timeout* seconds:
    webhooks, counted in the metrics."""
    return CountedSender(CallbackWebhooks(timeout))


class LogSink:
    """Review alerts as warning lines in the server's log (ids and times only)."""

    name = "log"

    def deliver(self, task: object, body: bytes) -> bool:
        logger.warning("review alert: %s", body.decode())
        return False
