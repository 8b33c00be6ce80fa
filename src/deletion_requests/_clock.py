from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

UTC = dt.UTC


def as_utc(moment: dt.datetime, what: str = "datetime") -> dt.datetime:
    """Return *moment* in UTC; a naive datetime is a `ValueError`, never a guess."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class Clock(Protocol):
    """Where the core learns the time. Every guard and use case asks it; nothing else does."""

    def now(self) -> dt.datetime:
        """The current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: for tests and for hosts that drive time themselves.

    Safe to share between threads.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = as_utc(start, "start") if start is not None else dt.datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._now = as_utc(moment, "moment")

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move the clock by *delta* and return the new time."""
        with self._lock:
            self._now = self._now + delta
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
