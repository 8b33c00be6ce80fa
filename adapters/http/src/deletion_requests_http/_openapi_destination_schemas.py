"""The components of the destinations' operations in the OpenAPI document: their schemas, as
strict as the server (every limit is the core's constant), their error responses and their
security schemes."""

from __future__ import annotations

from typing import Any

from deletion_requests.wire import MAX_BATCH, MAX_CLAIM, MAX_REASON, NAME_PATTERN, REPORTED_WORDS

from . import _openapi_destination_examples as ex
from ._openapi_schemas import ERRORS, SHA256_EMAIL, TIME, UUID

WORDS = [kind.value for kind in REPORTED_WORDS]
NAME = {
    "type": "string",
    "pattern": f"^(?:{NAME_PATTERN.pattern})$",
    "description": "A destination's name: 1 to 63 lowercase letters, digits, - or _, "
    "starting with a letter.",
}
CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
"""The control characters a reason may not hold (C0, DEL, C1), as a regex class's content."""
BLANKS = " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The whitespace that Python's `str.strip` takes from a reason's ends and that is not a
control character, as a regex class's content."""
REASON = {
    "type": ["string", "null"],
    "maxLength": MAX_REASON,
    "pattern": f"^[^{CONTROL}]*$",
    "description": f"At most {MAX_REASON} characters as sent, with no control character (a "
    "line break or a tab included) and no lone surrogate; whitespace at its ends is then "
    "trimmed, and a blank reason is none. Required, not blank, for exempt; absent, null or "
    "blank for deleted and not_found.",
}
OUTCOME_RULES = {
    # The reason each word takes. Code generators leave if/then/else aside; validators and
    # schemathesis hold a report to it.
    "if": {"properties": {"outcome": {"const": "exempt"}}},
    "then": {
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "pattern": f"[^{BLANKS}]"}},
    },
    "else": {"properties": {"reason": {"pattern": f"^[{BLANKS}]*$"}}},
}
OUTCOME_WORD = {
    "type": "string",
    "enum": WORDS,
    "description": "deleted: the data was erased; not_found: the system held nothing of the "
    "subject; exempt: kept for a reason the law allows, given in reason.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["data"],
        "properties": {"data": data},
    }


RECORDED_OUTCOME = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "jobId",
        "taskId",
        "destination",
        "outcome",
        "reason",
        "repeated",
        "taskCompleted",
        "taskOutcome",
    ],
    "properties": {
        "jobId": UUID,
        "taskId": UUID,
        "destination": NAME,
        "outcome": {"type": "string", "enum": WORDS},
        "reason": {"type": ["string", "null"], "maxLength": MAX_REASON},
        "repeated": {
            "type": "boolean",
            "description": "The job already had this outcome: nothing changed.",
        },
        "taskCompleted": {
            "type": "boolean",
            "description": "This report left every job of the task final, and completed it.",
        },
        "taskOutcome": {
            "type": ["string", "null"],
            "enum": [*WORDS, None],
            "description": "The completed task's one-word outcome when this report completed "
            "it, else null.",
        },
    },
}


def destination_schemas() -> dict[str, Any]:
    """The component schemas of the destinations' operations."""
    report: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["outcome"],
        "properties": {"outcome": OUTCOME_WORD, "reason": REASON},
        **OUTCOME_RULES,
    }
    item = {
        **report,
        "required": ["jobId", "outcome"],
        "properties": {"jobId": UUID, **report["properties"]},
    }
    return {
        "ClaimRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["limit"],
            "properties": {
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_CLAIM,
                    "description": "The most jobs to lease.",
                }
            },
        },
        "ClaimedJob": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "jobId",
                "taskId",
                "destination",
                "accountId",
                "identifiers",
                "actionedTime",
                "leaseUntil",
                "dueTime",
                "late",
            ],
            "properties": {
                "jobId": UUID,
                "taskId": UUID,
                "destination": NAME,
                "accountId": {"type": "string"},
                "identifiers": {
                    "type": "array",
                    "items": SHA256_EMAIL,
                    "description": "The subject's identifier hashes: erase what they match.",
                },
                "actionedTime": TIME,
                "leaseUntil": {
                    **TIME,
                    "description": "Report before then; after it the job is owed again and "
                    "the next claim may take it.",
                },
                "dueTime": {"type": "string", "format": "date-time"},
                "late": {"type": "boolean", "description": "dueTime has passed."},
            },
        },
        "ClaimedJobs": _answer(
            {"type": "array", "items": _ref("ClaimedJob"), "maxItems": MAX_CLAIM}
        ),
        "OutcomeReport": report,
        "JobOutcomeReport": item,
        "OutcomeReports": {
            "type": "object",
            "additionalProperties": False,
            "required": ["outcomes"],
            "properties": {
                "outcomes": {
                    "type": "array",
                    "items": _ref("JobOutcomeReport"),
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "description": "Each job at most once (a job named twice is 400).",
                }
            },
        },
        "RecordedOutcome": RECORDED_OUTCOME,
        "OutcomeRecorded": _answer(_ref("RecordedOutcome")),
        "OutcomesRecorded": _answer(
            {
                "type": "array",
                "items": _ref("RecordedOutcome"),
                "minItems": 1,
                "maxItems": MAX_BATCH,
            }
        ),
    }


