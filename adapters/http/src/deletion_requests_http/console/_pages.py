"""The console's pages and the decisions made from them. Each handler parses, calls a use
case on Starlette's thread pool, and renders; the sign-in check wraps them all."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from deletion_requests import (
    AccessAdmin,
    DeletionRequestError,
    DeletionService,
    DeletionTask,
    InvalidRequest,
    Operators,
    Status,
    TaskNotFound,
)
from deletion_requests.wire import check_reason, days_left_to_extend, task_outcome
from deletion_requests_http._errors import STATUS_OF
from deletion_requests_http._export import export_csv, export_jsonl

from ._destination_pages import tile as destination_tile
from ._guard import logger
from ._render import Renderer
from ._trend import SERIES, trend_svg

PAGE_SIZE = 100
LIST_PAGE = 50
LISTS = {
    # list: (title, what it holds, its default order)
    "pending": ("Pending tasks", "In their first days: not yet open for review.", "due"),
    "ready": ("Ready tasks", "In their review window, on hold or not.", "due"),
    "actioned": ("Actioned tasks", "Handed off to the deleter, completed or not.", "newest"),
    "completed": ("Completed tasks", "The deleter reported their data deleted.", "newest"),
    "cancelled": ("Cancelled tasks", "Cancelled by their app or by an operator.", "newest"),
    "held": ("Tasks on hold", "Held by an operator: not handed off until released.", "due"),
    "overdue": ("Overdue tasks", "Handed off, past their due date, not completed.", "due"),
}
SORTS = {"due": "Soonest hand-off or due first", "newest": "Newest created first"}
_TASK_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class Pages:
    """The pages a signed-in operator opens: queue, task, find, access, export, trend."""

    def __init__(
        self,
        service: DeletionService,
        operators: Operators,
        admin: AccessAdmin,
        render: Renderer,
    ) -> None:
        self.service = service
        self.operators = operators
        self.admin = admin
        self.render = render

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
                "destinations": destination_tile(self.service),
            }

        return self.render.page(request, "queue.html", **await run_in_threadpool(read))

    async def task(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        task_id = request.path_params["task_id"]
        task = await run_in_threadpool(self._show, task_id)
        jobs = await run_in_threadpool(self.service.jobs, task_id)
        return self.render.page(
            request,
            "task.html",
            status,
            task=task,
            jobs=jobs,
            outcome=task_outcome(task, jobs),
            allowed=allowed_decisions(task),
            policy=self.service.policy,
            left=days_left_to_extend(task, self.service.policy),
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
        decisions: dict[str, Callable[[str, str, str], DeletionTask]] = {
            "hold": self.operators.hold,
            "release": self.operators.release,
            "cancel": self.operators.cancel,
            "extend": functools.partial(self._extend, form.get("days", "")),
        }
        decide = decisions.get(decision)
        if decide is None:
            raise HTTPException(404)
        task = await run_in_threadpool(self._show, task_id)  # an unknown task: a 404 page
        if decision == "cancel" and form.get("confirm") != "yes":
            try:
                reason = check_reason(form.get("reason", ""))
            except InvalidRequest as exc:
                return await self.task(request, error=exc.message, status=400)
            return self.render.page(request, "confirm_cancel.html", task=task, reason=reason)
        try:
            await run_in_threadpool(decide, task_id, operator, form.get("reason", ""))
        except DeletionRequestError as exc:
            return await self.task(request, error=exc.message, status=STATUS_OF[exc.error])
        request.session["flash"] = {
            "hold": "The task is on hold.",
            "release": "The hold is released.",
            "cancel": "The task is cancelled.",
            "extend": "The due date is extended; the app is told.",
        }[decision]
        return RedirectResponse(f"/console/tasks/{task_id}", status_code=303)

    def _extend(self, days: str, task_id: str, operator: str, reason: str) -> DeletionTask:
        text = days.strip()
        try:
            number = int(text) if text.isascii() else None
        except ValueError:
            number = None
        if number is None:
            raise InvalidRequest("give the extension as a whole number of days")
        return self.operators.extend_due(task_id, operator, number, reason)

    async def task_list(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in LISTS:
            raise HTTPException(404)
        title, about, default_sort = LISTS[kind]
        params = request.query_params
        sort = params.get("sort") or default_sort
        if sort not in SORTS:
            raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}")
        account = params.get("account", "").strip() or None
        cursor = params.get("cursor") or None

        def read() -> dict[str, Any]:
            page = self.operators.tasks(kind, account, sort == "due", cursor, LIST_PAGE)
            return {"page": page, "accounts": sorted(self.operators.accounts())}

        found = await run_in_threadpool(read)
        query = {"sort": sort, **({"account": account} if account else {})}
        return self.render.page(
            request,
            "list.html",
            kind=kind,
            title=title,
            about=about,
            sort=sort,
            sorts=SORTS,
            account=account,
            first=f"/console/lists/{kind}?{urlencode(query)}" if cursor else None,
            next=(
                f"/console/lists/{kind}?{urlencode({**query, 'cursor': found['page'].next_cursor})}"
                if found["page"].next_cursor
                else None
            ),
            tasks=found["page"].tasks,
            accounts=found["accounts"],
            policy=self.service.policy,
        )

    async def find(self, request: Request) -> Response:
        if request.method == "GET":
            return self.render.page(request, "find.html")
        subject = request.state.form.get("subject", "").strip()
        if _TASK_ID.fullmatch(subject):
            return RedirectResponse(f"/console/tasks/{subject.lower()}", status_code=303)
        kind = "email" if "@" in subject else "sha256"
        try:
            found = await run_in_threadpool(self.operators.find, **{kind: subject})
        except InvalidRequest as exc:
            return self.render.page(request, "find.html", 400, error=exc.message)
        # The subject is not echoed back: an email address stays in the operator's hands.
        return self.render.page(request, "find.html", found=found, kind=kind)

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

        return self.render.page(request, "access.html", **await run_in_threadpool(read))

    async def revoke(self, request: Request) -> Response:
        kind, name = request.path_params["kind"], request.path_params["name"]
        revoke = {"apps": self.admin.revoke_app, "accounts": self.admin.revoke_account}.get(kind)
        if revoke is None:
            raise HTTPException(404)
        if request.state.form.get("confirm") != "yes":
            return self.render.page(request, "confirm.html", kind=kind[:-1], name=name)
        if not await run_in_threadpool(revoke, name):
            raise HTTPException(404)
        logger.info("console: operator %s revoked %s %s", request.state.operator, kind[:-1], name)
        request.session["flash"] = f"Revoked {kind[:-1]} {name}."
        return RedirectResponse("/console/access", status_code=303)

    async def export(self, request: Request) -> Response:
        return self.render.page(request, "export.html")

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
            # read from the store on the thread pool
            export(self.operators.export(*bounds), jobs_of=self.service.jobs),
            media_type="text/csv; charset=utf-8" if form == "csv" else "application/x-ndjson",
            headers={
                "Content-Disposition": f'attachment; filename="deletion-requests-{stamp}.{form}"'
            },
        )

    async def trend(self, request: Request) -> Response:
        days = await run_in_threadpool(self.operators.trend, 60)
        return self.render.page(
            request, "trend.html", days=days, chart=trend_svg(days), series=SERIES
        )


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
