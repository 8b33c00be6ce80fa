"""The components of the OpenAPI document: the schemas, as strict as the server is (what the
schema allows the server takes, what the server refuses the schema refuses where JSON Schema
can say it), the error responses and the security schemes."""

from __future__ import annotations

from typing import Any

from deletion_requests.wire import EVENTS, MAX_BULK, MAX_IDENTIFIERS

from . import _openapi_examples as ex

TIME = {"type": ["string", "null"], "format": "date-time"}
ACCOUNT_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}
UUID = {"type": "string", "format": "uuid"}
# One address, as the core checks it once trimmed and lower-cased: one '@', something on each
# side, no whitespace or control characters, at most 254 characters.
RAW_EMAIL = {
    "type": "string",
    "minLength": 3,
    "maxLength": 254,
    "pattern": "^[^@\\s\\x00-\\x1f\\x7f]+@[^@\\s\\x00-\\x1f\\x7f]+$",
    "description": "an email address; trimmed and lower-cased, then hashed and dropped",
}
SHA256_EMAIL = {
    "type": "string",
    "pattern": "^[A-Za-z0-9+/]{43}=$",
    "description": "standard base64 of a 32-byte SHA-256 digest",
}

ERROR_DESCRIPTIONS = {
    "400": "The request is malformed or incomplete; the message names the field.",
    "403": "Credentials are missing or wrong, the token expired, the app is revoked "
    "(AUTHENTICATION_ERROR), or the account is not authorised (UNAUTHORIZED_ACCOUNT).",
    "404": "No such task for this app, or no such route.",
    "405": "The method is not allowed on this route; Allow lists the methods that are.",
    "408": "The request body did not arrive whole in time; the connection is closed.",
    "409": "The task was not handed off (pending, ready or cancelled): nothing to complete.",
    "410": "The task is past pending and ready and cannot be cancelled.",
    "413": "The request body is larger than 1 MiB.",
    "415": "The request body has the wrong content type.",
    "429": "Over the rate limit (per app on the data endpoints; per AppId and per address on "
    "the token endpoint); retry after Retry-After seconds.",
    "500": "An unexpected error; the message carries the request id.",
    "503": "The store is unavailable, or (token, completion) too many requests are sending "
    "their body at once; retry after Retry-After seconds.",
}
_HEADER = {"schema": {"type": "string"}}
ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "405": {"Allow": {**_HEADER, "required": True, "description": "the methods the route takes"}},
    "429": {
        name: {**_HEADER, "description": text}
        for name, text in (
            ("Retry-After", "seconds to wait"),
            ("RateLimit-Limit", "requests allowed in the window"),
            ("RateLimit-Remaining", "requests left in the window"),
            ("RateLimit-Reset", "seconds until the window has room again"),
        )
    },
    "503": {"Retry-After": {**_HEADER, "description": "seconds to wait (the store failed)"}},
}


def _error(code: str) -> dict[str, Any]:
    messages = ex.ERROR_MESSAGES[code]
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": ex.error_examples(int(code), *messages),
            }
        },
        "x-error-names": [name for name, _ in messages],
    }
    if code in ERROR_HEADERS:
        response["headers"] = ERROR_HEADERS[code]
    return response


ERRORS = {code: _error(code) for code in ERROR_DESCRIPTIONS}

KNOWN_EVENTS = sorted(EVENTS)


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
            "dueTime",
        ],
        "properties": {
            "taskId": UUID,
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
                "description": "Handed off, past dueTime and not completed (a destination "
                "has not reported).",
            },
            "heldTime": {
                **TIME,
                "description": "When an operator put the task on hold, or null. A held task "
                "keeps its status (pending or ready) and is not handed off until released; "
                "it can still be cancelled.",
            },
            "dueTime": {
                "type": "string",
                "format": "date-time",
                "description": "When the deletion is due: creationTime plus 30 days, later "
                "when an operator extended it (at most 45 days in all; the app is told by a "
                "deadline_extended callback).",
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
            "event": {
                "type": "string",
                "minLength": 1,
                "description": "What happened. Open to new values: a client should accept an "
                "event it does not know. This version writes: " + ", ".join(KNOWN_EVENTS) + ".",
                "examples": KNOWN_EVENTS,
                "x-known-values": KNOWN_EVENTS,
            },
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
            "outcome": {
                "type": ["string", "null"],
                "enum": ["deleted", "not_found", "exempt", None],
                "description": "The task's one-word outcome, null until it is completed: "
                "deleted if any destination deleted the data, else not_found if any found "
                "nothing, else exempt (every destination kept it for a reason the law allows, "
                "or an operator gave up on it). A task without destinations that the deleter "
                "completed is deleted. Answered by GET, by the completion and in the status "
                "callbacks' task objects.",
                "examples": ["deleted"],
            },
        },
    }
    return task, detail


def _identifiers(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": items, "maxItems": MAX_IDENTIFIERS}


def component_schemas(statuses: list[str]) -> dict[str, Any]:
    task, task_detail = _task_schemas(statuses)
    return {
        "CancellationsRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["taskIds"],
            "properties": {
                "taskIds": {"type": "array", "items": UUID, "minItems": 1, "maxItems": MAX_BULK}
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
                            "taskId": UUID,
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
                "rawEmails": _identifiers(RAW_EMAIL),
                "sha256Emails": _identifiers(SHA256_EMAIL),
            },
            # At least one identifier: not both lists absent, null or empty. Said with `not`,
            # which code generators leave aside, rather than a union of two objects.
            "not": {"properties": {"rawEmails": {"maxItems": 0}, "sha256Emails": {"maxItems": 0}}},
            "description": "At least one entry across rawEmails and sha256Emails, and at most "
            f"{MAX_IDENTIFIERS} across both.",
        },
        "Task": task,
        "TaskDetail": task_detail,
        "CancelResult": {
            "type": "object",
            "additionalProperties": False,
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "object",
                    "additionalProperties": False,
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
        "AuthorizationServerMetadata": {
            "type": "object",
            "required": ["issuer", "token_endpoint", "grant_types_supported"],
            "properties": {
                "issuer": {"type": "string", "format": "uri"},
                "token_endpoint": {"type": "string", "format": "uri"},
                "grant_types_supported": {"type": "array", "items": {"type": "string"}},
                "token_endpoint_auth_methods_supported": {
                    "type": "array",
                    "items": {"type": "string"},
                },
                "response_types_supported": {"type": "array", "items": {"type": "string"}},
                "service_documentation": {"type": "string", "format": "uri"},
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
    }


SECURITY_SCHEMES = {
    "oauth2": {
        "type": "oauth2",
        "description": "The AppId and AppSecret as client id and secret, sent to the token "
        "endpoint as Basic credentials or as client_id and client_secret in the form body.",
        "flows": {"clientCredentials": {"tokenUrl": "/auth/oauth2/token", "scopes": {}}},
    },
    "basicAuth": {"type": "http", "scheme": "basic", "description": "AppId:AppSecret"},
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature "
        "(v1,<base64 HMAC-SHA256>) with the whsec_ webhook secret; see docs/handoff.md.",
    },
}
