"""The yardstick for the HTTP benchmark: bare Starlette that parses the same JSON body and
answers 202, served by Granian with `serve`'s workers (`benchmarks.http` starts it)."""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def create(request: Request) -> Response:
    document = orjson.loads(await request.body())
    body = orjson.dumps({"accountId": document["accountId"], "status": "pending"})
    return Response(body, status_code=202, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/data/deletion-requests/emails", create, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
    ]
)
