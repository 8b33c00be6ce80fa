"""Who may use the console: CSRF tokens, forms, and the brake on failed sign-ins."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
import attrs
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from deletion_requests import InvalidRequest

logger = logging.getLogger("deletion_requests.console")

CSRF_FIELD = "csrf"
MAX_FORM = 64 * 1024
_NAMESPACE = "console-sign-in"
T = TypeVar("T")


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


async def read_form(request: Request) -> dict[str, str]:
    """The first value of each field of a URL-encoded form body (at most `MAX_FORM` bytes)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise InvalidRequest("the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form is not valid") from None
    return {name: values[0] for name, values in fields.items()}


class TooManyWaiting(Exception):
    """Raised instead of queueing an attempt behind `SignInBrake.queue` others for its name
    or address; the password is not checked."""


@attrs.define
class SignInBrake:
    """Slows failed sign-ins, per name tried and per client address, before the password is
    checked.

    The failures are counted by `limits` (a moving window of `window` seconds, in *storage*:
    this process's memory unless told otherwise). Attempts for one name, and attempts from one
    address, take turns: each waits for the one before it to be answered, then, once `free`
    failures are counted for its name or address, waits `base` seconds, doubling with each
    further failure up to `ceiling`, before its password is checked. A success clears the
    name's count. An attempt that would wait behind `queue` others for its name or address is
    refused (`TooManyWaiting`) unchecked. At most `checks` password checks run at once in this
    process (each takes 32 MiB); *sleep* is how an attempt waits."""

    base: float = 0.5
    ceiling: float = 8.0
    window: int = 900
    free: int = 3
    checks: int = 2
    queue: int = 32
    storage: Storage = attrs.field(factory=MemoryStorage)
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    _limiter: MovingWindowRateLimiter = attrs.field(init=False)
    _item: RateLimitItem = attrs.field(init=False)
    _turns: dict[str, tuple[asyncio.Lock, int]] = attrs.field(factory=dict, init=False)
    _checking: anyio.CapacityLimiter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(self.storage)
        # The count needs no more room than the failures that reach the ceiling.
        self._item = RateLimitItemPerSecond(self.free + 32, self.window)
        self._checking = anyio.CapacityLimiter(self.checks)

    async def check(self, name: str, address: str, verify: Callable[[], T | None]) -> T | None:
        """*verify()*'s answer (None: the name and password do not match), run on a worker
        thread after this attempt's turn and delay; a None counts as a failure."""
        name_key, address_key = f"name:{name[:128]}", f"address:{address[:128]}"
        if max(self.waiting(name_key), self.waiting(address_key)) >= self.queue:
            raise TooManyWaiting
        # Every name turn is taken before any address turn, so two attempts never wait on
        # each other in a cycle.
        async with self._turn(name_key), self._turn(address_key):
            delay = self.delay(name, address)
            if delay:
                await self.sleep(delay)
            answer = await anyio.to_thread.run_sync(verify, limiter=self._checking)
            if answer is None:
                for key in (name_key, address_key):
                    self._limiter.hit(self._item, _NAMESPACE, key)
            else:
                self._limiter.clear(self._item, _NAMESPACE, name_key)
            return answer

    def delay(self, name: str, address: str) -> float:
        """Seconds the next attempt for *name* from *address* waits before its check."""
        worst = max(self.failures(f"name:{name[:128]}"), self.failures(f"address:{address[:128]}"))
        if worst < self.free:
            return 0.0
        return float(min(self.ceiling, self.base * 2 ** (worst - self.free)))

    def failures(self, key: str) -> int:
        """The failures counted for *key* within the window."""
        stats = self._limiter.get_window_stats(self._item, _NAMESPACE, key)
        return self._item.amount - stats.remaining

    def waiting(self, key: str) -> int:
        """The attempts holding or waiting for the turn of *key* (`name:...`, `address:...`)."""
        return self._turns[key][1] if key in self._turns else 0

    @contextlib.asynccontextmanager
    async def _turn(self, key: str) -> AsyncIterator[None]:
        lock, users = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[key]
            if users == 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, users - 1)
