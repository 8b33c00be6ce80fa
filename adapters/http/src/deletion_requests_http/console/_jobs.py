"""The operators' decisions on one destination's job, from the task page: retry (owed again
now) and skip (given up on: outcome `failed`), each with a reason, recorded in the task's
history as `operator:<name>` by the same use cases as the CLI."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deletion_requests import DeletionRequestError, DestinationWork
from deletion_requests_http._errors import STATUS_OF

from ._guard import logger
from ._pages import Pages

FLASH = {
    "retry": "The job of {name} is owed again: it is sent at the next round.",
    "skip": "The job of {name} is given up on (failed).",
}


class JobDecisions:
    """`POST /console/tasks/{task_id}/destinations/{name}/{retry|skip}` with a `reason`."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    async def decide(self, request: Request) -> Response:
        params = request.path_params
        task_id, name, decision = params["task_id"], params["name"], params["decision"]
        if decision not in FLASH:
            raise HTTPException(404)
        await run_in_threadpool(self.pages._show, task_id)  # an unknown task: a 404 page
        operator: str = request.state.operator
        reason = request.state.form.get("reason", "")
        work = DestinationWork(self.pages.service)
        decide = work.retry if decision == "retry" else work.skip
        try:
            await run_in_threadpool(decide, task_id, name, reason, operator)
        except DeletionRequestError as exc:
            return await self.pages.task(request, error=exc.message, status=STATUS_OF[exc.error])
        logger.info(
            "console: operator %s decided %s on the job of %s for task %s",
            operator,
            decision,
            name,
            task_id,
        )
        request.session["flash"] = FLASH[decision].format(name=name)
        return RedirectResponse(f"/console/tasks/{task_id}", status_code=303)
