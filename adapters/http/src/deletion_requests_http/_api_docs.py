"""The API's docs page at `/docs`: Swagger UI over `/openapi.json`, its assets served from the
`swagger-ui-py` package, nothing from another host. "Authorize" runs the OAuth2
client-credentials flow against `/auth/oauth2/token` with an AppId and AppSecret."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS = Path(str(resources.files("swagger_ui") / "static"))
HERE = Path(__file__).parent / "api_docs"
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>deletion-requests API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
# The page's own scripts and styles only; Swagger UI sets inline styles and shows data: images.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": POLICY})


async def initialiser(request: Request) -> Response:
    return FileResponse(HERE / "init.js", media_type="text/javascript")


def docs_routes() -> list[BaseRoute]:
    """`/docs`, its initialiser, and Swagger UI's assets."""
    return [
        Route("/docs", page, methods=["GET"]),
        Route("/docs/init.js", initialiser, methods=["GET"]),
        Mount("/docs/assets", StaticFiles(directory=ASSETS)),
    ]
