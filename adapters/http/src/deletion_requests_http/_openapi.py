"""The OpenAPI 3.1 description of the HTTP API, checked against the app by schemathesis and
by a client that openapi-python-client generates from it. Its components are in
`_openapi_schemas`, its examples in `_openapi_examples`; the destinations' operations are in
`_openapi_destinations`."""

from __future__ import annotations

import functools
from importlib.metadata import version
from typing import Any

from deletion_requests import Status

from . import _openapi_examples as ex
from ._openapi_destination_schemas import DESTINATION_SECURITY_SCHEMES, destination_schemas
from ._openapi_destinations import TAG, destination_paths
from ._openapi_schemas import ACCOUNT_ID, ERRORS, SECURITY_SCHEMES, UUID, component_schemas

SECURITY: list[dict[str, list[str]]] = [{"oauth2": []}, {"bearerAuth": []}, {"basicAuth": []}]
MAX_PAGE = 1000

TASK_ID = {
    "name": "taskId",
    "in": "path",
    "required": True,
    "schema": UUID,
    "description": "The task id returned when the task was created.",
    "example": ex.TASK_ID,
}
# A created task's id, followed by schemathesis and other tools that read OpenAPI links.
TASK_LINKS = {
    "GetDeletionRequest": {
        "operationId": "getDeletionRequest",
        "parameters": {"taskId": "$response.body#/taskId"},
        "description": "The task just created, with its history.",
    },
    "CancelDeletionRequest": {
        "operationId": "cancelDeletionRequest",
        "parameters": {"taskId": "$response.body#/taskId"},
        "description": "Cancel the task just created.",
    },
    "CancelDeletionRequests": {
        "operationId": "cancelDeletionRequests",
        "requestBody": {"taskIds": ["$response.body#/taskId"]},
        "description": "Cancel the task just created, in a bulk cancel.",
    },
}


def _responses(success: dict[str, Any], *codes: str) -> dict[str, Any]:
    return {**success, **{code: ERRORS[code] for code in ("403", "405", "500", "503", *codes)}}


def _content(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema, "examples": examples}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(
    schema_ref: str,
    description: str,
    examples: dict[str, Any],
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": _content(_ref(schema_ref), examples),
    }
    if headers:
        response["headers"] = headers
    return response


def _body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": _content(schema, examples)}


