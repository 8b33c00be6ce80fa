"""The destinations' operations in the OpenAPI document: a valid document, limits that are the
server's own, and every example request sent to a real app (a pull destination, and a push one
with a correctly signed body) answered with the documented status and a body that fits the
documented schema, refusals included."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

import jsonschema_rs
import orjson
import pytest
from deletion_requests_http._openapi import openapi_document
from deletion_requests_http._signing import signed_headers
from openapi_spec_validator import validate

from deletion_requests import Destination, DestinationWork, Mode, Policy
from deletion_requests._access import digest_secret
from deletion_requests._destinations import job_id_for
from deletion_requests.wire import (
    MAX_BATCH,
    MAX_CLAIM,
    MAX_REASON,
    REPORTED_WORDS,
    new_credential,
    new_signing_secret,
)

from .conftest import T0, World

DOCUMENT = openapi_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
CLAIM = "/destinations/{name}/jobs/claim"
BATCH = "/destinations/{name}/jobs/outcomes"
ONE = "/destinations/{name}/jobs/{jobId}/outcome"
PUSH = "/data/deletion-requests/{taskId}/destinations/{name}/outcome"
OPERATIONS = {
    CLAIM: "claimJobs",
    BATCH: "reportOutcomes",
    ONE: "reportOutcome",
    PUSH: "reportPushedOutcome",
}
CREDENTIAL, SECRET = new_credential(), new_signing_secret()


def validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, validate_formats=True
    )


def component(name: str) -> Any:
    return validator({"$ref": f"#/components/schemas/{name}"})


def operation(path: str) -> dict[str, Any]:
    result: dict[str, Any] = DOCUMENT["paths"][path]["post"]
    return result


def request_examples(path: str) -> dict[str, Any]:
    examples: dict[str, Any] = operation(path)["requestBody"]["content"]["application/json"][
        "examples"
    ]
    return examples


def check_answer(path: str, response: Any) -> None:
    """*response* has a documented status, and its body fits that status's schema (an error's
    name is one the document lists for it)."""
    documented = operation(path)["responses"]
    status = str(response.status_code)
    assert status in documented, (path, response.status_code, response.text)
    media = documented[status]["content"]["application/json"]
    assert validator(media["schema"]).is_valid(response.json()), (path, response.text)
    if "x-error-names" in documented[status]:
        assert response.json()["error"]["error"] in documented[status]["x-error-names"]


class Destinations:
    """A World with the pull destination `warehouse` and the push destination `crm`, both
    serving every account, and *tasks* actioned tasks, each with a job of each."""

    def __init__(self, world: World, tasks: int) -> None:
        self.world = world
        work = DestinationWork(world.service)
        work.add(
            Destination("warehouse", Mode.PULL, T0, credential_digest=digest_secret(CREDENTIAL))
        )
        work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example", SECRET))
        self.tasks = [world.create(world.a)["taskId"] for _ in range(tasks)]
        world.clock.advance(Policy().cancel_period)
        world.service.advance_due()
        self.pull = {"Authorization": f"Bearer {CREDENTIAL}"}

    def post(self, path: str, body: Any, headers: dict[str, str], **names: str) -> Any:
        return self.world.client.post(path.format(**names), json=body, headers=headers)

    def push(self, task_id: str, body: Any, secret: str = SECRET) -> Any:
        content = orjson.dumps(body)
        at = dt.datetime.now(dt.UTC)
        headers = signed_headers(secret, f"msg_{uuid.uuid4().hex}", content, at)
        return self.world.client.post(
            PUSH.format(taskId=task_id, name="crm"),
            content=content,
            headers={**headers, "Content-Type": "application/json"},
        )


def test_the_document_is_valid_openapi() -> None:
    validate(DOCUMENT)


def test_the_four_operations_are_tagged_destinations_with_their_security() -> None:
    assert [tag["name"] for tag in DOCUMENT["tags"]] == ["destinations"]
    tagged = {
        path: item["post"]["operationId"]
        for path, item in DOCUMENT["paths"].items()
        if "destinations" in item.get("post", {}).get("tags", [])
    }
    assert tagged == OPERATIONS
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["destinationCredential"] == {**schemes["destinationCredential"], "type": "http"}
    assert schemes["destinationCredential"]["scheme"] == "bearer"
    assert schemes["destinationSignature"]["name"] == "webhook-signature"
    for path in (CLAIM, BATCH, ONE):
        assert operation(path)["security"] == [{"destinationCredential": []}]
    assert operation(PUSH)["security"] == [{"destinationSignature": []}]
    headers = {p["name"] for p in operation(PUSH)["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp"}


def test_the_limits_and_words_are_the_servers() -> None:
    limit = SCHEMAS["ClaimRequest"]["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, MAX_CLAIM)
    outcomes = SCHEMAS["OutcomeReports"]["properties"]["outcomes"]
    assert (outcomes["minItems"], outcomes["maxItems"]) == (1, MAX_BATCH)
    report = SCHEMAS["OutcomeReport"]["properties"]
    assert report["reason"]["maxLength"] == MAX_REASON
    assert report["outcome"]["enum"] == [kind.value for kind in REPORTED_WORDS]
    assert SCHEMAS["JobOutcomeReport"]["properties"]["reason"] == report["reason"]


def test_every_example_request_is_answered_as_documented(world: World) -> None:
    setup = Destinations(world, tasks=5)
    for name, example in request_examples(CLAIM).items():
        answer = setup.post(CLAIM, example["value"], setup.pull, name="warehouse")
        assert answer.status_code == 200, (name, answer.text)
        check_answer(CLAIM, answer)
    single = request_examples(ONE)
    for task_id, (name, example) in zip(setup.tasks, single.items(), strict=False):
        job_id = job_id_for(task_id, "warehouse")
        answer = setup.post(ONE, example["value"], setup.pull, name="warehouse", jobId=job_id)
        assert answer.status_code == 200, (name, answer.text)
        check_answer(ONE, answer)
        assert answer.json()["data"]["outcome"] == example["value"]["outcome"]
    (batch,) = request_examples(BATCH).values()
    body = copy.deepcopy(batch["value"])
    rest = setup.tasks[len(single) :]
    for item, task_id in zip(body["outcomes"], rest, strict=True):
        item["jobId"] = job_id_for(task_id, "warehouse")
    answer = setup.post(BATCH, body, setup.pull, name="warehouse")
    assert answer.status_code == 200, answer.text
    check_answer(BATCH, answer)
    pushed = request_examples(PUSH)
    for task_id, (name, example) in zip(setup.tasks, pushed.items(), strict=False):
        answer = setup.push(task_id, example["value"])
        assert answer.status_code == 200, (name, answer.text)
        check_answer(PUSH, answer)
    # Both destinations reported on the first tasks: those are completed.
    completed = world.store.get(setup.tasks[0])
    assert completed is not None
    assert completed.completed_time is not None


def test_refusals_are_documented_envelopes(world: World) -> None:
    setup = Destinations(world, tasks=1)
    (task_id,) = setup.tasks
    job_id = job_id_for(task_id, "warehouse")
    refused = [
        (CLAIM, {"limit": 0}, setup.pull, {}, 400),
        (CLAIM, {"limit": 1}, {}, {}, 403),
        (CLAIM, {"limit": 1}, {"Authorization": f"Bearer {new_credential()}"}, {}, 403),
        (CLAIM, {"limit": 1}, setup.pull, {"name": "nowhere"}, 404),
        (ONE, {"outcome": "erased"}, setup.pull, {"jobId": job_id}, 400),
        (ONE, {"outcome": "deleted"}, setup.pull, {"jobId": str(uuid.uuid4())}, 404),
        (BATCH, {"outcomes": []}, setup.pull, {}, 400),
        (
            BATCH,
            {"outcomes": [{"jobId": str(uuid.uuid4()), "outcome": "deleted"}]},
            setup.pull,
            {},
            404,
        ),
    ]
    for path, body, headers, names, status in refused:
        answer = setup.post(path, body, headers, **{"name": "warehouse", **names})
        assert answer.status_code == status, (path, body, answer.text)
        check_answer(path, answer)
    assert (
        setup.post(
            ONE, {"outcome": "deleted"}, setup.pull, name="warehouse", jobId=job_id
        ).status_code
        == 200
    )
    conflict = setup.post(ONE, {"outcome": "not_found"}, setup.pull, name="warehouse", jobId=job_id)
    assert conflict.status_code == 409
    check_answer(ONE, conflict)
    for answer, status in (
        (setup.push(task_id, {"outcome": "deleted"}, secret=new_signing_secret()), 403),
        (setup.push(str(uuid.uuid4()), {"outcome": "deleted"}), 404),
        (setup.push(task_id, {"outcome": "exempt"}), 400),
    ):
        assert answer.status_code == status, answer.text
        check_answer(PUSH, answer)


REASONS = [
    # (outcome, reason, accepted by the schema and by the server)
    ("exempt", "x" * MAX_REASON, True),
    ("exempt", "  tax law ", True),
    ("exempt", " " + "x" * MAX_REASON, False),
    ("exempt", "x" * (MAX_REASON + 1), False),
    ("exempt", "tax law\n", False),
    ("exempt", "tax\tlaw", False),
    ("exempt", "\u00a0\u3000 ", False),
    ("exempt", None, False),
    ("deleted", None, True),
    ("deleted", "", True),
    ("deleted", " \u2003", True),
    ("deleted", "erased", False),
    ("not_found", "nothing held", False),
]


@pytest.mark.parametrize(("outcome", "reason", "accepted"), REASONS)
def test_a_reason_is_held_to_the_same_rules_by_the_schema_and_the_server(
    world: World, outcome: str, reason: str | None, accepted: bool
) -> None:
    setup = Destinations(world, tasks=1)
    body: dict[str, Any] = (
        {"outcome": outcome} if reason is None else {"outcome": outcome, "reason": reason}
    )
    assert component("OutcomeReport").is_valid(body) is accepted
    job_id = job_id_for(setup.tasks[0], "warehouse")
    answer = setup.post(ONE, body, setup.pull, name="warehouse", jobId=job_id)
    assert answer.status_code == (200 if accepted else 400), answer.text
    check_answer(ONE, answer)


LIMITS = [
    # (limit, accepted by the schema and by the server)
    (1, True),
    (MAX_CLAIM, True),
    (100.0, True),
    (0, False),
    (MAX_CLAIM + 1, False),
    (1.5, False),
    (True, False),
    ("5", False),
    (None, False),
]


@pytest.mark.parametrize(("limit", "accepted"), LIMITS)
def test_a_claim_limit_is_held_to_the_same_rules_by_the_schema_and_the_server(
    world: World, limit: object, accepted: bool
) -> None:
    setup = Destinations(world, tasks=1)
    body = {"limit": limit}
    assert component("ClaimRequest").is_valid(body) is accepted
    answer = setup.post(CLAIM, body, setup.pull, name="warehouse")
    assert answer.status_code == (200 if accepted else 400), answer.text
    check_answer(CLAIM, answer)
