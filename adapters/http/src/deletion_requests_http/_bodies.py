"""Bounds on request bodies, as pure ASGI middleware over the app's `receive`: a body arrives
whole within a bounded time, and only so many requests at once wait for a body whose sender
has not been authenticated."""

from __future__ import annotations

import asyncio

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
    body (neither `Content-Length` above 0 nor `Transfer-Encoding`), pass through untouched."""

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout
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
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {self.timeout:g} s; send it whole "
                    "at once",
                    CLOSE,
                ) from None
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
