"""The console's pages and forms: a Starlette app mounted at `/console`.

Every page needs a signed-in operator (a session cookie; a client app's Basic or Bearer
credentials never open it), every form that changes something carries the session's CSRF
token, and every decision goes through the same use cases as the CLI, recorded as
`operator:<name>`. Store work runs on Starlette's thread pool."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import attrs
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from deletion_requests import (
    AccessAdmin,
    DeletionRequestError,
    DeletionService,
    DeletionTask,
    InvalidRequest,
    Operators,
    Status,
    StoreError,
    TaskNotFound,
)
from deletion_requests_http._errors import STATUS_OF
from deletion_requests_http._export import export_csv, export_jsonl
from deletion_requests_http._metrics import metrics

from ._guard import CSRF_FIELD, SignInBrake, csrf_ok, csrf_token, logger
from ._trend import trend_svg

HERE = Path(__file__).parent
SESSION_KEY_SETTING = "console-session-key"
MAX_FORM = 64 * 1024
_TASK_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SAFE_NEXT = re.compile(r"/console/[A-Za-z0-9/_.-]*")
SECURITY_HEADERS = {
    # No script at all, styles from this host only, forms post only here, never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
PAGE_SIZE = 100
Handler = Callable[[Request], Awaitable[Response]]


@attrs.frozen
class ConsoleSettings:
    """How the console's sessions behave. `secure_cookies` marks the cookie `Secure` (set it
    whenever the console is reached over HTTPS, as behind a TLS proxy)."""

    secure_cookies: bool = False
    idle_timeout: int = 30 * 60
    """Seconds without a request after which a session ends."""
    max_session: int = 12 * 60 * 60
    """Seconds after sign-in at which a session ends, however busy."""


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


class Console:
    """The console over one service: its pages, forms and downloads."""

    def __init__(
        self,
        service: DeletionService,
        admin: AccessAdmin,
        settings: ConsoleSettings,
        operators: Operators | None = None,
    ) -> None:
        self.service = service
        self.operators = operators or Operators(service)
        self.admin = admin
        self.settings = settings
        self.brake = SignInBrake()
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["when"] = _when
        self.templates.env.globals["span"] = _span

    def app(self) -> Starlette:
        """The console as an app of its own, to mount at `/console`."""
        key = self.service.store.setting(SESSION_KEY_SETTING, _new_key)
        guarded = self._signed_in
        app = Starlette(
            routes=[
                Route("/", guarded(self.queue), methods=["GET"], name="queue"),
                Route("/tasks/{task_id}", guarded(self.task), methods=["GET"], name="task"),
                Route(
                    "/tasks/{task_id}/{decision:str}",
                    guarded(self.decide),
                    methods=["POST"],
                    name="decide",
                ),
                Route("/find", guarded(self.find), methods=["GET", "POST"], name="find"),
                Route("/access", guarded(self.access), methods=["GET"], name="access"),
                Route(
                    "/access/{kind:str}/{name}/revoke",
                    guarded(self.revoke),
                    methods=["POST"],
                    name="revoke",
                ),
                Route("/export", guarded(self.export), methods=["GET"], name="export"),
                Route("/export/download", guarded(self.download), methods=["GET"], name="download"),
                Route("/trend", guarded(self.trend), methods=["GET"], name="trend"),
                Route("/sign-in", self.sign_in, methods=["GET", "POST"], name="sign_in"),
                Route("/sign-out", self.sign_out, methods=["POST"], name="sign_out"),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[
                Middleware(
                    SessionMiddleware,
                    secret_key=key,
                    session_cookie="deletion_requests_console",
                    max_age=self.settings.idle_timeout,
                    path="/console",
                    same_site="strict",
                    https_only=self.settings.secure_cookies,
                )
            ],
            exception_handlers={
                HTTPException: self._http_error,
                DeletionRequestError: self._domain_error,
                StoreError: self._store_error,
                Exception: self._unexpected,
            },
        )
        app.router.redirect_slashes = False
        return app

    # -- rendering ----------------------------------------------------------------------------

    def _page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
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
                "now": self.service.clock.now(),
                **context,
            },
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    def _error(self, request: Request, status: int, title: str, message: str) -> Response:
        return self._page(request, "error.html", status, title=title, message=message)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self._error(request, 404, "Not found", "There is no console page here.")
        if exc.status_code == 405:
            return self._error(
                request, 405, "Not allowed", f"{request.method} is not allowed on this page."
            )
        return self._error(request, exc.status_code, "Refused", str(exc.detail))

    async def _domain_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeletionRequestError)
        status = STATUS_OF.get(exc.error, 400)
        return self._error(request, status, exc.error.replace("_", " ").capitalize(), exc.message)

    async def _store_error(self, request: Request, exc: Exception) -> Response:
        logger.error("console: store error: %s", exc)
        return self._error(
            request, 503, "Store unavailable", "The store cannot be reached; try again shortly."
        )

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        logger.error("console: unexpected error", exc_info=exc)
        return self._error(request, 500, "Something went wrong", "The error is in the log.")

    # -- sessions -----------------------------------------------------------------------------

    def _signed_in(self, handler: Handler) -> Handler:
        """*handler* for a signed-in operator, whose session is alive and who still exists;
        anyone else is sent to the sign-in page. POSTs must carry the CSRF token."""

        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            session = request.session
            name, since, now = session.get("operator"), session.get("since", 0), time.time()
            alive = isinstance(name, str) and now - since < self.settings.max_session
            if alive and isinstance(name, str):
                alive = await run_in_threadpool(self.service.store.get_operator, name) is not None
            if not alive:
                session.pop("operator", None)
                target = quote(request.url.path) if request.method == "GET" else "/console/"
                return RedirectResponse(f"/console/sign-in?next={target}", status_code=303)
            session["seen"] = int(now)  # re-signs the cookie: the idle timeout starts again
            request.state.operator = name
            if request.method == "POST":
                form = await read_form(request)
                if not csrf_ok(request, form):
                    return self._refused_csrf(request)
                request.state.form = form
            return await handler(request)

        return guarded

    def _refused_csrf(self, request: Request) -> Response:
        return self._error(
            request,
            403,
            "Form refused",
            "The form did not carry this session's security token. Reload the page and try again.",
        )

    async def sign_in(self, request: Request) -> Response:
        next_page = request.query_params.get("next", "/console/")
        if not _SAFE_NEXT.fullmatch(next_page):
            next_page = "/console/"
        if request.method == "GET":
            return self._page(request, "sign_in.html", next=next_page)
        form = await read_form(request)
        if not csrf_ok(request, form):
            return self._refused_csrf(request)
        name, password = form.get("name", ""), form.get("password", "")
        address = request.client.host if request.client else "-"
        await asyncio.sleep(self.brake.delay(name, address))
        operator = await run_in_threadpool(self.admin.sign_in, name, password)
        if operator is None:
            self.brake.failed(name, address)
            metrics().sign_in_failures.inc()
            logger.warning("console sign-in failed for name %r from %s", name[:64], address)
            return self._page(
                request,
                "sign_in.html",
                401,
                next=next_page,
                error="That name and password do not match an operator.",
            )
        self.brake.succeeded(name)
        logger.info("console: operator %s signed in from %s", operator.name, address)
        request.session.clear()
        request.session.update(
            {"operator": operator.name, "since": int(time.time()), "seen": int(time.time())}
        )
        csrf_token(request)  # a new token for the new session
        return RedirectResponse(next_page, status_code=303)

    async def sign_out(self, request: Request) -> Response:
        form = await read_form(request)
        if not csrf_ok(request, form):
            return self._refused_csrf(request)
        name = request.session.get("operator")
        request.session.clear()
        request.session["flash"] = "You are signed out."
        if isinstance(name, str):
            logger.info("console: operator %s signed out", name)
        return RedirectResponse("/console/sign-in", status_code=303)

    # -- pages ----------------------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        def read() -> dict[str, Any]:
            now = self.service.clock.now()
            today = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
            overdue = self.service.overdue(PAGE_SIZE)
            return {
                "counts": self.operators.counts(),
                "ready": self.operators.ready(PAGE_SIZE),
                "held": self.operators.held(PAGE_SIZE),
                "overdue": overdue,
                "today": self.operators.created_since(today - dt.timedelta.resolution, PAGE_SIZE),
                "limit": PAGE_SIZE,
                "policy": self.service.policy,
            }

        return self._page(request, "queue.html", **await run_in_threadpool(read))

    async def task(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        task_id = request.path_params["task_id"]
        task = await run_in_threadpool(self._show, task_id)
        return self._page(
            request,
            "task.html",
            status,
            task=task,
            allowed=allowed_decisions(task),
            policy=self.service.policy,
            error=error,
        )

    def _show(self, task_id: str) -> DeletionTask:
        if not _TASK_ID.fullmatch(task_id):
            raise TaskNotFound(task_id)
        return self.operators.show(task_id)

    async def decide(self, request: Request) -> Response:
        task_id, decision = request.path_params["task_id"], request.path_params["decision"]
        form: dict[str, str] = request.state.form
        operator: str = request.state.operator
        decide = {
            "hold": self.operators.hold,
            "release": self.operators.release,
            "cancel": self.operators.cancel,
        }.get(decision)
        if decide is None:
            raise HTTPException(404)
        await run_in_threadpool(self._show, task_id)  # an unknown task is a 404 page
        try:
            await run_in_threadpool(decide, task_id, operator, form.get("reason", ""))
        except DeletionRequestError as exc:
            return await self.task(request, error=exc.message, status=STATUS_OF[exc.error])
        request.session["flash"] = {
            "hold": "The task is on hold.",
            "release": "The hold is released.",
            "cancel": "The task is cancelled.",
        }[decision]
        return RedirectResponse(f"/console/tasks/{task_id}", status_code=303)

    async def find(self, request: Request) -> Response:
        if request.method == "GET":
            return self._page(request, "find.html")
        subject = request.state.form.get("subject", "").strip()
        if _TASK_ID.fullmatch(subject):
            return RedirectResponse(f"/console/tasks/{subject.lower()}", status_code=303)
        kind = "email" if "@" in subject else "sha256"
        try:
            found = await run_in_threadpool(self.operators.find, **{kind: subject})
        except InvalidRequest as exc:
            return self._page(request, "find.html", 400, error=exc.message)
        # The subject is not echoed back: an email address stays in the operator's hands.
        return self._page(request, "find.html", found=found, kind=kind)

    async def access(self, request: Request) -> Response:
        def read() -> dict[str, Any]:
            apps = self.admin.list_apps()
            apps_of: dict[str, list[str]] = {}
            for app in apps:
                for account in sorted(app.accounts):
                    apps_of.setdefault(account, []).append(app.app_id)
            return {
                "accounts": self.admin.list_accounts(),
                "apps": apps,
                "apps_of": apps_of,
                "last_used": self.admin.app_last_used(),
                "callbacks": self.admin.callbacks(),
            }

        return self._page(request, "access.html", **await run_in_threadpool(read))

    async def revoke(self, request: Request) -> Response:
        kind, name = request.path_params["kind"], request.path_params["name"]
        revoke = {"apps": self.admin.revoke_app, "accounts": self.admin.revoke_account}.get(kind)
        if revoke is None:
            raise HTTPException(404)
        if request.state.form.get("confirm") != "yes":
            return self._page(request, "confirm.html", kind=kind[:-1], name=name)
        if not await run_in_threadpool(revoke, name):
            raise HTTPException(404)
        logger.info("console: operator %s revoked %s %s", request.state.operator, kind[:-1], name)
        request.session["flash"] = f"Revoked {kind[:-1]} {name}."
        return RedirectResponse("/console/access", status_code=303)

    async def export(self, request: Request) -> Response:
        return self._page(request, "export.html")

    async def download(self, request: Request) -> Response:
        form = request.query_params.get("format", "csv")
        if form not in ("csv", "jsonl"):
            raise InvalidRequest("format is csv or jsonl")
        bounds = [_day(request.query_params.get(name, ""), name) for name in ("since", "until")]
        if bounds[1] is not None:
            bounds[1] += dt.timedelta(days=1) - dt.timedelta.resolution  # the whole day
        export = export_csv if form == "csv" else export_jsonl
        stamp = self.service.clock.now().strftime("%Y%m%dT%H%M%SZ")
        logger.info("console: operator %s downloaded the export", request.state.operator)
        return StreamingResponse(
            export(self.operators.export(*bounds)),  # read from the store on the thread pool
            media_type="text/csv; charset=utf-8" if form == "csv" else "application/x-ndjson",
            headers={
                "Content-Disposition": f'attachment; filename="deletion-requests-{stamp}.{form}"'
            },
        )

    async def trend(self, request: Request) -> Response:
        days = await run_in_threadpool(self.operators.trend, 60)
        return self._page(request, "trend.html", days=days, chart=trend_svg(days))


def allowed_decisions(task: DeletionTask) -> list[str]:
    """The decisions the lifecycle still allows on *task*: hold and cancel while it is
    pending or ready (cancel also while held), release while held."""
    if task.status not in (Status.PENDING, Status.READY):
        return []
    return ["release", "cancel"] if task.held_time is not None else ["hold", "cancel"]


def _day(text: str, name: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    except ValueError:
        raise InvalidRequest(f"{name} must be a date like 2026-01-31") from None


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


def _new_key() -> str:
    return secrets.token_urlsafe(48)
