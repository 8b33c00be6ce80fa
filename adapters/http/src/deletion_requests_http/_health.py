"""`GET /healthz`: whether the store takes a write, and whether this process's background work
goes on.

The answer is 200 with `{"status": "ok", "background": ...}` while the store can take a write
and no round of background work this process holds the lease for is stale; 503 in the error
envelope otherwise. `background` says whether this process holds the lease and, for each round
(`maintenance`, `delivery`), `age` (seconds since it last finished here; null without the
lease) and `staleAfter`. A stale round makes the answer 503 only while work is owed: a task
still pending or ready for maintenance, a message in the outbox for delivery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deletion_requests import HANDOFF, REVIEW, Store

from ._errors import HttpError
from ._wiring import Background, Round

_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def work_owed(store: Store, rounds: list[Round]) -> list[Round]:
    """Those of *rounds* that have work owed in *store*."""
    owed = []
    for each in rounds:
        if each.name == "delivery":
            if any(store.backlog(kind).count for kind in (HANDOFF, REVIEW)):
                owed.append(each)
        elif store.due(_FAR, _FAR, 1):
            owed.append(each)
    return owed


def background_report(background: Background) -> dict[str, Any]:
    """The `background` member of the answer."""
    return {
        "lease": background.holds_lease,
        "rounds": {
            each.name: {"age": background.age(each.name), "staleAfter": each.stale_after}
            for each in background.rounds
        },
    }


def health_endpoint(
    store: Store, background: Background | None
) -> Callable[[Request], Awaitable[Response]]:
    """The `/healthz` handler over *store*, reporting *background* (when this process runs
    one)."""

    async def health(request: Request) -> Response:
        await run_in_threadpool(store.check)
        body: dict[str, Any] = {"status": "ok"}
        if background is not None:
            body["background"] = background_report(background)
            stale = background.stale()
            if stale and (owed := await run_in_threadpool(work_owed, store, stale)):
                described = ", ".join(
                    f"{each.name} last finished {background.age(each.name):.0f} s ago "
                    f"(stale after {each.stale_after:.0f} s)"
                    for each in owed
                )
                message = f"background work has stopped while work is owed: {described}"
                raise HttpError("SERVICE_UNAVAILABLE", message)
        return JSONResponse(body)

    return health
