"""The console's destinations page: each destination's health, and the pause and resume
forms. Its reads are two, whatever the number of jobs: the destinations and their job counts
(`Destinations.job_counts`, one grouped query)."""

from __future__ import annotations

import datetime as dt

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deletion_requests import DeletionRequestError, DeletionService, Destination, DestinationWork
from deletion_requests.stores import Destinations, JobCounts
from deletion_requests_http._errors import STATUS_OF

from ._render import Renderer


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
    found = []
    for destination in store.list_destinations():
        count = counts.get(destination.name, JobCounts())
        oldest = (
            None if count.oldest_open is None else max(dt.timedelta(0), now - count.oldest_open)
        )
        found.append(Health(destination, count, oldest))
    return found


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


class DestinationPages:
    """`/console/destinations`, and its pause and resume forms."""

    def __init__(self, service: DeletionService, render: Renderer) -> None:
        self.service = service
        self.render = render

    def _work(self) -> DestinationWork:
        if not isinstance(self.service.store, Destinations):
            raise HTTPException(404)
        return DestinationWork(self.service)

    async def destinations(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        work = self._work()

        def read() -> list[Health]:
            return health(work.store, self.service.clock.now())

        rows = await run_in_threadpool(read)
        return self.render.page(request, "destinations.html", status, rows=rows, error=error)

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
        return RedirectResponse("/console/destinations", status_code=303)
