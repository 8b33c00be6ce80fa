"""The destinations' endpoints: pull destinations claim their jobs and report outcomes with
their own credentials; push destinations report outcomes signed with their own secret.

- `POST /destinations/{name}/jobs/claim`, `{"limit": N}`, `Authorization: Bearer <credential>`
- `POST /destinations/{name}/jobs/{jobId}/outcome`, `{"outcome": ..., "reason": ...}`, the same
- `POST /destinations/{name}/jobs/outcomes`, `{"outcomes": [{"jobId", "outcome", "reason"}]}`
  (at most `MAX_BATCH`), the same: every outcome in one store write, or none
- `POST /data/deletion-requests/{taskId}/destinations/{name}/outcome`, the same body, signed
  (Standard Webhooks) with the destination's `whsec_` secret
"""

from __future__ import annotations

from typing import Any

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deletion_requests import (
    AuthenticationFailed,
    Claimed,
    DeletionService,
    DestinationWork,
    InvalidRequest,
    Mode,
    Outcome,
    Recorded,
    UnknownDestination,
)
from deletion_requests.wire import MAX_BATCH, MAX_CLAIM, summary

from ._documents import json_body, media_type, read_body
from ._errors import HttpError, JSONResponse
from ._signing import verify_signed
from ._task_path import TASK_ID

OUTCOME_FIELDS = frozenset({"outcome", "reason"})
ITEM_FIELDS = frozenset({"jobId", "outcome", "reason"})
BATCH_SHAPE = (
    'the body must be {"outcomes": [{"jobId": "...", "outcome": "<word>", "reason": "..."}]}, '
    f"1 to {MAX_BATCH} of them"
)


def outcome_document(media: str, body: bytes) -> Outcome:
    """The outcome a report's body names; 400 naming what is wrong."""
    document = json_body(media, body)
    if not isinstance(document, dict) or "outcome" not in document:
        raise HttpError("BAD_REQUEST", 'the body must be {"outcome": "<word>", "reason": "..."}')
    unknown = sorted(set(document) - OUTCOME_FIELDS)
    if unknown:
        raise HttpError(
            "BAD_REQUEST", f"unknown field(s) {', '.join(unknown)[:200]}: expected outcome, reason"
        )
    return Outcome.parse(document["outcome"], document.get("reason"))


def claim_limit(media: str, body: bytes) -> Any:
    """The `limit` a claim's body names, for the core to check; a number without a fraction
    (`100.0`) is that integer, as JSON Schema's `integer` has it. 400 for another shape."""
    document = json_body(media, body)
    if not isinstance(document, dict) or set(document) != {"limit"}:
        raise HttpError("BAD_REQUEST", f'the body must be {{"limit": <1 to {MAX_CLAIM}>}}')
    limit = document["limit"]
    if isinstance(limit, float) and limit.is_integer():
        return int(limit)
    return limit


