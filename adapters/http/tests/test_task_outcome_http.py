"""The client's one-word outcome of a completed task, from its destinations' outcomes."""

from __future__ import annotations

import datetime as dt

from deletion_requests_http._signing import signed_headers
from deletion_requests_http.testing import bootstrapped
from starlette.testclient import TestClient

from deletion_requests import Destination, ManualClock, Mode, Outcome, OutcomeKind, Policy
from deletion_requests._destination_work import DestinationWork
from deletion_requests.wire import new_signing_secret

from .conftest import World

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SECRET = new_signing_secret()


def actioned(world: World, *names: str) -> tuple[DestinationWork, str]:
    work = DestinationWork(world.service)
    for name in names:
        work.add(Destination(name, Mode.PUSH, T0, f"https://{name}.example", SECRET))
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(Policy().cancel_period)
    world.service.advance_due()
    return work, task_id


def shown(world: World, task_id: str) -> dict:  # type: ignore[type-arg]
    answer = world.client.get(f"/data/deletion-requests/{task_id}", headers=world.a)
    assert answer.status_code == 200, answer.text
    result: dict = answer.json()  # type: ignore[type-arg]
    return result


def test_the_outcome_is_null_until_completed_then_deleted_if_any_deleted(world: World) -> None:
    work, task_id = actioned(world, "crm", "erp", "warehouse")
    work.report_for_task(task_id, "crm", Outcome(OutcomeKind.NOT_FOUND))
    work.report_for_task(task_id, "erp", Outcome(OutcomeKind.DELETED))
    assert shown(world, task_id)["outcome"] is None
    work.skip(task_id, "warehouse", "retired", "alice")
    assert shown(world, task_id)["outcome"] == "deleted"


def test_not_found_beats_exempt_and_failed_jobs_give_exempt(world: World) -> None:
    work, first = actioned(world, "crm", "erp")
    work.report_for_task(first, "crm", Outcome(OutcomeKind.EXEMPT, "tax law"))
    work.report_for_task(first, "erp", Outcome(OutcomeKind.NOT_FOUND))
    assert shown(world, first)["outcome"] == "not_found"
    second = world.create(world.a)["taskId"]
    world.clock.advance(Policy().cancel_period)
    world.service.advance_due()
    work.skip(second, "crm", "retired", "alice")
    work.skip(second, "erp", "retired", "alice")
    assert shown(world, second)["outcome"] == "exempt"


def test_the_hand_off_completion_of_a_task_without_jobs_answers_deleted() -> None:
    clock = ManualClock(T0)
    application = bootstrapped(clock=clock, signing_key="k" * 48, webhook_secret=SECRET)
    application.admin.allow_account("acct-a")
    app, secret = application.admin.create_app(["acct-a"])
    caller = application.service.authenticate(app.app_id, secret)
    task = application.service.create(caller, "acct-a", raw_emails=["someone@example.com"])
    clock.advance(Policy().cancel_period)
    application.service.advance_due()
    body = f'{{"taskId": "{task.task_id}"}}'.encode()
    headers = signed_headers(SECRET, "done-1", body, dt.datetime.now(dt.UTC))
    with TestClient(application.http()) as http:
        answer = http.post(
            f"/data/deletion-requests/{task.task_id}/completion",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "deleted"
    assert application.service.outcome(application.store.get(task.task_id)) == "deleted"  # type: ignore[arg-type]
