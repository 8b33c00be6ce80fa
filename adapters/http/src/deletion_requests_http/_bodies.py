"""Bounds on request bodies, as pure ASGI middleware over the app's `receive`: a body arrives
whole within a bounded time, and only so many requests at once wait for a body whose sender
has not been authenticated."""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_TIMEOUT = 30.0
"""Seconds a request's body has, from the end of its head, to arrive whole."""
UNAUTHENTICATED_BODIES = 64
"""Requests of one process that may wait for a body at once before their sender is known."""
RETRY_AFTER = 5
"""Seconds a request refused for want of a free unauthenticated body read is told to wait."""
CLOSE = {"Connection": "close"}


class BodyBounds:
    """Pure ASGI middleware. A request's body must arrive whole within *timeout* seconds of
    the request's start (when its head was read): past that, the app's read of it raises
    `HTTPException(408)`, so a handler never sees part of a body, and the answer closes the
    connection.

    A body read before a handler put the caller's `app_id` in the request's state (the
    token endpoint, the deleter's completions, the console's forms) is unauthenticated: at
    most *unauthenticated* of those wait for their body at once in this process, and one more
    raises `HTTPException(503)` with `Retry-After` at once, before anything of its body is
    read. A body read after the credentials were checked is not counted. Reads after the body
    is whole (waiting for the client to leave), and every read of a request that declares no
    body (neither `Content-Length` above 0 nor `Transfer-Encoding`), pass through untouched.

    The deadlines of one event loop's reads share one timer (`Deadlines`), not one each."""

    def __init__(
        self,
        app: ASGIApp,
        timeout: float = BODY_TIMEOUT,
        unauthenticated: int = UNAUTHENTICATED_BODIES,
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.unauthenticated = unauthenticated
        self.reading = 0
        """Unauthenticated bodies being read now."""
        self._deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        deadlines = self._deadlines.get(loop)
        if deadlines is None:
            deadlines = self._deadlines[loop] = Deadlines(loop)
        whole = False
        counted = False

        def release() -> None:
            nonlocal counted
            if counted:
                self.reading -= 1
                counted = False

        async def receive_in_time() -> Message:
            nonlocal whole, counted
            if whole:
                return await receive()
            if not counted and scope.get("state", {}).get("app_id") is None:
                if self.reading >= self.unauthenticated:
                    raise HTTPException(
                        503,
                        "too many requests are sending their body right now; try again in "
                        f"{RETRY_AFTER} s",
                        {**CLOSE, "Retry-After": str(RETRY_AFTER)},
                    )
                self.reading += 1
                counted = True
            message = await deadlines.within(deadline, receive)
            if message is None:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {self.timeout:g} s; send it whole "
                    "at once",
                    CLOSE,
                )
            if message["type"] != "http.request" or not message.get("more_body", False):
                whole = True
                release()
            return message

        try:
            await self.app(scope, receive_in_time, send)
        finally:
            release()


def _has_body(scope: Scope) -> bool:
    """Whether the request's head announces a body (HTTP/1.1: a `Content-Length` other than
    0, or a `Transfer-Encoding`)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class Deadlines:
    """The body reads one event loop's tasks are waiting on, each with its deadline, under
    one timer: set for the earliest deadline, it cancels each read past its own and is set
    again for the earliest of the others. A read that ends in time leaves no timer behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.at = math.inf
        """When the timer fires (infinity: no timer)."""

    async def within(self, deadline: float, receive: Receive) -> Message | None:
        """`receive()` if it answers before *deadline* (the loop's time), else None. A
        cancellation from elsewhere propagates as it is."""
        task = asyncio.current_task()
        if task is None:  # not run by a task: nothing to cancel, so no deadline
            return await receive()
        cancelling = task.cancelling()
        self.waiting[task] = deadline
        if deadline < self.at:
            self._set(deadline)
        try:
            return await receive()
        except asyncio.CancelledError:
            if task not in self.expired:
                raise
            if task.uncancel() > cancelling:  # cancelled from elsewhere as well
                raise
            return None
        finally:
            del self.waiting[task]
            self.expired.discard(task)

    def _set(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.at = self.loop.call_at(when, self._expire), when

    def _expire(self) -> None:
        self.timer, self.at = None, math.inf
        now, earliest = self.loop.time(), math.inf
        for task, deadline in self.waiting.items():
            if deadline > now:
                earliest = min(earliest, deadline)
            elif task not in self.expired:
                self.expired.add(task)
                task.cancel()
        if earliest < math.inf:
            self._set(earliest)
