"""The OpenAPI document as tools read it: examples for every request and response (the API
document's own among them) that fit their schemas and that the server accepts, a schema as
strict as the server, and history event types open to new values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from deletion_requests_http._openapi import openapi_document

from deletion_requests._service import MAX_PAGE
from deletion_requests.wire import EVENTS, MAX_BULK, MAX_IDENTIFIERS

from .conftest import World, basic

EMAILS = "/data/deletion-requests/emails"
TASKS = "/data/deletion-requests"
DOCUMENT = openapi_document()
OPERATIONS = [
    (path, method, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method != "parameters"
]


def validator(schema: dict[str, Any]) -> Any:
    """A validator of *schema*, with the document's components for its `$ref`s."""
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, validate_formats=True
    )


def component(name: str) -> Any:
    return validator({"$ref": f"#/components/schemas/{name}"})


def media_types(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, media type object) for the request body and each response of *operation*."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        yield "request", media
    for status, response in operation["responses"].items():
        for media in response.get("content", {}).values():
            yield status, media


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_request_and_response_has_examples_that_fit_its_schema(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    for where, media in media_types(operation):
        if path == "/openapi.json" and where == "200":
            continue  # the document itself
        examples = media.get("examples")
        assert examples, f"{method} {path} {where} has no examples"
        check = validator(media["schema"])
        for name, example in examples.items():
            assert check.is_valid(example["value"]), (method, path, where, name)
    for parameter in operation.get("parameters", []):
        assert "example" in parameter, (method, path, parameter["name"])
        assert validator(parameter["schema"]).is_valid(parameter["example"])


def test_the_api_documents_own_examples_are_among_them() -> None:
    create = DOCUMENT["paths"][EMAILS]["post"]
    body = create["requestBody"]["content"]["application/json"]["examples"]
    assert body["roktDocument"]["value"] == {
        "accountId": "2456192011195196284677",
        "rawEmails": ["test@test.com"],
        "sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="],
    }
    listed = DOCUMENT["paths"][TASKS]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["examples"]["roktDocument"]["value"][0]["taskId"] == (
        "20675afe-f4e5-4ee6-bfb7-d5fddcffe16d"
    )
    cancel = DOCUMENT["paths"][f"{TASKS}/{{taskId}}"]["delete"]["responses"]["200"]
    assert cancel["content"]["application/json"]["examples"]["roktDocument"]["value"] == {
        "data": {
            "message": "successful cancelled task with taskId: 3bc2e8b0-88ee-400c-8696-44897bc95cd3"
        }
    }


def first_example(media: dict[str, Any]) -> Any:
    """What Swagger UI fills in: the first of the examples."""
    return next(iter(media["examples"].values()))["value"]


def test_the_server_accepts_every_create_example_swaggers_default_first(world: World) -> None:
    world.admin.allow_account("2456192011195196284677")
    app, secret = world.admin.create_app(["2456192011195196284677"])
    headers = basic(app.app_id, secret)
    media = DOCUMENT["paths"][EMAILS]["post"]["requestBody"]["content"]["application/json"]
    default = world.client.post(EMAILS, json=first_example(media), headers=headers)
    assert default.status_code == 202, default.text
    for name, example in media["examples"].items():
        response = world.client.post(EMAILS, json=example["value"], headers=headers)
        assert response.status_code == 202, (name, response.text)
    bulk = DOCUMENT["paths"][f"{TASKS}/cancellations"]["post"]["requestBody"]["content"]
    response = world.client.post(
        f"{TASKS}/cancellations", json=first_example(bulk["application/json"]), headers=headers
    )
    assert response.status_code == 200, response.text
    listing = DOCUMENT["paths"][TASKS]["get"]["parameters"]
    query = {p["name"]: p["example"] for p in listing}
    response = world.client.get(TASKS, params=query, headers=headers)
    assert response.status_code == 200, response.text


def test_a_create_needs_at_least_one_identifier_in_the_schema_as_on_the_server(
    world: World,
) -> None:
    schema = component("CreateRequest")
    for body in (
        {"accountId": "acct-a"},
        {"accountId": "acct-a", "rawEmails": []},
        {"accountId": "acct-a", "rawEmails": None, "sha256Emails": []},
    ):
        assert not schema.is_valid(body), body
        response = world.client.post(EMAILS, json=body, headers=world.a)
        assert response.status_code == 400, body
    assert schema.is_valid(
        {"accountId": "acct-a", "rawEmails": [], "sha256Emails": ["a" * 43 + "="]}
    )
    assert schema.is_valid({"accountId": "acct-a", "rawEmails": ["ann@example.com"]})


def test_the_schema_refuses_raw_emails_the_server_refuses(world: World) -> None:
    schema = component("CreateRequest")
    for email in ("", "no-at-sign", "two@@example.com", "a@b@c", "x" * 250 + "@ex.com", "a b@c"):
        body = {"accountId": "acct-a", "rawEmails": [email]}
        assert not schema.is_valid(body), email
        assert world.client.post(EMAILS, json=body, headers=world.a).status_code == 400, email


def test_list_sizes_are_the_servers_limits() -> None:
    create = DOCUMENT["components"]["schemas"]["CreateRequest"]["properties"]
    assert create["rawEmails"]["maxItems"] == MAX_IDENTIFIERS
    assert create["sha256Emails"]["maxItems"] == MAX_IDENTIFIERS
    bulk = DOCUMENT["components"]["schemas"]["CancellationsRequest"]["properties"]["taskIds"]
    assert (bulk["minItems"], bulk["maxItems"]) == (1, MAX_BULK)
    limit = next(p for p in DOCUMENT["paths"][TASKS]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, MAX_PAGE)


def test_an_empty_cursor_is_refused_by_the_schema_and_the_server(world: World) -> None:
    cursor = next(p for p in DOCUMENT["paths"][TASKS]["get"]["parameters"] if p["name"] == "cursor")
    assert not validator(cursor["schema"]).is_valid("")
    response = world.client.get(TASKS, params={"cursor": ""}, headers=world.a)
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["message"]


def test_history_events_are_open_to_new_values_with_the_known_ones_documented() -> None:
    entry = DOCUMENT["components"]["schemas"]["TaskDetail"]["properties"]["history"]["items"]
    event = entry["properties"]["event"]
    assert "enum" not in event
    assert event["type"] == "string"
    for known in EVENTS:
        assert known in event["description"]
    detail = next(
        iter(
            DOCUMENT["paths"][f"{TASKS}/{{taskId}}"]["get"]["responses"]["200"]["content"][
                "application/json"
            ]["examples"].values()
        )
    )["value"]
    detail["history"][0]["event"] = "an.event.added.later"
    assert component("TaskDetail").is_valid(detail)


def test_created_tasks_link_to_get_and_cancel() -> None:
    created = DOCUMENT["paths"][EMAILS]["post"]["responses"]["202"]
    targets = {link["operationId"] for link in created["links"].values()}
    assert targets == {"getDeletionRequest", "cancelDeletionRequest", "cancelDeletionRequests"}