def _paths(statuses: list[str]) -> dict[str, Any]:
    tasks = "/data/deletion-requests"
    return {
        "/auth/oauth2/token": {
            "post": {
                "summary": "Exchange AppId/AppSecret for a bearer token (client credentials).",
                "operationId": "token",
                "security": [{"basicAuth": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grant_type": {"const": "client_credentials"},
                                    "client_id": {"type": "string", "minLength": 1},
                                    "client_secret": {"type": "string", "minLength": 1},
                                },
                                "dependentRequired": {
                                    "client_id": ["client_secret"],
                                    "client_secret": ["client_id"],
                                },
                                "required": ["grant_type"],
                            },
                            "examples": ex.TOKEN_REQUEST,
                        }
                    },
                },
                "responses": _responses(
                    {"200": _json("Token", "A bearer token for expires_in seconds.", ex.TOKEN)},
                    "400",
                    "408",
                    "413",
                    "415",
                    "429",
                ),
            }
        },
        f"{tasks}/emails": {
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
                        "description": "A retry with the same key returns the original task; "
                        "the same key with another body is refused (400).",
                        "example": "create-2026-03-01-0001",
                    }
                ],
                "requestBody": _body(_ref("CreateRequest"), ex.CREATE_REQUEST),
                "responses": _responses(
                    {
                        "202": {
                            **_json(
                                "Task",
                                "The task, pending.",
                                ex.CREATED_TASK,
                                {
                                    "Location": {
                                        "description": "The task's URL.",
                                        "schema": {"type": "string"},
                                        "required": True,
                                    }
                                },
                            ),
                            "links": TASK_LINKS,
                        }
                    },
                    "400",
                    "408",
                    "413",
                    "415",
                    "429",
                ),
            }
        },
        tasks: {
            "get": {
                "summary": "List the app's tasks, newest first.",
                "operationId": "listDeletionRequests",
                "security": SECURITY,
                "parameters": [
                    {
                        "name": "accountId",
                        "in": "query",
                        "schema": ACCOUNT_ID,
                        "example": ex.ACCOUNT,
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": statuses},
                        "example": "pending",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE,
                            "default": 100,
                        },
                        "example": 100,
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"},
                        "description": "From the previous page's Link header, unchanged.",
                        "example": ex.CURSOR,
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
                            "content": _content(
                                {"type": "array", "items": _ref("Task")}, ex.TASK_LIST
                            ),
                        }
                    },
                    "400",
                    "429",
                ),
            }
        },
        f"{tasks}/cancellations": {
            "post": {
                "summary": "Cancel many tasks: one result per id, in order.",
                "description": "Each id is decided as a DELETE of it would be: cancelled now, "
                "already cancelled, past its deadline (actioned), or not found (no such task, "
                "or another app's). The request is refused whole (400) only when its body is "
                "bad.",
                "operationId": "cancelDeletionRequests",
                "security": SECURITY,
                "requestBody": _body(_ref("CancellationsRequest"), ex.CANCELLATIONS_REQUEST),
                "responses": _responses(
                    {
                        "200": _json(
                            "CancellationsResult",
                            "One result per id, in order.",
                            ex.CANCELLATIONS_RESULT,
                        )
                    },
                    "400",
                    "408",
                    "413",
                    "415",
                    "429",
                ),
            }
        },
        f"{tasks}/{{taskId}}": {
            "parameters": [TASK_ID],
            "get": {
                "summary": "One task, with its history.",
                "operationId": "getDeletionRequest",
                "security": SECURITY,
                "responses": _responses(
                    {"200": _json("TaskDetail", "The task.", ex.TASK_DETAIL)}, "400", "404", "429"
                ),
            },
            "delete": {
                "summary": "Cancel a pending or ready task (idempotent).",
                "operationId": "cancelDeletionRequest",
                "security": SECURITY,
                "responses": _responses(
                    {"200": _json("CancelResult", "Cancelled (now or before).", ex.CANCEL_RESULT)},
                    "400",
                    "404",
                    "410",
                    "429",
                ),
            },
        },
        f"{tasks}/{{taskId}}/completion": {
            "parameters": [TASK_ID],
            "post": {
                "summary": "The deleter reports the deletion done (idempotent).",
                "description": "Authenticated by the webhook secret, as a Standard Webhook: "
                "webhook-id, webhook-timestamp (within 5 minutes of the server's wall clock) and "
                "webhook-signature (v1,<base64 HMAC-SHA256>). The body names the task, so a "
                "captured request cannot complete another one.",
                "operationId": "completeDeletionRequest",
                "security": [{"webhookSignature": []}],
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["taskId"],
                        "properties": {"taskId": UUID},
                    },
                    ex.COMPLETION_REQUEST,
                ),
                "responses": _responses(
                    {
                        "200": _json(
                            "TaskDetail",
                            "The task, completed (now or before).",
                            ex.COMPLETED_DETAIL,
                        )
                    },
                    "400",
                    "404",
                    "408",
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
                        "content": _content(
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"status": {"const": "ok"}},
                                "required": ["status"],
                            },
                            ex.HEALTH,
                        ),
                    },
                    **{code: ERRORS[code] for code in ("405", "500", "503")},
                },
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "summary": "OAuth 2.0 authorization server metadata (RFC 8414).",
                "operationId": "authorizationServerMetadata",
                "security": [],
                "responses": {
                    "200": _json("AuthorizationServerMetadata", "The metadata.", ex.METADATA),
                    **{code: ERRORS[code] for code in ("405", "500")},
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
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at /openapi.json."""
    statuses = [status.value for status in Status]
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
        "tags": [TAG],
        "paths": {**_paths(statuses), **destination_paths()},
        "components": {
            "securitySchemes": {**SECURITY_SCHEMES, **DESTINATION_SECURITY_SCHEMES},
            "schemas": {**component_schemas(statuses), **destination_schemas()},
        },
    }
