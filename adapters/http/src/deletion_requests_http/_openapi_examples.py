"""The examples of the OpenAPI document: one or more for every request and response.

The first example of a request is the one Swagger UI fills in, and the server accepts it for an
app authorised for its account. Those marked as the API document's are its own examples (the
create request, the list and the cancel answers, the error envelope), completed with the fields
this server adds."""

from __future__ import annotations

from typing import Any

ACCOUNT = "2456192011195196284677"
TASK_ID = "3bc2e8b0-88ee-400c-8696-44897bc95cd3"
OTHER_TASK_ID = "20675afe-f4e5-4ee6-bfb7-d5fddcffe16d"
CREATED = "2026-03-01T09:00:00+00:00"
DUE = "2026-03-31T09:00:00+00:00"
# A cursor as the server writes it in a Link header: the position after the task above.
CURSOR = (
    "WyIyMDI2LTAzLTAxVDA5OjAwOjAwKzAwOjAwIiwiMjA2NzVhZmUtZjRlNS00ZWU2LWJmYjctZDVmZGRjZmZlMTZkIl0"
)


def _named(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


TOKEN_REQUEST = {
    "client_credentials": _named(
        "Credentials as Basic (client_secret_basic)", {"grant_type": "client_credentials"}
    ),
    "client_secret_post": _named(
        "Credentials in the form body (client_secret_post)",
        {"grant_type": "client_credentials", "client_id": "app-1", "client_secret": "secret"},
    ),
}
METADATA = {
    "metadata": _named(
        "This server's metadata",
        {
            "issuer": "https://deletions.example.com",
            "token_endpoint": "https://deletions.example.com/auth/oauth2/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": [],
            "service_documentation": "https://deletions.example.com/docs",
        },
    )
}
TOKEN = {
    "token": _named(
        "A bearer token",
        {
            "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl",
            "token_type": "Bearer",
            "expires_in": 3600,
        },
    )
}

CREATE_REQUEST = {
    "roktDocument": _named(
        "The API document's example: raw and SHA-256 emails",
        {
            "accountId": ACCOUNT,
            "rawEmails": ["test@test.com"],
            "sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="],
        },
    ),
    "rawEmailsOnly": _named(
        "Raw emails only (hashed on arrival, never stored)",
        {"accountId": ACCOUNT, "rawEmails": ["ann@example.com", "bob@example.org"]},
    ),
    "sha256EmailsOnly": _named(
        "SHA-256 digests only, in standard base64",
        {"accountId": ACCOUNT, "sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="]},
    ),
}


def _task(status: str = "pending", **times: Any) -> dict[str, Any]:
    task = {
        "taskId": TASK_ID,
        "status": status,
        "deletionType": "emailsDeletion",
        "creationTime": CREATED,
        "accountId": ACCOUNT,
        "readyTime": None,
        "actionedTime": None,
        "cancelledTime": None,
        "completedTime": None,
        "overdue": False,
        "heldTime": None,
        "dueTime": DUE,
    }
    task.update(times)
    return task


