"""The OpenAPI 3.1 description of the HTTP API, checked against the app by schemathesis."""

from __future__ import annotations

import functools
from importlib.metadata import version
from typing import Any

from deletion_requests import EVENTS, MAX_BULK, MAX_IDENTIFIERS, Status

TIME = {"type": ["string", "null"], "format": "date-time"}
ACCOUNT_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}


def _error(description: str, *names: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "x-error-names": list(names),
    }


ERRORS = {
    "400": _error(
        "The request is malformed or incomplete; the message names the field.", "BAD_REQUEST"
    ),
    "403": _error(
        "Credentials are missing or wrong, the token expired, the app is revoked "
        "(AUTHENTICATION_ERROR), or the account is not authorised (UNAUTHORIZED_ACCOUNT).",
        "AUTHENTICATION_ERROR",
        "UNAUTHORIZED_ACCOUNT",
    ),
    "404": _error("No such task for this app, or no such route.", "NOT_FOUND"),
    "405": _error("The method is not allowed on this route.", "METHOD_NOT_ALLOWED"),
    "409": _error(
        "The task was not handed off (pending, ready or cancelled): nothing to complete.",
        "CONFLICT",
    ),
    "410": _error(
        "The task is past pending and ready and cannot be cancelled.", "DEADLINE_EXCEEDED"
    ),
    "413": _error("The request body is larger than 1 MiB.", "PAYLOAD_TOO_LARGE"),
    "415": _error("The request body has the wrong content type.", "UNSUPPORTED_MEDIA_TYPE"),
    "429": {
        **_error(
            "Over the rate limit (per app on the data endpoints; per AppId and per address on "
            "the token endpoint); retry after Retry-After seconds.",
            "TOO_MANY_REQUESTS",
        ),
        "headers": {
            name: {"schema": {"type": "string"}, "description": text}
            for name, text in (
                ("Retry-After", "seconds to wait"),
                ("RateLimit-Limit", "requests allowed in the window"),
                ("RateLimit-Remaining", "requests left in the window"),
                ("RateLimit-Reset", "seconds until the window has room again"),
            )
        },
    },
    "500": _error(
        "An unexpected error; the message carries the request id.", "INTERNAL_SERVER_ERROR"
    ),
    "503": _error("The store is unavailable; retry.", "SERVICE_UNAVAILABLE"),
}


def _responses(success: dict[str, Any], *codes: str) -> dict[str, Any]:
    return {**success, **{code: ERRORS[code] for code in ("403", "405", "500", "503", *codes)}}


