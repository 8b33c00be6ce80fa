"""The Starlette application: the route table, the error handlers and the middleware (the
request log, the bounds on bodies)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from deletion_requests import DeletionService, Operators

from ._api_docs import docs_routes
from ._bodies import BODY_TIMEOUT, BodyBounds
from ._destinations_endpoints import destination_routes
from ._endpoints import Endpoints
from ._errors import EXCEPTION_HANDLERS
from ._limits import RateLimits
from ._metrics import metrics_endpoint
from ._middleware import CLIENT_CLOSED_REQUEST, RequestLog
from ._oauth_metadata import authorization_server_metadata
from ._signing import check_webhook_secret
from ._task_path import TASK_ID
from ._tokens import TokenIssuer


async def _client_closed(request: Request, exc: Exception) -> Response:
    """The client left before its request was read: nobody to answer, nothing wrong here.
    Logged as nginx does, 499 "client closed request"."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def create_app(
    service: DeletionService,
    tokens: TokenIssuer,
    completion_secret: str | None = None,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
    console: ASGIApp | None = None,
    limits: RateLimits | None = None,
    metrics_token: str | None = None,
    operators: Operators | None = None,
    health: Callable[[Request], Awaitable[Response]] | None = None,
    body_timeout: float = BODY_TIMEOUT,
) -> Starlette:
    """The HTTP API over *service*; *tokens* signs and checks bearer tokens. With
    *completion_secret* (the `whsec_` webhook secret), the deleter can report
    completion at `POST /data/deletion-requests/{taskId}/completion`. With *console* (the
    operators' console app), it is mounted at `/console`. With *limits*, the rate limits.
    `GET /metrics` answers a scrape with *metrics_token* as its bearer token, or, with no
    token, a scrape from loopback; it reads the store through *operators* (by default, new
    ones over *service*). *health* answers `/healthz` in place of the store check alone. A
    request body must arrive whole within *body_timeout* seconds (`BodyBounds`)."""
    check_webhook_secret(completion_secret)
    api = Endpoints(service, tokens, completion_secret, limits)
    tasks = "/data/deletion-requests"
    app = Starlette(
        routes=[
            Route("/auth/oauth2/token", api.token, methods=["POST"]),
            Route(
                "/.well-known/oauth-authorization-server",
                authorization_server_metadata,
                methods=["GET"],
            ),
            Route(f"{tasks}/emails", api.create, methods=["POST"]),
            Route(tasks, api.list, methods=["GET"]),
            Route(f"{tasks}/cancellations", api.cancellations, methods=["POST"]),
            Route(f"{tasks}/{TASK_ID}", api.task, methods=["GET", "DELETE"]),
            Route(f"{tasks}/{TASK_ID}/completion", api.completion, methods=["POST"]),
            *destination_routes(service),
            Route("/healthz", health or api.health, methods=["GET"]),
            Route("/openapi.json", api.openapi, methods=["GET"]),
            Route(
                "/metrics",
                metrics_endpoint(operators or Operators(service), metrics_token),
                methods=["GET"],
            ),
            *docs_routes(),
            *([Mount("/console", app=console)] if console is not None else []),
        ],
        middleware=[Middleware(RequestLog), Middleware(BodyBounds, timeout=body_timeout)],
        exception_handlers={**EXCEPTION_HANDLERS, ClientDisconnect: _client_closed},
        lifespan=api.lifespan(lifespan),
    )
    # A trailing slash is a 404 in the envelope, not a redirect built from the Host header.
    app.router.redirect_slashes = False
    return app