def batch_document(media: str, body: bytes) -> list[tuple[str, Outcome]]:
    """The `(jobId, outcome)` pairs a batch report's body names; 400 naming the item that is
    wrong (its index) and what is wrong with it."""
    document = json_body(media, body)
    if not isinstance(document, dict) or set(document) != {"outcomes"}:
        raise HttpError("BAD_REQUEST", BATCH_SHAPE)
    items = document["outcomes"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise HttpError("BAD_REQUEST", BATCH_SHAPE)
    pairs = []
    for index, item in enumerate(items):
        where = f"outcomes[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("jobId"), str):
            raise HttpError("BAD_REQUEST", f'{where} must be {{"jobId": "...", "outcome": ...}}')
        unknown = sorted(set(item) - ITEM_FIELDS)
        if unknown:
            raise HttpError(
                "BAD_REQUEST",
                f"{where}: unknown field(s) {', '.join(unknown)[:200]}: expected jobId, "
                "outcome, reason",
            )
        try:
            pairs.append((item["jobId"], Outcome.parse(item.get("outcome"), item.get("reason"))))
        except InvalidRequest as exc:
            raise HttpError("BAD_REQUEST", f"{where}: {exc.message}") from exc
    return pairs


def bearer(request: Request) -> str:
    """The bearer credential of the request; 403 when there is none."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationFailed("send the destination's credential as a Bearer token")
    return credential.strip()


def claimed_to_api(claimed: Claimed) -> dict[str, Any]:
    job, task = claimed.job, claimed.task
    return {
        "jobId": job.job_id,
        "taskId": job.task_id,
        "destination": job.destination,
        "accountId": task.account_id,
        "identifiers": sorted(task.identifiers),
        "actionedTime": None if task.actioned_time is None else task.actioned_time.isoformat(),
        "leaseUntil": None if job.lease_until is None else job.lease_until.isoformat(),
        "dueTime": task.due_time.isoformat(),
        "late": claimed.late,
    }


def recorded_to_api(recorded: Recorded, task_outcome: str | None) -> dict[str, Any]:
    """The answer to an outcome report; *task_outcome* is the completed task's summary."""
    return {"data": recorded_item(recorded, task_outcome)}


def recorded_item(recorded: Recorded, task_outcome: str | None) -> dict[str, Any]:
    """One recorded outcome, as the answers to reports carry it."""
    job = recorded.job
    assert job.outcome is not None  # a recorded job is final
    return {
        "jobId": job.job_id,
        "taskId": job.task_id,
        "destination": job.destination,
        "outcome": job.outcome.kind.value,
        "reason": job.outcome.reason or None,
        "repeated": recorded.repeated,
        "taskCompleted": recorded.completed is not None,
        "taskOutcome": task_outcome,
    }


@attrs.define
class DestinationEndpoints:
    """The handlers; each parses, calls a `DestinationWork` use case and renders."""

    work: DestinationWork

    async def _pulled(self, request: Request) -> tuple[str, bytes]:
        """The pull destination the request names, once its Bearer credential is checked
        (the access line then names it), and the request's body."""
        name = request.path_params["name"]
        credential = bearer(request)
        body = await read_body(request)
        await run_in_threadpool(self.work.authenticate, name, credential)
        request.state.app_id = f"destination:{name}"
        return name, body

    async def claim(self, request: Request) -> Response:
        name, body = await self._pulled(request)
        limit = claim_limit(media_type(request), body)
        claimed = await run_in_threadpool(self.work.claim, name, limit)
        return JSONResponse({"data": [claimed_to_api(c) for c in claimed]})

    async def pull_outcome(self, request: Request) -> Response:
        name, body = await self._pulled(request)
        outcome = outcome_document(media_type(request), body)
        recorded = await run_in_threadpool(
            self.work.report, name, request.path_params["job_id"], outcome
        )
        return JSONResponse(await self._answer(recorded))

    async def pull_outcomes(self, request: Request) -> Response:
        name, body = await self._pulled(request)
        outcomes = batch_document(media_type(request), body)
        recorded = await run_in_threadpool(self.work.report_batch, name, outcomes)
        return JSONResponse({"data": await run_in_threadpool(self._items, recorded)})

    def _items(self, recorded: list[Recorded]) -> list[dict[str, Any]]:
        outcomes = {
            r.job.task_id: summary(self.work.jobs(r.job.task_id))
            for r in recorded
            if r.completed is not None
        }
        return [
            recorded_item(r, outcomes.get(r.job.task_id) if r.completed else None) for r in recorded
        ]

    async def push_outcome(self, request: Request) -> Response:
        task_id, name = request.path_params["task_id"], request.path_params["name"]
        body = await read_body(request)
        destination = await run_in_threadpool(self.work.get, name)
        if destination.mode is not Mode.PUSH or destination.secret is None:
            raise UnknownDestination(name)
        verify_signed(destination.secret, request.headers, body)
        outcome = outcome_document(media_type(request), body)
        request.state.app_id = f"destination:{name}"
        recorded = await run_in_threadpool(self.work.report_for_task, task_id, name, outcome)
        return JSONResponse(await self._answer(recorded))

    async def _answer(self, recorded: Recorded) -> dict[str, Any]:
        task_outcome = None
        if recorded.completed is not None:
            jobs = await run_in_threadpool(self.work.jobs, recorded.job.task_id)
            task_outcome = summary(jobs)
        return recorded_to_api(recorded, task_outcome)


def destination_routes(service: DeletionService) -> list[Route]:
    """The destinations' routes, over *service*."""
    api = DestinationEndpoints(DestinationWork(service))
    return [
        Route("/destinations/{name}/jobs/claim", api.claim, methods=["POST"]),
        Route("/destinations/{name}/jobs/outcomes", api.pull_outcomes, methods=["POST"]),
        Route("/destinations/{name}/jobs/{job_id}/outcome", api.pull_outcome, methods=["POST"]),
        Route(
            f"/data/deletion-requests/{TASK_ID}/destinations/{{name}}/outcome",
            api.push_outcome,
            methods=["POST"],
        ),
    ]