def _error(
    status: str, description: str, messages: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    found = messages or ex.ERROR_MESSAGES[status]
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": _ref("Error"),
                "examples": ex.examples(status, messages),
            }
        },
        "x-error-names": sorted({name for name, _ in found}),
    }


BAD_REPORT = (
    "The body is not JSON or not of the documented shape: an unknown field, an unknown outcome "
    f"word, a missing or needless reason, a reason over {MAX_REASON} characters or with a "
    "control character; the message names the field (a batch item by its index)."
)
CONFLICT = _error(
    "409",
    "The job is final with a different outcome: a job gets one, and nothing is written.",
)
UNAVAILABLE = {
    **ERRORS["503"],
    "description": "The store is unavailable, or too many requests are sending their body "
    "before their sender is known; retry after Retry-After seconds.",
}
COMMON = {code: ERRORS[code] for code in ("405", "408", "413", "415", "500")} | {"503": UNAVAILABLE}
PULL_FORBIDDEN = _error(
    "403",
    "The Bearer credential is missing, or is not this destination's own (AUTHENTICATION_ERROR).",
)


def claim_errors() -> dict[str, Any]:
    return {
        "400": _error(
            "400",
            f'The body is not {{"limit": N}} with N an integer from 1 to {MAX_CLAIM}.',
            ex.ERROR_MESSAGES["400"][1:2],
        ),
        "403": PULL_FORBIDDEN,
        "404": _error("404", "No pull destination of that name.", ex.ERROR_MESSAGES["404"][:1]),
        **COMMON,
    }


def pull_report_errors(batch: bool) -> dict[str, Any]:
    text = (
        "No pull destination of that name, or a job that is not this destination's (the "
        "message names it); nothing is written."
        if batch
        else "No pull destination of that name, or no job of this destination with that id."
    )
    bad = BAD_REPORT + (" A job named twice is refused too." if batch else "")
    return {
        "400": _error("400", bad, [ex.ERROR_MESSAGES["400"][0], ex.ERROR_MESSAGES["400"][2]]),
        "403": PULL_FORBIDDEN,
        "404": _error("404", text),
        "409": CONFLICT,
        **COMMON,
    }


def push_report_errors() -> dict[str, Any]:
    return {
        "400": _error("400", BAD_REPORT, ex.ERROR_MESSAGES["400"][:1]),
        "403": _error(
            "403",
            "The webhook headers are missing, the signature is not made with this "
            "destination's own secret over the exact body, or webhook-timestamp is not whole "
            "seconds within 5 minutes of the server's clock (AUTHENTICATION_ERROR).",
            ex.SIGNATURE_MESSAGES,
        ),
        "404": _error(
            "404",
            "No push destination of that name, no such task, or no job of the destination for "
            "the task.",
            ex.PUSH_NOT_FOUND,
        ),
        "409": CONFLICT,
        **COMMON,
    }


SIGNING = (
    "Standard Webhooks (standardwebhooks.com), with the destination's own whsec_ secret (shown "
    "once by `deletion-requests destinations add NAME --push URL`): send webhook-id (any "
    "unique id of the message), webhook-timestamp (Unix seconds, whole, in digits, within 5 "
    "minutes of the server's clock) and webhook-signature: `v1,` and the base64 HMAC-SHA256, "
    "keyed by the base64-decoded part of the secret after whsec_, of "
    "`{webhook-id}.{webhook-timestamp}.{body}`, the body being the exact bytes sent. A "
    "Standard Webhooks library's sign(id, timestamp, body) makes it."
)
DESTINATION_SECURITY_SCHEMES = {
    "destinationCredential": {
        "type": "http",
        "scheme": "bearer",
        "description": "A pull destination's own credential (drd_..., shown once by "
        "`deletion-requests destinations add NAME --pull`), as a Bearer token.",
    },
    "destinationSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": SIGNING,
    },
}