PENDING = _task()
CREATED_TASK = {"pending": _named("The new task, pending", PENDING)}
ROKT_LISTED = {
    # The API document's list entry, with the fields this server adds.
    "taskId": OTHER_TASK_ID,
    "status": "actioned",
    "deletionType": "emailsDeletion",
    "creationTime": "2022-03-01T11:00:00+11:00",
    "accountId": "3008848650853038987",
    "readyTime": None,
    "actionedTime": None,
    "cancelledTime": None,
    "completedTime": None,
    "overdue": False,
    "heldTime": None,
    "dueTime": "2022-03-31T11:00:00+11:00",
}
TASK_LIST = {
    "roktDocument": _named("The API document's example", [ROKT_LISTED]),
    "page": _named(
        "A page: a ready task and a cancelled one",
        [
            _task("ready", readyTime="2026-03-13T09:00:00+00:00"),
            {
                **_task("cancelled", cancelledTime="2026-03-02T10:30:00+00:00"),
                "taskId": OTHER_TASK_ID,
            },
        ],
    ),
    "empty": _named("No task matches", []),
}
TASK_DETAIL = {
    "ready": _named(
        "A ready task with its history",
        {
            **_task("ready", readyTime="2026-03-13T09:00:00+00:00"),
            "purgedTime": None,
            "createdBy": "app-2f6c1e",
            "history": [
                {
                    "from": "pending",
                    "to": "pending",
                    "at": CREATED,
                    "by": "app-2f6c1e",
                    "event": "created",
                    "detail": None,
                },
                {
                    "from": "pending",
                    "to": "ready",
                    "at": "2026-03-13T09:00:00+00:00",
                    "by": "system",
                    "event": "transition",
                    "detail": None,
                },
            ],
            "outcome": None,
        },
    ),
    "extended": _named(
        "An actioned task whose due date an operator extended by 14 days",
        {
            **_task(
                "actioned",
                readyTime="2026-03-13T09:00:00+00:00",
                actionedTime="2026-03-16T09:00:00+00:00",
                dueTime="2026-04-14T09:00:00+00:00",
            ),
            "purgedTime": None,
            "createdBy": "app-2f6c1e",
            "history": [
                {
                    "from": "actioned",
                    "to": "actioned",
                    "at": "2026-03-25T14:10:00+00:00",
                    "by": "operator",
                    "event": "deadline_extended",
                    "detail": None,
                }
            ],
            "outcome": None,
        },
    ),
}
COMPLETED_DETAIL = {
    "completed": _named(
        "A task the deleter reported done",
        {
            **_task(
                "actioned",
                readyTime="2026-03-13T09:00:00+00:00",
                actionedTime="2026-03-16T09:00:00+00:00",
                completedTime="2026-03-20T17:45:00+00:00",
            ),
            "purgedTime": None,
            "createdBy": "app-2f6c1e",
            "history": [
                {
                    "from": "actioned",
                    "to": "actioned",
                    "at": "2026-03-20T17:45:00+00:00",
                    "by": "deleter",
                    "event": "completed",
                    "detail": None,
                }
            ],
            "outcome": "deleted",
        },
    )
}
CANCEL_RESULT = {
    "roktDocument": _named(
        "The API document's example",
        {"data": {"message": f"successful cancelled task with taskId: {TASK_ID}"}},
    )
}
CANCELLATIONS_REQUEST = {
    "twoTasks": _named("Two task ids", {"taskIds": [TASK_ID, OTHER_TASK_ID]}),
}
CANCELLATIONS_RESULT = {
    "mixed": _named(
        "One result per id, in order",
        {
            "results": [
                {"taskId": TASK_ID, "status": "cancelled"},
                {"taskId": OTHER_TASK_ID, "status": "deadline_exceeded"},
            ]
        },
    )
}
COMPLETION_REQUEST = {"task": _named("The task named in the path", {"taskId": TASK_ID})}
HEALTH = {"ok": _named("The server and its store answer", {"status": "ok"})}


def error_examples(status: int, *names_and_messages: tuple[str, str]) -> dict[str, Any]:
    """One example envelope for each (error name, message)."""
    return {
        name.lower(): _named(name, {"error": {"code": status, "error": name, "message": message}})
        for name, message in names_and_messages
    }


ERROR_MESSAGES: dict[str, list[tuple[str, str]]] = {
    "400": [("BAD_REQUEST", "at least one entry is required across rawEmails and sha256Emails")],
    "403": [
        ("AUTHENTICATION_ERROR", "invalid AppId or AppSecret"),
        ("UNAUTHORIZED_ACCOUNT", "account 3008848650853038987 is not authorised for this app"),
    ],
    # The API document's example.
    "404": [("NOT_FOUND", "task not found for with task_id:...")],
    "405": [("METHOD_NOT_ALLOWED", "GET is not allowed on this route (allowed: POST)")],
    "408": [
        ("REQUEST_TIMEOUT", "the request body did not arrive within 30 s; send it whole at once")
    ],
    "409": [("CONFLICT", "the task was not handed off: nothing to complete")],
    "410": [("DEADLINE_EXCEEDED", "the task is past pending and ready and cannot be cancelled")],
    "413": [("PAYLOAD_TOO_LARGE", "the request body is larger than 1048576 bytes")],
    "415": [("UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json")],
    "429": [("TOO_MANY_REQUESTS", "too many requests: retry after 3 seconds")],
    "500": [("INTERNAL_SERVER_ERROR", "internal server error (request id 5f1c0e9b7d2a4c61)")],
    "503": [("SERVICE_UNAVAILABLE", "the store is unavailable; try again (request id 5f1c0e9b)")],
}
