"""The examples of the destinations' operations in the OpenAPI document: one or more for every
request and response. Each request example is accepted by the server for a pull destination
named `warehouse` (or, signed, a push destination named `crm`) with the job it names owed."""

from __future__ import annotations

from typing import Any

from deletion_requests.wire import MAX_BATCH, MAX_CLAIM, MAX_REASON

from ._openapi_examples import ACCOUNT, DUE, OTHER_TASK_ID, TASK_ID, error_examples

PULL = "warehouse"
PUSH = "crm"
JOB_ID = "5d0c8a51-4c1e-5b7a-9f3e-2a6d1c7b8e90"
OTHER_JOB_ID = "b1e9f6c2-0d4a-5e8b-a7c3-6f2d9e1b4a05"
ACTIONED = "2026-03-16T09:00:00+00:00"
LEASE_UNTIL = "2026-03-16T09:10:00+00:00"
DIGEST = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="
WEBHOOK_ID = "msg_2f6c1e9b7d2a4c61"
WEBHOOK_TIMESTAMP = "1773651600"


def _named(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


CLAIM_REQUEST = {
    "batch": _named("Up to 100 jobs", {"limit": 100}),
    "one": _named("One job at a time", {"limit": 1}),
    "most": _named(f"As many as one claim takes ({MAX_CLAIM})", {"limit": MAX_CLAIM}),
}


def _claimed(job_id: str, task_id: str, late: bool = False) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "taskId": task_id,
        "destination": PULL,
        "accountId": ACCOUNT,
        "identifiers": [DIGEST],
        "actionedTime": ACTIONED,
        "leaseUntil": LEASE_UNTIL,
        "dueTime": DUE,
        "late": late,
    }


CLAIMED_JOBS = {
    "two": _named(
        "Two jobs, leased for 10 minutes",
        {"data": [_claimed(JOB_ID, TASK_ID), _claimed(OTHER_JOB_ID, OTHER_TASK_ID, late=True)]},
    ),
    "none": _named("No job is owed", {"data": []}),
}

OUTCOME_REQUEST = {
    "deleted": _named("The data was erased", {"outcome": "deleted"}),
    "notFound": _named("The system held nothing of the subject", {"outcome": "not_found"}),
    "exempt": _named(
        f"Kept for a reason the law allows (at most {MAX_REASON} characters)",
        {"outcome": "exempt", "reason": "invoices are kept for 10 years (tax law)"},
    ),
}
BATCH_REQUEST = {
    "two": _named(
        f"Two jobs in one write (1 to {MAX_BATCH} items, each job once)",
        {
            "outcomes": [
                {"jobId": JOB_ID, "outcome": "deleted"},
                {
                    "jobId": OTHER_JOB_ID,
                    "outcome": "exempt",
                    "reason": "invoices are kept for 10 years (tax law)",
                },
            ]
        },
    )
}


def _recorded(
    job_id: str = JOB_ID,
    task_id: str = TASK_ID,
    destination: str = PULL,
    outcome: str = "deleted",
    reason: str | None = None,
    repeated: bool = False,
    task_outcome: str | None = None,
) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "taskId": task_id,
        "destination": destination,
        "outcome": outcome,
        "reason": reason,
        "repeated": repeated,
        "taskCompleted": task_outcome is not None,
        "taskOutcome": task_outcome,
    }


RECORDED = {
    "completed": _named(
        "Recorded; the task's last job, so the task is completed",
        {"data": _recorded(task_outcome="deleted")},
    ),
    "othersOwe": _named(
        "Recorded; other destinations still owe the task an outcome",
        {"data": _recorded(outcome="not_found")},
    ),
    "repeated": _named(
        "The same outcome again: a success that changes nothing",
        {"data": _recorded(repeated=True)},
    ),
}
PUSH_RECORDED = {
    "recorded": _named(
        "Recorded for the push destination's job",
        {
            "data": _recorded(
                job_id=OTHER_JOB_ID, destination=PUSH, outcome="exempt", reason="legal hold"
            )
        },
    ),
}
BATCH_RECORDED = {
    "two": _named(
        "One item per outcome, in the order given",
        {
            "data": [
                _recorded(task_outcome="deleted"),
                _recorded(
                    job_id=OTHER_JOB_ID,
                    task_id=OTHER_TASK_ID,
                    outcome="exempt",
                    reason="invoices are kept for 10 years (tax law)",
                ),
            ]
        },
    )
}

ERROR_MESSAGES: dict[str, list[tuple[str, str]]] = {
    "400": [
        ("BAD_REQUEST", "outcome must be one of: deleted, not_found, exempt"),
        ("BAD_REQUEST", f"limit must be an integer from 1 to {MAX_CLAIM}"),
        ("BAD_REQUEST", "outcomes[1]: an outcome of exempt needs a reason"),
    ],
    "403": [("AUTHENTICATION_ERROR", f"the credential is not destination {PULL!r}'s")],
    "404": [
        ("NOT_FOUND", f"no destination named {PULL!r}"),
        ("NOT_FOUND", f"destination {PULL!r} has no job {JOB_ID}"),
    ],
    "409": [
        (
            "CONFLICT",
            f"job {JOB_ID} of destination {PULL!r} already has the outcome deleted; a job never "
            "gets two outcomes",
        )
    ],
}
SIGNATURE_MESSAGES = [
    (
        "AUTHENTICATION_ERROR",
        "send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)",
    ),
    ("AUTHENTICATION_ERROR", "the webhook signature is refused: No matching signature found"),
]
PUSH_NOT_FOUND = [
    ("NOT_FOUND", f"no destination named {PUSH!r}"),
    ("NOT_FOUND", f"task not found for with task_id: {TASK_ID}"),
    ("NOT_FOUND", f"task {TASK_ID} has no job for destination {PUSH!r}"),
]


def examples(status: str, messages: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The error envelopes of *status*: *messages*, or this module's for that status. Two
    examples of one error name are told apart by a number."""
    out: dict[str, Any] = {}
    for name, message in messages or ERROR_MESSAGES[status]:
        (key, example), *_ = error_examples(int(status), (name, message)).items()
        out[key if key not in out else f"{key}{len(out) + 1}"] = example
    return out
