"""The console's destinations pages: each destination's health with the pause and resume
forms, the add form, and one destination's page with its rotate and remove forms. The list's
reads are two, whatever the number of jobs: the destinations and their job counts
(`Destinations.job_counts`, one grouped query).

A secret or credential made by an add or a rotation is shown once, on the answer to that
POST (never in a URL, a redirect or the session), sent `Cache-Control: no-store`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deletion_requests import (
    DeletionRequestError,
    DeletionService,
    Destination,
    DestinationWork,
    InvalidRequest,
    Mode,
)
from deletion_requests.stores import Destinations, JobCounts
from deletion_requests_http._errors import STATUS_OF

from ._guard import logger
from ._render import Renderer

_LIST = re.compile(r"[\s,]+")
ADD_FIELDS = ("name", "mode", "webhook_url", "accounts", "waits_for")
"""The add form's fields, kept on the page when the add is refused."""


@attrs.frozen
class Health:
    """One destination at a glance."""

    destination: Destination
    counts: JobCounts
    oldest_age: dt.timedelta | None
    """How long the oldest job without an outcome has waited (None when there is none)."""

    @property
    def failing(self) -> bool:
        """Its breaker is open, or its last attempts failed."""
        return self.destination.paused_by_breaker or self.destination.failures > 0


def health(store: Destinations, now: dt.datetime) -> list[Health]:
    """Every destination's `Health`, by name."""
    counts = store.job_counts()
    return [_health(d, counts, now) for d in store.list_destinations()]


def _health(destination: Destination, counts: dict[str, JobCounts], now: dt.datetime) -> Health:
    count = counts.get(destination.name, JobCounts())
    oldest = None if count.oldest_open is None else max(dt.timedelta(0), now - count.oldest_open)
    return Health(destination, count, oldest)


def tile(service: DeletionService) -> dict[str, int] | None:
    """The queue page's destinations tile: how many there are, how many are failing, and
    how many breakers are open; None when the store keeps no destinations."""
    store = service.store
    if not isinstance(store, Destinations):
        return None
    destinations = store.list_destinations()
    return {
        "count": len(destinations),
        "failing": sum(d.paused_by_breaker or d.failures > 0 for d in destinations),
        "open": sum(d.paused_by_breaker for d in destinations),
    }


def names(text: str) -> list[str]:
    """The names of a form field that lists them, separated by commas or spaces."""
    return [name for name in _LIST.split(text) if name]


def _confirmed(form: dict[str, str], what: str) -> None:
    if form.get("confirm") != "yes":
        raise InvalidRequest(f"tick the box to confirm, then {what} again; nothing changed")


class DestinationPages:
    """`/console/destinations` with its add, pause and resume forms, and
    `/console/destinations/NAME` with its rotate and remove forms."""

    def __init__(self, service: DeletionService, render: Renderer) -> None:
        self.service = service
        self.render = render

    def _work(self) -> DestinationWork:
        if not isinstance(self.service.store, Destinations):
            raise HTTPException(404)
        return DestinationWork(self.service)

    async def destinations(
        self,
        request: Request,
        error: str | None = None,
        status: int = 200,
        add_error: str | None = None,
        given: dict[str, str] | None = None,
    ) -> Response:
        work = self._work()

        def read() -> list[Health]:
            return health(work.store, self.service.clock.now())

        rows = await run_in_threadpool(read)
        return self.render.page(
            request,
            "destinations.html",
            status,
            rows=rows,
            error=error,
            add_error=add_error,
            given=given or {"mode": "push"},
        )

    async def destination(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        work, name = self._work(), request.path_params["name"]

        def read() -> tuple[Health, list[str]]:
            found = _health(work.get(name), work.store.job_counts(), self.service.clock.now())
            waiting = [d.name for d in work.store.list_destinations() if name in d.waits_for]
            return found, waiting

        row, waited_by = await run_in_threadpool(read)
        return self.render.page(
            request, "destination.html", status, row=row, waited_by=waited_by, error=error
        )

    async def add(self, request: Request) -> Response:
        work = self._work()
        form: dict[str, str] = request.state.form
        given = {key: form.get(key, "").strip() for key in ADD_FIELDS}
        try:
            if given["mode"] not in ("push", "pull"):
                raise InvalidRequest("choose the mode: push or pull")
            made, shown = await run_in_threadpool(
                work.create,
                given["name"],
                Mode(given["mode"]),
                given["webhook_url"] or None,
                names(given["accounts"]),
                names(given["waits_for"]),
            )
        except DeletionRequestError as exc:
            status = STATUS_OF[exc.error]
            return await self.destinations(request, None, status, exc.message, given)
        logger.info(
            "console: operator %s added %s destination %s",
            request.state.operator,
            made.mode.value,
            made.name,
        )
        return self._shown(request, made, shown, "added")

    async def rotate(self, request: Request) -> Response:
        work, name = self._work(), request.path_params["name"]
        try:
            _confirmed(request.state.form, "rotate")
            rotated, shown = await run_in_threadpool(work.rotate, name, request.state.operator)
        except DeletionRequestError as exc:
            return await self.destination(request, exc.message, STATUS_OF[exc.error])
        logger.info("console: operator %s rotated destination %s", request.state.operator, name)
        return self._shown(request, rotated, shown, "rotated")

    async def remove(self, request: Request) -> Response:
        work, name = self._work(), request.path_params["name"]
        try:
            _confirmed(request.state.form, "remove")
            await run_in_threadpool(work.remove, name, request.state.operator)
        except DeletionRequestError as exc:
            return await self.destination(request, exc.message, STATUS_OF[exc.error])
        logger.info("console: operator %s removed destination %s", request.state.operator, name)
        request.session["flash"] = f"{name} is removed, with its final jobs."
        return RedirectResponse("/console/destinations", status_code=303)

    def _shown(
        self, request: Request, destination: Destination, shown: str | None, done: str
    ) -> Response:
        """The page that shows a new secret or credential, once."""
        context: dict[str, Any] = {"d": destination, "shown": shown, "done": done}
        answer = self.render.page(request, "destination_secret.html", 200, **context)
        answer.headers["Cache-Control"] = "no-store"
        return answer

    async def set_paused(self, request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        if action not in ("pause", "resume"):
            raise HTTPException(404)
        work = self._work()
        operator: str = request.state.operator
        try:
            await run_in_threadpool(work.set_paused, name, action == "pause", operator)
        except DeletionRequestError as exc:
            return await self.destinations(request, error=exc.message, status=STATUS_OF[exc.error])
        request.session["flash"] = (
            f"{name} is paused: it is sent nothing, and its jobs stay owed."
            if action == "pause"
            else f"{name} is resumed: its owed jobs are sent again."
        )
        back = request.state.form.get("back") == "destination"
        target = f"/console/destinations/{name}" if back else "/console/destinations"
        return RedirectResponse(target, status_code=303)
