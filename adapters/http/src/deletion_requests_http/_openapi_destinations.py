"""The destinations' operations in the OpenAPI document, under the tag `destinations`: a pull
destination's claim and its reports (one job, or a batch), and a push destination's signed
report. Their components are in `_openapi_destination_schemas`, their examples in
`_openapi_destination_examples`."""

from __future__ import annotations

from typing import Any

from deletion_requests.wire import MAX_BATCH, MAX_CLAIM

from . import _openapi_destination_examples as ex
from . import _openapi_examples as task_ex
from ._openapi_destination_schemas import (
    NAME,
    SIGNING,
    claim_errors,
    pull_report_errors,
    push_report_errors,
)
from ._openapi_schemas import UUID

TAG = {
    "name": "destinations",
    "description": "For the downstream systems that erase the data: a pull destination claims "
    "its jobs and reports their outcomes with its own credential; a push destination, sent "
    "each job, reports its outcome signed with its own secret. A task is completed once "
    "every destination serving it has reported.",
}
PULL_SECURITY: list[dict[str, list[str]]] = [{"destinationCredential": []}]


def _name(example: str) -> dict[str, Any]:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": NAME,
        "description": "The destination's name.",
        "example": example,
    }


JOB_ID = {
    "name": "jobId",
    "in": "path",
    "required": True,
    "schema": UUID,
    "description": "The job's id, as its claim gave it.",
    "example": ex.JOB_ID,
}
TASK_ID = {
    "name": "taskId",
    "in": "path",
    "required": True,
    "schema": UUID,
    "description": "The task id of the job the destination was sent.",
    "example": task_ex.TASK_ID,
}
SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": "Any unique id of this message; signed with it.",
        "example": ex.WEBHOOK_ID,
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,11}$"},
        "description": "When it was signed: whole Unix seconds in digits (no sign, space, "
        "fraction or leading zero), within 5 minutes of the server's clock.",
        "example": ex.WEBHOOK_TIMESTAMP,
    },
]


def _content(schema: str, examples: dict[str, Any]) -> dict[str, Any]:
    return {
        "application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema}"},
            "examples": examples,
        }
    }


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    request: tuple[str, dict[str, Any]],
    answer: tuple[str, str, dict[str, Any]],
    errors: dict[str, Any],
    security: list[dict[str, list[str]]] = PULL_SECURITY,
    headers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    schema, description_200, examples = answer
    return {
        "tags": [TAG["name"]],
        "summary": summary,
        "description": description,
        "operationId": operation_id,
        "security": security,
        **({"parameters": headers} if headers else {}),
        "requestBody": {"required": True, "content": _content(*request)},
        "responses": {
            "200": {"description": description_200, "content": _content(schema, examples)},
            **errors,
        },
    }


def destination_paths() -> dict[str, Any]:
    """The paths of the destinations' operations."""
    pull = "/destinations/{name}/jobs"
    return {
        f"{pull}/claim": {
            "parameters": [_name(ex.PULL)],
            "post": _operation(
                "claimJobs",
                "Lease up to limit of the destination's owed jobs, oldest first.",
                f"Each job is leased for 10 minutes, with the identifier hashes to erase. At "
                f"most {MAX_CLAIM} at once; a job whose lease runs out is owed again, and two "
                "claims never hold one job at once. A paused destination claims nothing.",
                ("ClaimRequest", ex.CLAIM_REQUEST),
                ("ClaimedJobs", "The jobs leased, perhaps none.", ex.CLAIMED_JOBS),
                claim_errors(),
            ),
        },
        f"{pull}/outcomes": {
            "parameters": [_name(ex.PULL)],
            "post": _operation(
                "reportOutcomes",
                f"Report the outcomes of 1 to {MAX_BATCH} jobs in one write, or none.",
                "Checked whole first: any item refused (400, 404 or 409, naming it by its "
                "index or job id) and nothing is written. Otherwise every outcome is recorded "
                "in one write, in the order given, and each task whose jobs all become final "
                "is completed in it.",
                ("OutcomeReports", ex.BATCH_REQUEST),
                ("OutcomesRecorded", "One item per outcome, in order.", ex.BATCH_RECORDED),
                pull_report_errors(batch=True),
            ),
        },
        f"{pull}/{{jobId}}/outcome": {
            "parameters": [_name(ex.PULL), JOB_ID],
            "post": _operation(
                "reportOutcome",
                "Report the outcome of one of the destination's jobs (idempotent).",
                "A job gets one outcome: the same one again is a success (repeated) that "
                "changes nothing, a different one is 409. The last outcome of a task "
                "completes it.",
                ("OutcomeReport", ex.OUTCOME_REQUEST),
                ("OutcomeRecorded", "The outcome, recorded (now or before).", ex.RECORDED),
                pull_report_errors(batch=False),
            ),
        },
        "/data/deletion-requests/{taskId}/destinations/{name}/outcome": {
            "parameters": [TASK_ID, _name(ex.PUSH)],
            "post": _operation(
                "reportPushedOutcome",
                "A push destination reports the outcome of its job for a task (idempotent).",
                f"Signed as a Standard Webhook. {SIGNING} The same outcome again is a success "
                "(repeated), a different one is 409.",
                ("OutcomeReport", ex.OUTCOME_REQUEST),
                ("OutcomeRecorded", "The outcome, recorded (now or before).", ex.PUSH_RECORDED),
                push_report_errors(),
                security=[{"destinationSignature": []}],
                headers=SIGNATURE_HEADERS,
            ),
        },
    }
