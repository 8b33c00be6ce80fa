"""Signing in and out, and the check every console page makes that its session is alive.

A session is a signed cookie naming the operator, when they signed in (by the service's
clock), and their session generation: a random value kept in the store's settings. Signing
out, or a session found idle, replaces the generation, which ends every session of that
operator, every copy of its cookie included, in every process on the store. When the
operator was last seen is kept in the store too, so that all copies share one idle timeout."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deletion_requests import AccessAdmin, Clock, Store
from deletion_requests.stores import Operator
from deletion_requests_http._metrics import metrics

from ._guard import SignInBrake, TooManyWaiting, csrf_ok, csrf_token, logger, read_form
from ._render import Renderer

Handler = Callable[[Request], Awaitable[Response]]
_SAFE_NEXT = re.compile(r"/console/[A-Za-z0-9/_.-]*")


@attrs.frozen
class ConsoleSettings:
    """How the console's sessions behave. `secure_cookies` marks the cookie `Secure` (set it
    whenever the console is reached over HTTPS, as behind a TLS proxy)."""

    secure_cookies: bool = False
    idle_timeout: int = 30 * 60
    """Seconds without a request after which a session ends."""
    max_session: int = 12 * 60 * 60
    """Seconds after sign-in at which a session ends, however busy."""


def _generation_setting(name: str) -> str:
    return f"console-session-generation:{name}"


def _seen_setting(name: str) -> str:
    return f"console-session-seen:{name}"


def _new_generation() -> str:
    return secrets.token_urlsafe(16)


class Sessions:
    """The console's sign-in, sign-out, and the guard on every other page."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        admin: AccessAdmin,
        settings: ConsoleSettings,
        render: Renderer,
        brake: SignInBrake,
    ) -> None:
        self.store, self.clock, self.admin = store, clock, admin
        self.settings, self.render, self.brake = settings, render, brake
        # When the operator was last seen is written at most this often: a session ends
        # within this many seconds before its idle timeout is reached.
        self.seen_every = min(60.0, settings.idle_timeout / 30)

    def guard(self, handler: Handler) -> Handler:
        """*handler* for a signed-in operator, whose session is alive and who still exists;
        anyone else is sent to the sign-in page. POSTs must carry the CSRF token."""

        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            session = request.session
            name = await run_in_threadpool(self.alive, dict(session))
            if name is None:
                session.pop("operator", None)
                target = quote(request.url.path) if request.method == "GET" else "/console/"
                return RedirectResponse(f"/console/sign-in?next={target}", status_code=303)
            request.state.operator = name
            if request.method == "POST":
                form = await read_form(request)
                if not csrf_ok(request, form):
                    return self.render.refused_csrf(request)
                request.state.form = form
            return await handler(request)

        return guarded

    def alive(self, session: Mapping[str, Any]) -> str | None:
        """The operator a session cookie's *session* names, while that session is alive."""
        name, generation, since = (session.get(k) for k in ("operator", "generation", "since"))
        if not (isinstance(name, str) and isinstance(generation, str)):
            return None
        if not isinstance(since, int | float) or isinstance(since, bool):
            return None
        now = self.clock.now().timestamp()
        operator = self.store.get_operator(name)
        if operator is None or session.get("account") != _account(operator):
            return None  # removed, or removed and added again
        current = self.store.setting(_generation_setting(name), _new_generation)
        if generation != current or not 0 <= now - since < self.settings.max_session:
            return None
        seen = self._seen(name, current, since)
        if now - seen >= self.settings.idle_timeout:
            self.store.put_setting(_generation_setting(name), _new_generation())
            logger.info("console: the sessions of operator %s ended, idle", name)
            return None
        if now - seen >= self.seen_every:
            self.store.put_setting(_seen_setting(name), f"{current} {now}")
        return name

    def _seen(self, name: str, generation: str, since: float) -> float:
        """When the operator was last seen in this generation; its sign-in, when the store
        holds another generation's."""
        kept = self.store.setting(_seen_setting(name), lambda: "- 0").split(" ")
        try:
            return float(kept[1]) if kept[0] == generation else float(since)
        except (IndexError, ValueError):
            return float(since)

    def begin(self, operator: Operator) -> dict[str, Any]:
        """A new session for *operator*: the contents of its cookie."""
        now = self.clock.now().timestamp()
        generation = self.store.setting(_generation_setting(operator.name), _new_generation)
        self.store.put_setting(_seen_setting(operator.name), f"{generation} {now}")
        return {
            "operator": operator.name,
            "account": _account(operator),
            "generation": generation,
            "since": now,
        }

    def end(self, name: str) -> None:
        """End every session of operator *name*."""
        self.store.put_setting(_generation_setting(name), _new_generation())

    async def sign_in(self, request: Request) -> Response:
        next_page = request.query_params.get("next", "/console/")
        if not _SAFE_NEXT.fullmatch(next_page):
            next_page = "/console/"
        if request.method == "GET":
            return self.render.page(request, "sign_in.html", next=next_page)
        form = await read_form(request)
        if not csrf_ok(request, form):
            return self.render.refused_csrf(request)
        name, password = form.get("name", ""), form.get("password", "")
        address = request.client.host if request.client else "-"
        verify = functools.partial(self.admin.sign_in, name, password)
        try:
            operator = await self.brake.check(name, address, verify)
        except TooManyWaiting:
            logger.warning(
                "console sign-in refused unchecked for name %r from %s", name[:64], address
            )
            return self.render.page(
                request,
                "sign_in.html",
                429,
                next=next_page,
                error="Too many sign-ins for this name or from this address are waiting. "
                "Try again in a few minutes.",
            )
        if operator is None:
            metrics().sign_in_failures.inc()
            logger.warning("console sign-in failed for name %r from %s", name[:64], address)
            return self.render.page(
                request,
                "sign_in.html",
                401,
                next=next_page,
                error="That name and password do not match an operator.",
            )
        logger.info("console: operator %s signed in from %s", operator.name, address)
        cookie = await run_in_threadpool(self.begin, operator)
        request.session.clear()
        request.session.update(cookie)
        csrf_token(request)  # a new token for the new session
        return RedirectResponse(next_page, status_code=303)

    async def sign_out(self, request: Request) -> Response:
        form = await read_form(request)
        if not csrf_ok(request, form):
            return self.render.refused_csrf(request)
        name = await run_in_threadpool(self.alive, dict(request.session))
        if name is not None:
            await run_in_threadpool(self.end, name)
            logger.info("console: operator %s signed out", name)
        request.session.clear()
        request.session["flash"] = "You are signed out."
        return RedirectResponse("/console/sign-in", status_code=303)


def _account(operator: Operator) -> str:
    """Names this operator's account and no later one of the same name (each adding hashes
    its password with a new salt), without showing the hash."""
    record = f"{operator.created_time.isoformat()} {operator.password_hash}"
    return hashlib.sha256(record.encode()).hexdigest()[:32]