def _json(
    schema_ref: str, description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


TASK_ID = {
    "name": "taskId",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": "The task id returned when the task was created.",
}

SECURITY: list[dict[str, list[str]]] = [{"oauth2": []}, {"bearerAuth": []}, {"basicAuth": []}]


def _task_schemas(statuses: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task object, and the task with its history (one task's GET)."""
    task: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "taskId",
            "status",
            "deletionType",
            "creationTime",
            "accountId",
            "readyTime",
            "actionedTime",
            "cancelledTime",
            "completedTime",
            "overdue",
            "heldTime",
        ],
        "properties": {
            "taskId": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": statuses},
            "deletionType": {"const": "emailsDeletion"},
            "creationTime": {"type": "string", "format": "date-time"},
            "accountId": {"type": "string"},
            "readyTime": TIME,
            "actionedTime": TIME,
            "cancelledTime": TIME,
            "completedTime": {
                **TIME,
                "description": "When the deleter reported the deletion done.",
            },
            "overdue": {
                "type": "boolean",
                "description": "Actioned more than the action window (15 days) ago and not "
                "completed.",
            },
            "heldTime": {
                **TIME,
                "description": "When an operator put the task on hold, or null. A held task "
                "keeps its status (pending or ready) and is not handed off until released; "
                "it can still be cancelled.",
            },
        },
    }
    history_entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["from", "to", "at", "by", "event", "detail"],
        "properties": {
            "from": {"type": "string", "enum": statuses},
            "to": {"type": "string", "enum": statuses},
            "at": {"type": "string", "format": "date-time"},
            "by": {"type": "string"},
            "event": {"type": "string", "enum": sorted(EVENTS)},
            "detail": {"type": ["string", "null"]},
        },
    }
    detail = {
        **task,
        "required": [*task["required"], "purgedTime", "createdBy", "history"],
        "properties": {
            **task["properties"],
            "purgedTime": {
                **TIME,
                "description": "When the identifier hashes were deleted (retention after the "
                "task was completed, cancelled or delivered).",
            },
            "createdBy": {"type": "string"},
            "history": {"type": "array", "items": history_entry},
        },
    }
    return task, detail


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at /openapi.json."""
    statuses = [status.value for status in Status]
    task, task_detail = _task_schemas(statuses)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "deletion-requests",
            "version": version("deletion-requests-http"),
            "description": (
                "Data-subject deletion requests held through a fixed lifecycle: pending (12 "
                "days), ready (3 days, operators review), then actioned. Cancel while pending or "
                "ready. Raw emails are hashed on arrival and never stored or echoed."
            ),
        },
        "paths": {
            "/auth/oauth2/token": {
                "post": {
                    "summary": "Exchange AppId/AppSecret for a bearer token (client credentials).",
                    "operationId": "token",
                    "security": [{"basicAuth": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "grant_type": {
                                            "type": "string",
                                            "enum": ["client_credentials"],
                                        }
                                    },
                                    "required": ["grant_type"],
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        {"200": _json("Token", "A bearer token valid for expires_in seconds.")},
                        "400",
                        "413",
                        "415",
                        "429",
                    ),
                }
            },
            "/data/deletion-requests/emails": {
                "post": {
                    "summary": "Create a deletion request for raw and/or SHA-256 emails.",
                    "operationId": "createEmailsDeletion",
                    "security": SECURITY,
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                            "description": "A retry with the same key returns the original task.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CreateRequest"}
                            }
                        },
                    },
                    "responses": _responses(
                        {
                            "202": _json(
                                "Task",
                                "The task, pending.",
                                {
                                    "Location": {
                                        "description": "The task's URL.",
                                        "schema": {"type": "string"},
                                    }
                                },
                            )
                        },
                        "400",
                        "413",
                        "415",
                        "429",
                    ),
                }
            },
            "/data/deletion-requests": {
                "get": {
                    "summary": "List the app's tasks, newest first.",
                    "operationId": "listDeletionRequests",
                    "security": SECURITY,
                    "parameters": [
                        {"name": "accountId", "in": "query", "schema": ACCOUNT_ID},
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": statuses},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1000,
                                "default": 100,
                            },
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "From the previous page's Link header.",
                        },
                    ],
                    "responses": _responses(
                        {
                            "200": {
                                "description": "A page of tasks; Link rel=next if there is more.",
                                "headers": {
                                    "Link": {
                                        "description": '<url>; rel="next"',
                                        "schema": {"type": "string"},
                                    }
                                },
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Task"},
                                        }
                                    }
                                },
                            }
                        },
                        "400",
                        "429",
                    ),
                }
            },
            "/data/deletion-requests/cancellations": {
                "post": {
                    "summary": "Cancel many tasks: one result per id, in order.",
                    "description": "Each id is decided as a DELETE of it would be: cancelled "
                    "now, already cancelled, past its deadline (actioned), or not found (no "
                    "such task, or another app's). The request is refused whole (400) only "
                    "when its body is bad.",
                    "operationId": "cancelDeletionRequests",
                    "security": SECURITY,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CancellationsRequest"}
                            }
                        },
                    },
                    "responses": _responses(
                        {"200": _json("CancellationsResult", "One result per id, in order.")},
                        "400",
                        "413",
                        "415",
                        "429",
                    ),
                }
            },
            "/data/deletion-requests/{taskId}": {
                "parameters": [TASK_ID],
                "get": {
                    "summary": "One task, with its history.",
                    "operationId": "getDeletionRequest",
                    "security": SECURITY,
                    "responses": _responses(
                        {"200": _json("TaskDetail", "The task.")},
                        "400",
                        "404",
                        "429",
                    ),
                },
                "delete": {
                    "summary": "Cancel a pending or ready task (idempotent).",
                    "operationId": "cancelDeletionRequest",
                    "security": SECURITY,
                    "responses": _responses(
                        {"200": _json("CancelResult", "Cancelled (now or before).")},
                        "400",
                        "404",
                        "410",
                        "429",
                    ),
                },
            },
            "/data/deletion-requests/{taskId}/completion": {
                "parameters": [TASK_ID],
                "post": {
                    "summary": "The deleter reports the deletion done (idempotent).",
                    "description": "Authenticated by the webhook secret, as a Standard "
                    "Webhook: webhook-id, webhook-timestamp (within 5 minutes of the server's "
                    "wall clock) and webhook-signature (v1,<base64 HMAC-SHA256>). The body "
                    "names the task, so a captured request cannot complete another one.",
                    "operationId": "completeDeletionRequest",
                    "security": [{"webhookSignature": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["taskId"],
                                    "properties": {"taskId": {"type": "string", "format": "uuid"}},
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        {"200": _json("TaskDetail", "The task, completed (now or before).")},
                        "400",
                        "404",
                        "409",
                        "413",
                        "415",
                    ),
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and store check for load balancers.",
                    "operationId": "health",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The server and its store answer.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"const": "ok"}},
                                        "required": ["status"],
                                    }
                                }
                            },
                        },
                        "405": ERRORS["405"],
                        "500": ERRORS["500"],
                        "503": ERRORS["503"],
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "405": ERRORS["405"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": "The AppId and AppSecret as client id and secret, sent as "
                    "Basic credentials to the token endpoint.",
                    "flows": {
                        "clientCredentials": {"tokenUrl": "/auth/oauth2/token", "scopes": {}}
                    },
                },
                "basicAuth": {"type": "http", "scheme": "basic", "description": "AppId:AppSecret"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "webhookSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "webhook-signature",
                    "description": "Standard Webhooks: webhook-id, webhook-timestamp and "
                    "webhook-signature (v1,<base64 HMAC-SHA256>) with the whsec_ webhook "
                    "secret; see docs/handoff.md.",
                },
            },
            "schemas": {
                "CancellationsRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["taskIds"],
                    "properties": {
                        "taskIds": {
                            "type": "array",
                            "items": {"type": "string", "format": "uuid"},
                            "minItems": 1,
                            "maxItems": MAX_BULK,
                        }
                    },
                },
                "CancellationsResult": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["taskId", "status"],
                                "properties": {
                                    "taskId": {"type": "string", "format": "uuid"},
                                    "status": {
                                        "type": "string",
                                        "enum": [
                                            "cancelled",
                                            "already_cancelled",
                                            "deadline_exceeded",
                                            "not_found",
                                        ],
                                    },
                                },
                            },
                        }
                    },
                },
                "CreateRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["accountId"],
                    "properties": {
                        "accountId": ACCOUNT_ID,
                        "rawEmails": {
                            "type": ["array", "null"],
                            "items": {
                                "type": "string",
                                "maxLength": 1000,
                                "description": "an email address; trimmed and lower-cased, "
                                "then hashed and dropped",
                            },
                            "maxItems": MAX_IDENTIFIERS,
                        },
                        "sha256Emails": {
                            "type": ["array", "null"],
                            "items": {
                                "type": "string",
                                "pattern": "^[A-Za-z0-9+/]{43}=$",
                                "description": "standard base64 of a 32-byte SHA-256 digest",
                            },
                            "maxItems": MAX_IDENTIFIERS,
                        },
                    },
                    "description": "At least one entry across rawEmails and sha256Emails.",
                },
                "Task": task,
                "TaskDetail": task_detail,
                "CancelResult": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {"message": {"type": "string"}},
                        }
                    },
                },
                "Token": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"const": "Bearer"},
                        "expires_in": {"type": "integer"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": False,
                    "properties": {
                        "error": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["code", "error", "message"],
                            "properties": {
                                "code": {"type": "integer"},
                                "error": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
        },
    }
