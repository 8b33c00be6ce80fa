"""A pull destination's batch outcome report: all recorded in one write, or nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from deletion_requests import Destination, Mode, Outcome, Policy
from deletion_requests._access import digest_secret
from deletion_requests._destination_work import DestinationWork
from deletion_requests.wire import MAX_BATCH, new_credential

from .conftest import World

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
WAREHOUSE, BACKUPS = new_credential(), new_credential()
PATH = "/destinations/warehouse/jobs/outcomes"


def setup(world: World, tasks: int = 3) -> tuple[DestinationWork, list[dict[str, Any]]]:
    """Two pull destinations and *tasks* actioned tasks; the warehouse's claimed jobs."""
    work = DestinationWork(world.service)
    work.add(Destination("warehouse", Mode.PULL, T0, credential_digest=digest_secret(WAREHOUSE)))
    work.add(Destination("backups", Mode.PULL, T0, credential_digest=digest_secret(BACKUPS)))
    for _ in range(tasks):
        world.create(world.a)
    world.clock.advance(Policy().cancel_period)
    world.service.advance_due()
    claim = world.client.post(
        "/destinations/warehouse/jobs/claim", json={"limit": 100}, headers=auth(WAREHOUSE)
    )
    assert claim.status_code == 200, claim.text
    return work, claim.json()["data"]


def auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def post(world: World, body: object, credential: str = WAREHOUSE) -> Any:
    return world.client.post(PATH, json=body, headers=auth(credential))


def outcomes_of(work: DestinationWork, jobs: list[dict[str, Any]]) -> list[str | None]:
    found = []
    for job in jobs:
        (mine,) = [j for j in work.jobs(job["taskId"]) if j.destination == "warehouse"]
        found.append(None if mine.outcome is None else mine.outcome.kind.value)
    return found


def test_a_batch_records_every_outcome_and_completes_the_tasks_it_finishes(
    world: World,
) -> None:
    work, jobs = setup(world)
    first = jobs[0]
    backups = next(j for j in work.jobs(first["taskId"]) if j.destination == "backups")
    work.report("backups", backups.job_id, Outcome.parse("not_found"))
    items = [
        {"jobId": jobs[0]["jobId"], "outcome": "deleted"},
        {"jobId": jobs[1]["jobId"], "outcome": "exempt", "reason": "tax records"},
        {"jobId": jobs[2]["jobId"], "outcome": "not_found"},
    ]
    answer = post(world, {"outcomes": items})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert [d["jobId"] for d in data] == [j["jobId"] for j in jobs]
    assert [d["outcome"] for d in data] == ["deleted", "exempt", "not_found"]
    assert [d["reason"] for d in data] == [None, "tax records", None]
    assert [d["taskCompleted"] for d in data] == [True, False, False]
    assert [d["taskOutcome"] for d in data] == ["deleted", None, None]
    assert not any(d["repeated"] for d in data)
    assert outcomes_of(work, jobs) == ["deleted", "exempt", "not_found"]
    assert world.store.get(first["taskId"]).completed_time is not None  # type: ignore[union-attr]
    again = post(world, {"outcomes": items[:1]})
    assert again.status_code == 200
    assert again.json()["data"][0]["repeated"] is True


@pytest.mark.parametrize(
    ("bad", "status", "words"),
    [
        ({"jobId": "JOB", "outcome": "erased"}, 400, ["outcomes[1]", "deleted, not_found"]),
        ({"jobId": "JOB", "outcome": "exempt"}, 400, ["outcomes[1]", "reason"]),
        ({"jobId": "JOB", "outcome": "deleted", "x": 1}, 400, ["outcomes[1]", "x"]),
        ({"outcome": "deleted"}, 400, ["outcomes[1]"]),
        ({"jobId": "FIRST", "outcome": "deleted"}, 400, ["outcomes[1]", "twice"]),
        ({"jobId": "UNKNOWN", "outcome": "deleted"}, 404, ["UNKNOWN"]),
        ({"jobId": "BACKUPS", "outcome": "deleted"}, 404, ["BACKUPS"]),
        ({"jobId": "FINAL", "outcome": "not_found"}, 409, ["FINAL", "two outcomes"]),
    ],
)
def test_a_refused_item_is_named_and_nothing_is_written(
    world: World, bad: dict[str, Any], status: int, words: list[str]
) -> None:
    work, jobs = setup(world)
    final = jobs[2]
    assert post(world, {"outcomes": [{"jobId": final["jobId"], "outcome": "deleted"}]}).is_success
    backups = next(j for j in work.jobs(jobs[1]["taskId"]) if j.destination == "backups")
    names = {
        "JOB": jobs[1]["jobId"],
        "FIRST": jobs[0]["jobId"],
        "UNKNOWN": str(uuid.uuid4()),
        "BACKUPS": backups.job_id,
        "FINAL": final["jobId"],
    }
    if "jobId" in bad:
        bad = {**bad, "jobId": names[bad["jobId"]]}
    answer = post(world, {"outcomes": [{"jobId": jobs[0]["jobId"], "outcome": "deleted"}, bad]})
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]["message"]
    for word in words:
        assert names.get(word, word) in message
    assert outcomes_of(work, jobs) == [None, None, "deleted"]
    assert work.store.get_job(backups.job_id).outcome is None  # type: ignore[union-attr]


def test_a_body_that_is_not_a_batch_is_400(world: World) -> None:
    _, jobs = setup(world, tasks=1)
    item = {"jobId": jobs[0]["jobId"], "outcome": "deleted"}
    for body in ({}, {"outcomes": []}, {"outcomes": {}}, [item], {"outcomes": [item], "x": 1}):
        answer = post(world, body)
        assert answer.status_code == 400, body
        assert "outcomes" in answer.json()["error"]["message"]
    too_many = {"outcomes": [item] * (MAX_BATCH + 1)}
    assert post(world, too_many).status_code == 400


def test_a_batch_is_authenticated_as_the_one_job_report(world: World) -> None:
    work, jobs = setup(world, tasks=1)
    body = {"outcomes": [{"jobId": jobs[0]["jobId"], "outcome": "deleted"}]}
    assert post(world, body, credential=BACKUPS).status_code == 403
    assert world.client.post(PATH, json=body).status_code == 403
    missing = world.client.post(
        "/destinations/nowhere/jobs/outcomes", json=body, headers=auth(WAREHOUSE)
    )
    assert missing.status_code == 404
    assert outcomes_of(work, jobs) == [None]
