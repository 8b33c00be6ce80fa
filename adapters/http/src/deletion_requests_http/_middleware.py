"""The one middleware: a request id and the API's safety headers on every response, and an
access-log line a request."""

from __future__ import annotations

import re
import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deletion_requests.wire import new_hex_id

from ._logs import log_access, request_id_var
from ._metrics import metrics

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
SAFETY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),  # JSON is never sniffed as anything else
    (b"cache-control", b"no-store"),  # answers hold personal data: no cache keeps them
    # No banner: Granian names itself in any answer that has no `server` header; an empty one
    # says nothing.
    (b"server", b""),
)
"""Added to every response that does not set them itself."""
CLIENT_CLOSED_REQUEST = 499  # the access log's status for a request its client abandoned


class RequestLog:
    """Pure ASGI middleware. Takes the client's `X-Request-Id` when it is short and plain
    (else makes one), puts it in `scope["state"]["request_id"]` and on the response with
    `SAFETY_HEADERS` and the `response_headers` a handler left in the state (the rate-limit
    headers, on errors too), and logs the request when it ends, with the `app_id` a handler
    left in the state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = given.decode() if _REQUEST_ID.fullmatch(given) else new_hex_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        status = CLIENT_CLOSED_REQUEST

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                given = list(message.get("headers", ()))
                names = {name.lower() for name, _ in given}
                extra = [h for h in SAFETY_HEADERS if h[0] not in names]
                for name, value in state.get("response_headers", {}).items():
                    if name.lower().encode() not in names:
                        extra.append((name.lower().encode(), value.encode()))
                headers = [*given, *extra, (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status == CLIENT_CLOSED_REQUEST:
                status = 500
            raise
        finally:
            elapsed, route = time.perf_counter() - started, route_template(scope)
            log_access(
                request_id,
                scope["method"],
                route,
                status,
                round(elapsed * 1000, 3),
                state.get("app_id"),
            )
            metrics().count_request(route, scope["method"], status, elapsed)
            request_id_var.reset(context)


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/console/tasks/{task_id}`), never the path
    the client sent: under a mount, the mount's path first; a mount's own unmatched or
    static paths as `{path}`. A parameter's convertor is left out: `{task_id}`."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if template is None:
        return "(no route)"
    if isinstance(route, Mount):
        return f"{scope.get('root_path', '')}/{{path}}"
    return f"{scope.get('root_path', '')}{template}"
