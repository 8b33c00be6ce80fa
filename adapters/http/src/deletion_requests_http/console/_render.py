"""The console's pages as HTML: templates, security headers, and the error pages that take
the place of the API's JSON envelope."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from deletion_requests import Clock, DeletionRequestError, StoreError
from deletion_requests_http._errors import STATUS_OF

from ._guard import CSRF_FIELD, csrf_token, logger

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # No script at all, styles from this host only, forms post only here, never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _when(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _span(delta: dt.timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


class Renderer:
    """Renders the console's templates, with the time of *clock*."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["when"] = _when
        self.templates.env.globals["span"] = _span

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        session = request.session if "session" in request.scope else {}
        # Pages that skip the sign-in check (errors) show the nav to whoever the signed
        # cookie names; nothing on them depends on it.
        operator = request.scope.get("state", {}).get("operator") or session.get("operator")
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "operator": operator,
                "flash": session.pop("flash", None),
                "csrf_field": CSRF_FIELD,
                "csrf": csrf_token(request) if "session" in request.scope else "",
                "now": self.clock.now(),
                **context,
            },
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    def error(self, request: Request, status: int, title: str, message: str) -> Response:
        return self.page(request, "error.html", status, title=title, message=message)

    def refused_csrf(self, request: Request) -> Response:
        return self.error(
            request,
            403,
            "Form refused",
            "The form did not carry this session's security token. Reload the page and try again.",
        )

    def exception_handlers(self) -> dict[Any, Any]:
        """One handler per error family, for the console's app."""
        return {
            HTTPException: self._http_error,
            DeletionRequestError: self._domain_error,
            StoreError: self._store_error,
            Exception: self._unexpected,
        }

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self.error(request, 404, "Not found", "There is no console page here.")
        if exc.status_code == 405:
            return self.error(
                request, 405, "Not allowed", f"{request.method} is not allowed on this page."
            )
        return self.error(request, exc.status_code, "Refused", str(exc.detail))

    async def _domain_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeletionRequestError)
        status = STATUS_OF.get(exc.error, 400)
        return self.error(request, status, exc.error.replace("_", " ").capitalize(), exc.message)

    async def _store_error(self, request: Request, exc: Exception) -> Response:
        logger.error("console: store error: %s", exc)
        return self.error(
            request, 503, "Store unavailable", "The store cannot be reached; try again shortly."
        )

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        logger.error("console: unexpected error", exc_info=exc)
        return self.error(request, 500, "Something went wrong", "The error is in the log.")
