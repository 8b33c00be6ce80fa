"""The breaker of a push destination: one that keeps failing pauses itself.

Every failed push attempt of a destination counts one more failure in a row (across all its
jobs); a push it receives ends the row. When the row reaches `Breaker.failures` attempts and
its first failure is at least `Breaker.window` old, the breaker opens: the destination is
paused, `changed_by` being `breaker`, and its jobs stay owed until an operator resumes it,
which closes the breaker and starts the count again. Everything here is pure: stores persist
the destination (`Destinations.change_destination`), push delivery decides with these.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ._destinations import BREAKER, Destination


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1")


@attrs.frozen
class Breaker:
    """When a push destination pauses itself: after `failures` failed attempts in a row, the
    first of them at least `window` before the last. A short outage (a receiver's deploy, a
    minute of 503s) does not pause it; one that fails every attempt for `window` does."""

    failures: int = attrs.field(default=20, validator=_at_least_one)
    window: dt.timedelta = dt.timedelta(minutes=10)

    def failed(self, destination: Destination, error: str, at: dt.datetime) -> Destination:
        """*destination* after a failed attempt at *at*: one more failure in a row, *error*
        its last error, and paused by the breaker when this failure opens it."""
        since = destination.failing_since or at
        failures = destination.failures + 1
        after = attrs.evolve(destination, failures=failures, failing_since=since, last_error=error)
        if not destination.paused and failures >= self.failures and at - since >= self.window:
            after = attrs.evolve(after, paused=True, changed_by=BREAKER, changed_time=at)
        return after


def received(destination: Destination) -> Destination:
    """*destination* after a push it received: no failures in a row (the last error stays)."""
    return attrs.evolve(destination, failures=0, failing_since=None)


def set_paused(destination: Destination, paused: bool, by: str, at: dt.datetime) -> Destination:
    """*destination* paused or resumed by *by* (`operator:NAME`) at *at*. A resume closes the
    breaker: the failures in a row start again from none."""
    after = attrs.evolve(destination, paused=paused, changed_by=by, changed_time=at)
    return after if paused else received(after)


def opened(before: Destination, after: Destination) -> bool:
    """Whether the change from *before* to *after* is its breaker opening."""
    return after.paused_by_breaker and not before.paused
