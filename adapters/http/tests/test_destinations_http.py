"""The destinations' endpoints: claims and outcomes over HTTP, and every bad input refused."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
from deletion_requests_http._signing import signed_headers

from deletion_requests import Destination, Mode, Policy
from deletion_requests._access import digest_secret
from deletion_requests._destination_work import DestinationWork
from deletion_requests.wire import new_credential, new_signing_secret

from .conftest import World

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
POLICY = Policy()
CRM_SECRET, ERP_SECRET = new_signing_secret(), new_signing_secret()
WAREHOUSE, BACKUPS = new_credential(), new_credential()


def setup(world: World) -> tuple[DestinationWork, str]:
    """Two push and one pull destination (and a second pull one), and one actioned task."""
    work = DestinationWork(world.service)
    work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example", CRM_SECRET))
    work.add(Destination("erp", Mode.PUSH, T0, "https://erp.example", ERP_SECRET))
    work.add(Destination("warehouse", Mode.PULL, T0, credential_digest=digest_secret(WAREHOUSE)))
    work.add(
        Destination(
            "backups", Mode.PULL, T0, credential_digest=digest_secret(BACKUPS), accounts={"x"}
        )
    )
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(POLICY.cancel_period)
    world.service.advance_due()
    return work, task_id


def pull_headers(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def signed(secret: str, document: object) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(document)
    headers = signed_headers(secret, f"msg_{uuid.uuid4().hex}", body, dt.datetime.now(dt.UTC))
    return body, {**headers, "Content-Type": "application/json"}


def push_outcome(world: World, task_id: str, name: str, secret: str, document: object):  # type: ignore[no-untyped-def]
    body, headers = signed(secret, document)
    return world.client.post(
        f"/data/deletion-requests/{task_id}/destinations/{name}/outcome",
        content=body,
        headers=headers,
    )


def test_a_task_is_completed_after_two_push_and_one_pull_destination_report(
    world: World,
) -> None:
    work, task_id = setup(world)
    claim = world.client.post(
        "/destinations/warehouse/jobs/claim", json={"limit": 100}, headers=pull_headers(WAREHOUSE)
    )
    assert claim.status_code == 200, claim.text
    (job,) = claim.json()["data"]
    assert job["taskId"] == task_id
    assert len(job["identifiers"]) == 1
    answer = push_outcome(world, task_id, "crm", CRM_SECRET, {"outcome": "not_found"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["taskCompleted"] is False
    assert answer.json()["data"]["taskOutcome"] is None
    answer = push_outcome(world, task_id, "erp", ERP_SECRET, {"outcome": "exempt", "reason": "tax"})
    assert answer.json()["data"]["outcome"] == "exempt"
    assert world.store.get(task_id).completed_time is None  # type: ignore[union-attr]
    answer = world.client.post(
        f"/destinations/warehouse/jobs/{job['jobId']}/outcome",
        json={"outcome": "deleted"},
        headers=pull_headers(WAREHOUSE),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["taskCompleted"] is True
    assert answer.json()["data"]["taskOutcome"] == "deleted"
    assert world.store.get(task_id).completed_time is not None  # type: ignore[union-attr]
    again = world.client.post(
        f"/destinations/warehouse/jobs/{job['jobId']}/outcome",
        json={"outcome": "deleted"},
        headers=pull_headers(WAREHOUSE),
    )
    assert again.status_code == 200
    assert again.json()["data"]["repeated"] is True
    assert [j.outcome is not None for j in work.jobs(task_id)] == [True, True, True]


def test_a_second_different_outcome_is_409_and_changes_nothing(world: World) -> None:
    work, task_id = setup(world)
    assert (
        push_outcome(world, task_id, "crm", CRM_SECRET, {"outcome": "deleted"}).status_code == 200
    )
    answer = push_outcome(world, task_id, "crm", CRM_SECRET, {"outcome": "not_found"})
    assert answer.status_code == 409
    assert answer.json()["error"]["error"] == "CONFLICT"
    assert "two outcomes" in answer.json()["error"]["message"]
    (crm,) = [j for j in work.jobs(task_id) if j.destination == "crm"]
    assert crm.outcome is not None
    assert crm.outcome.kind.value == "deleted"


def test_outcomes_for_unknown_destinations_jobs_and_tasks_are_404(world: World) -> None:
    _, task_id = setup(world)
    unknown_task = str(uuid.uuid4())
    for path_task, name, secret in (
        (task_id, "nowhere", CRM_SECRET),
        (unknown_task, "crm", CRM_SECRET),
    ):
        answer = push_outcome(world, path_task, name, secret, {"outcome": "deleted"})
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["error"] == "NOT_FOUND"
    answer = world.client.post(
        f"/destinations/warehouse/jobs/{uuid.uuid4()}/outcome",
        json={"outcome": "deleted"},
        headers=pull_headers(WAREHOUSE),
    )
    assert answer.status_code == 404


def test_another_destinations_secret_or_credential_is_403(world: World) -> None:
    work, task_id = setup(world)
    answer = push_outcome(world, task_id, "crm", ERP_SECRET, {"outcome": "deleted"})
    assert answer.status_code == 403
    claim = world.client.post(
        "/destinations/warehouse/jobs/claim", json={"limit": 1}, headers=pull_headers(BACKUPS)
    )
    assert claim.status_code == 403
    bare = world.client.post("/destinations/warehouse/jobs/claim", json={"limit": 1})
    assert bare.status_code == 403
    assert all(j.outcome is None for j in work.jobs(task_id))


def test_an_unknown_outcome_word_is_400_listing_the_words(world: World) -> None:
    _, task_id = setup(world)
    answer = push_outcome(world, task_id, "crm", CRM_SECRET, {"outcome": "erased"})
    assert answer.status_code == 400
    assert "deleted, not_found, exempt" in answer.json()["error"]["message"]
    answer = push_outcome(world, task_id, "crm", CRM_SECRET, {"outcome": "exempt"})
    assert answer.status_code == 400
    assert "reason" in answer.json()["error"]["message"]


def test_a_claim_limit_out_of_range_is_400(world: World) -> None:
    setup(world)
    for body in ({"limit": 0}, {"limit": 5000}, {"limit": "ten"}, {"max": 3}):
        answer = world.client.post(
            "/destinations/warehouse/jobs/claim", json=body, headers=pull_headers(WAREHOUSE)
        )
        assert answer.status_code == 400, body


def test_a_claimed_job_carries_its_due_time_and_says_when_it_is_late(world: World) -> None:
    _, task_id = setup(world)
    claim = world.client.post(
        "/destinations/warehouse/jobs/claim", json={"limit": 1}, headers=pull_headers(WAREHOUSE)
    )
    (job,) = claim.json()["data"]
    due = world.store.get(task_id).due_time  # type: ignore[union-attr]
    assert (job["dueTime"], job["late"]) == (due.isoformat(), False)
    world.clock.set(due)  # the lease ran out long ago: owed again, and now late
    again = world.client.post(
        "/destinations/warehouse/jobs/claim", json={"limit": 1}, headers=pull_headers(WAREHOUSE)
    )
    (late,) = again.json()["data"]
    assert (late["jobId"], late["late"]) == (job["jobId"], True)
