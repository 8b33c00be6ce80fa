"""The console: a Starlette app mounted at `/console`, its routes in one table.

Every page needs a signed-in operator (a session cookie; a client app's Basic or Bearer
credentials never open it), every form that changes something carries the session's CSRF
token, and every decision goes through the same use cases as the CLI, recorded as
`operator:<name>`. Store work runs on Starlette's thread pool. Everything time-dependent
reads the service's clock, except the sign-in brake (see `SignInBrake`)."""

from __future__ import annotations

import secrets

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from deletion_requests import AccessAdmin, DeletionService, Operators

from ._destination_pages import DestinationPages
from ._guard import SignInBrake
from ._jobs import JobDecisions
from ._pages import Pages
from ._render import HERE, Renderer
from ._sessions import ConsoleSettings, Sessions

SESSION_KEY_SETTING = "console-session-key"


class Console:
    """The console over one service: its pages, forms and downloads, on the service's
    clock. Its decisions go through *operators* (made for the service unless given); *brake*
    slows failed sign-ins (a `SignInBrake` of its defaults unless given)."""

    def __init__(
        self,
        service: DeletionService,
        admin: AccessAdmin,
        settings: ConsoleSettings,
        operators: Operators | None = None,
        brake: SignInBrake | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.brake = brake or SignInBrake()
        self.render = Renderer(service.clock)
        self.sessions = Sessions(
            service.store, service.clock, admin, settings, self.render, self.brake
        )
        self.operators = operators or Operators(service)
        self.pages = Pages(service, self.operators, admin, self.render)
        self.destinations = DestinationPages(service, self.render)
        self.jobs = JobDecisions(self.pages)

    def app(self) -> Starlette:
        """The console as an app of its own, to mount at `/console`."""
        key = self.service.store.setting(SESSION_KEY_SETTING, _new_key)
        guarded, pages = self.sessions.guard, self.pages
        app = Starlette(
            routes=[
                Route("/", guarded(pages.queue), methods=["GET"], name="queue"),
                Route("/tasks/{task_id}", guarded(pages.task), methods=["GET"], name="task"),
                Route("/lists/{kind:str}", guarded(pages.task_list), methods=["GET"], name="list"),
                Route(
                    "/tasks/{task_id}/{decision:str}",
                    guarded(pages.decide),
                    methods=["POST"],
                    name="decide",
                ),
                Route(
                    "/tasks/{task_id}/destinations/{name}/{decision:str}",
                    guarded(self.jobs.decide),
                    methods=["POST"],
                    name="decide_job",
                ),
                Route("/find", guarded(pages.find), methods=["GET", "POST"], name="find"),
                Route("/access", guarded(pages.access), methods=["GET"], name="access"),
                Route(
                    "/access/{kind:str}/{name}/revoke",
                    guarded(pages.revoke),
                    methods=["POST"],
                    name="revoke",
                ),
                Route("/export", guarded(pages.export), methods=["GET"], name="export"),
                Route(
                    "/export/download", guarded(pages.download), methods=["GET"], name="download"
                ),
                Route("/trend", guarded(pages.trend), methods=["GET"], name="trend"),
                Route(
                    "/destinations",
                    guarded(self.destinations.destinations),
                    methods=["GET"],
                    name="destinations",
                ),
                Route(
                    "/destinations",
                    guarded(self.destinations.add),
                    methods=["POST"],
                    name="destination_add",
                ),
                Route(
                    "/destinations/{name}",
                    guarded(self.destinations.destination),
                    methods=["GET"],
                    name="destination",
                ),
                Route(
                    "/destinations/{name}/rotate",
                    guarded(self.destinations.rotate),
                    methods=["POST"],
                    name="destination_rotate",
                ),
                Route(
                    "/destinations/{name}/remove",
                    guarded(self.destinations.remove),
                    methods=["POST"],
                    name="destination_remove",
                ),
                Route(
                    "/destinations/{name}/{action:str}",
                    guarded(self.destinations.set_paused),
                    methods=["POST"],
                    name="destination_paused",
                ),
                Route("/sign-in", self.sessions.sign_in, methods=["GET", "POST"], name="sign_in"),
                Route("/sign-out", self.sessions.sign_out, methods=["POST"], name="sign_out"),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[
                Middleware(
                    SessionMiddleware,
                    secret_key=key,
                    session_cookie="deletion_requests_console",
                    # The browser drops an idle cookie too; the sessions' timeouts are
                    # checked on the service's clock at every request.
                    max_age=self.settings.idle_timeout,
                    path="/console",
                    same_site="strict",
                    https_only=self.settings.secure_cookies,
                )
            ],
            exception_handlers=self.render.exception_handlers(),
        )
        app.router.redirect_slashes = False
        return app


def _new_key() -> str:
    return secrets.token_urlsafe(48)
