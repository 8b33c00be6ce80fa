"""Rate limits, with the `limits` library: per app on the data endpoints, per AppId and per
client address on the token endpoint. The counts live in this process's memory, or in Redis
(`redis://host:port/db`) for every worker and server that uses it.

When the store fails (refused, timed out), the limits fail open: requests are answered without
being counted, the outage is logged once, and the store is tried again `recheck_after` seconds
later, so the limits come back on their own with the store."""

from __future__ import annotations

import logging
import math
import time

import attrs
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._errors import HttpError
from ._metrics import metrics

Headers = dict[str, str]
REDIS_TIMEOUT = 0.3
"""Seconds a Redis connect, and a Redis answer, may take before the store counts as failed
(`socket_connect_timeout` and `socket_timeout`; the URL's own query options win). A command
is retried once, at once (a pooled connection Redis closed is replaced), so a Redis that hangs
costs a request at most about twice this."""
RECHECK_AFTER = 5.0
"""Seconds the limits stay off after the store failed before it is tried again."""
limits_log = logging.getLogger("deletion_requests.http.limits")


def parse_limit(text: str, option: str) -> RateLimitItem:
    """A limit in the `limits` notation (`100/second`, `10 per minute`); `ValueError` naming
    *option* otherwise."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not a rate limit: write it as 100/second or 10/minute"
        ) from None


@attrs.define
class RateLimits:
    """The limits one app enforces; each check counts a request (a moving window) and returns
    the `RateLimit-*` headers for its answer, or raises 429 `TOO_MANY_REQUESTS` with them and
    `Retry-After`."""

    data: RateLimitItem | None
    token: RateLimitItem | None
    storage: Storage
    limiter: MovingWindowRateLimiter = attrs.field(init=False)
    refused: int = attrs.field(default=0, init=False)
    """Requests refused by this process (for metrics)."""
    recheck_after: float = RECHECK_AFTER
    """Seconds to leave a failed store alone before trying it again."""
    _down_until: float | None = attrs.field(default=None, init=False)
    """While the store is failing: the `time.monotonic()` before which it is not tried."""

    def __attrs_post_init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(self.storage)

    @classmethod
    def open(
        cls, data: str | None, token: str | None, store: str = "memory://"
    ) -> RateLimits | None:
        """The limits from their texts (None: no limit) and a storage URL; None when neither
        limit is set. `ValueError` for a bad limit or storage URL."""
        if data is None and token is None:
            return None
        data_item = parse_limit(data, "--rate-limit") if data else None
        token_item = parse_limit(token, "--token-rate-limit") if token else None
        options: dict[str, object] = {}
        if store.startswith(("redis://", "rediss://", "redis+unix://")):
            options = {
                "socket_connect_timeout": REDIS_TIMEOUT,
                "socket_timeout": REDIS_TIMEOUT,
                "retry": Retry(NoBackoff(), 1),
            }
        try:
            # redis-py takes the Retry object, which `limits` does not declare:
            storage = storage_from_string(store, wrap_exceptions=True, **options)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 (the library raises several kinds)
            raise ValueError(f"--rate-limit-store {store!r}: {exc}") from None
        if not isinstance(storage, Storage):
            raise ValueError(f"--rate-limit-store {store!r}: use memory:// or redis://")
        return cls(data_item, token_item, storage)

    def check_data(self, app_id: str) -> Headers:
        """Count a data request of *app_id*."""
        return self._check(self.data, [f"app:{app_id}"], "this app", "data")

    def check_token(self, app_id: str | None, address: str) -> Headers:
        """Count a token request for the AppId tried (when the header names one) and from
        *address*: both must be under the limit."""
        keys = [f"token-address:{address}"]
        if app_id:
            keys.insert(0, f"token-app:{app_id[:128]}")
        return self._check(self.token, keys, "this AppId or address", "token")

    def _check(self, item: RateLimitItem | None, keys: list[str], who: str, limit: str) -> Headers:
        if item is None:
            return {}
        if self._down_until is not None and time.monotonic() < self._down_until:
            return {}
        try:
            allowed = [self.limiter.hit(item, "deletion-requests", key) for key in keys]
            stats = [self.limiter.get_window_stats(item, "deletion-requests", key) for key in keys]
        except (StorageError, OSError) as exc:
            self._failed(exc)
            return {}
        if self._down_until is not None:
            self._down_until = None
            limits_log.warning("the rate-limit store answers again: rate limits are enforced")
        tightest = min(stats, key=lambda s: (s.remaining, -s.reset_time))
        reset = max(0, math.ceil(tightest.reset_time - time.time()))
        headers = {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(max(0, tightest.remaining)),
            "RateLimit-Reset": str(reset),
        }
        if all(allowed):
            return headers
        self.refused += 1
        metrics().rate_limited.labels(limit).inc()
        raise HttpError(
            "TOO_MANY_REQUESTS",
            f"too many requests from {who}: at most {item.amount} per "
            f"{_period(item)}; try again in {max(1, reset)} s",
            {**headers, "Retry-After": str(max(1, reset))},
        )

    def _failed(self, exc: Exception) -> None:
        """The store failed: skip it for `recheck_after` seconds; log the first failure of an
        outage by its error class (never the URL, which may hold a password)."""
        first = self._down_until is None
        self._down_until = time.monotonic() + self.recheck_after
        if first:
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            limits_log.warning(
                "the rate-limit store failed (%s): rate limits are not enforced until it "
                "answers; trying it again every %g s",
                type(cause).__name__,
                self.recheck_after,
            )


def _period(item: RateLimitItem) -> str:
    seconds = item.get_expiry()
    names = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
    return names.get(seconds, f"{seconds} seconds")
