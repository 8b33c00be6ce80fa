"""RFC 8414 authorization server metadata, at `/.well-known/oauth-authorization-server`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._errors import JSONResponse

GRANT_TYPES = ["client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def metadata(issuer: str, token_endpoint: str) -> dict[str, Any]:
    """The metadata document of the server at *issuer*, whose token endpoint is
    *token_endpoint* (both absolute URLs)."""
    return {
        "issuer": issuer,
        "token_endpoint": token_endpoint,
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "response_types_supported": [],
        "service_documentation": f"{issuer}/docs",
    }


async def authorization_server_metadata(request: Request) -> Response:
    """The metadata, its URLs those the request reached this server by (scheme, host and
    the mount's root path)."""
    issuer = str(request.base_url).rstrip("/")
    return JSONResponse(metadata(issuer, f"{issuer}/auth/oauth2/token"))
