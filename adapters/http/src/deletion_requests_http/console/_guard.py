"""Who may use the console: sessions, CSRF tokens, and the brake on failed sign-ins."""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time

import attrs
from starlette.requests import Request

logger = logging.getLogger("deletion_requests.console")

CSRF_FIELD = "csrf"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use: every form that changes something
    carries it in a hidden field."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """Whether *form* carries the session's CSRF token."""
    expected = request.session.get(CSRF_FIELD)
    given = form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and hmac.compare_digest(given.encode(), expected.encode())


@attrs.define
class SignInBrake:
    """Slows failed sign-ins, per name tried and per client address, in this process.

    After the first failures within `window` seconds, each further attempt for that name or
    from that address waits `base` seconds, doubling with each failure up to `ceiling`, before
    it is answered. A success clears the name's count. The counts live in each worker's
    memory: N workers allow N times the attempts."""

    base: float = 0.5
    ceiling: float = 8.0
    window: float = 900.0
    free: int = 3
    _failures: dict[str, tuple[int, float]] = attrs.field(factory=dict, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def delay(self, name: str, address: str) -> float:
        """Seconds to wait before answering an attempt for *name* from *address*."""
        now = time.monotonic()
        with self._lock:
            worst = max(self._count(f"n:{name}", now), self._count(f"a:{address}", now))
        if worst < self.free:
            return 0.0
        return float(min(self.ceiling, self.base * 2 ** (worst - self.free)))

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:
                self._failures.clear()
            for key in (f"n:{name}", f"a:{address}"):
                self._failures[key] = (self._count(key, now) + 1, now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"n:{name}", None)

    def _count(self, key: str, now: float) -> int:
        count, last = self._failures.get(key, (0, 0.0))
        return count if now - last < self.window else 0
