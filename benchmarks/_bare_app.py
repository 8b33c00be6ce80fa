"""The ceiling for the HTTP benchmark: bare Starlette that parses the same JSON body and
answers 202, served by the same uvicorn settings as the real server."""

from __future__ import annotations

import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def create(request: Request) -> Response:
    document = orjson.loads(await request.body())
    body = orjson.dumps({"accountId": document["accountId"], "status": "pending"})
    return Response(body, status_code=202, media_type="application/json")


app = Starlette(routes=[Route("/data/deletion-requests/emails", create, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # as `serve` runs it
        loop="uvloop",
        http="httptools",
    )
