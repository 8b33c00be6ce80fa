"""`--handoff-url` is the push destination `default`: the outbox's hand-off delivers its jobs,
the completion endpoint reports them, and operators pause, retry and skip it like any other."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from deletion_requests_http import new_webhook_secret
from deletion_requests_http._bootstrap import Application
from deletion_requests_http._signing import signed_headers
from deletion_requests_http.testing import bootstrapped
from starlette.testclient import TestClient

from deletion_requests import (
    HANDOFF,
    Destination,
    DestinationConflict,
    DestinationWork,
    JobState,
    ManualClock,
    Mode,
    OutcomeKind,
    Policy,
)
from deletion_requests._access import digest_secret
from deletion_requests._context import Deliveries
from deletion_requests.stores import DEFAULT_DESTINATION
from deletion_requests.testing import WebhookReceiver

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SECRET = new_webhook_secret()


def served(url: str, store_url: str = "memory://", **more: object) -> Application:
    return bootstrapped(
        store_url,
        clock=ManualClock(T0),
        signing_key="k" * 48,
        handoff_url=url,
        webhook_secret=SECRET,
        deliver=True,
        **more,
    )


def hand_off(application: Application) -> Deliveries:
    """One delivery round of the hand-offs only."""
    return application.service.deliver({HANDOFF: application.sinks[HANDOFF]})


def actioned(application: Application) -> str:
    application.admin.allow_account("acct-1")
    app, secret = application.admin.create_app(["acct-1"])
    caller = application.service.authenticate(app.app_id, secret)
    task = application.service.create(caller, "acct-1", raw_emails=["someone@example.com"])
    application.settings.clock.advance(Policy().cancel_period)  # type: ignore[attr-defined]
    application.service.advance_due()
    return task.task_id


def test_the_hand_off_url_is_the_default_push_destination_end_to_end() -> None:
    with WebhookReceiver(SECRET) as receiver:
        application = served(receiver.url)
        work = DestinationWork(application.service)
        default = work.get(DEFAULT_DESTINATION)
        assert (default.mode, default.webhook_url, default.secret) == (
            Mode.PUSH,
            receiver.url,
            SECRET,
        )
        task_id = actioned(application)
        (job,) = application.service.jobs(task_id)
        assert (job.destination, job.state) == (DEFAULT_DESTINATION, JobState.OWED)
        assert hand_off(application).delivered == 1
        hand_off(application)  # nothing is sent twice
    assert [(body["type"], body["taskId"]) for body in receiver.acknowledged] == [
        ("handoff", task_id)
    ]
    assert receiver.ids == [f"handoff_{task_id}"]
    (job,) = application.service.jobs(task_id)
    assert (job.state, job.attempts) == (JobState.DELIVERED, 1)
    body = f'{{"taskId": "{task_id}"}}'.encode()
    headers = signed_headers(SECRET, "done-1", body, dt.datetime.now(dt.UTC))
    with TestClient(application.http()) as http:
        answer = http.post(
            f"/data/deletion-requests/{task_id}/completion",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "deleted"
    (job,) = application.service.jobs(task_id)
    assert job.outcome is not None
    assert job.outcome.kind is OutcomeKind.DELETED
    task = application.store.get(task_id)
    assert task is not None
    assert task.completed_time is not None
    assert [(s.event, s.by) for s in task.history][-2:] == [
        ("handoff.delivered", "handoff-webhook"),
        ("completed", "deleter"),
    ]


def test_a_failed_hand_off_is_on_the_job_and_an_operator_retry_sends_it_now() -> None:
    with WebhookReceiver(SECRET, [503]) as receiver:
        application = served(receiver.url)
        task_id = actioned(application)
        assert hand_off(application).failed == 1
        (job,) = application.service.jobs(task_id)
        assert (job.state, job.attempts, job.last_error) == (JobState.OWED, 1, "HTTP 503")
        assert hand_off(application).delivered == 0  # backing off
        work = DestinationWork(application.service)
        work.retry(task_id, DEFAULT_DESTINATION, "the deleter is back", "bob")
        assert hand_off(application).delivered == 1
        (job,) = application.service.jobs(task_id)
        assert (job.state, job.attempts, job.last_error) == (JobState.DELIVERED, 2, "HTTP 503")
        # Retried once delivered: the task owes its hand-off again, and it is sent again.
        work.retry(task_id, DEFAULT_DESTINATION, "the deleter lost it", "bob")
        assert hand_off(application).delivered == 1
    assert [body["taskId"] for body in receiver.acknowledged] == [task_id, task_id]


def test_a_paused_default_is_sent_nothing_until_resumed() -> None:
    with WebhookReceiver(SECRET) as receiver:
        application = served(receiver.url)
        work = DestinationWork(application.service)
        work.set_paused(DEFAULT_DESTINATION, True, "ops")
        task_id = actioned(application)
        report = hand_off(application)
        assert (report.delivered, report.waiting) == (0, 1)
        work.set_paused(DEFAULT_DESTINATION, False, "ops")
        assert hand_off(application).delivered == 1
    assert [body["taskId"] for body in receiver.acknowledged] == [task_id]


def test_a_changed_flag_moves_default_and_a_dropped_one_leaves_it(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/default.db"
    first = served("https://one.example/hook", store_url)
    DestinationWork(first.service).set_paused(DEFAULT_DESTINATION, True, "ops")
    first.close()
    other = new_webhook_secret()
    second = bootstrapped(
        store_url, handoff_url="https://two.example/hook", webhook_secret=other, deliver=True
    )
    moved = DestinationWork(second.service).get(DEFAULT_DESTINATION)
    second.close()
    assert (moved.webhook_url, moved.secret, moved.paused) == (
        "https://two.example/hook",
        other,
        True,
    )
    third = bootstrapped(store_url, deliver=True)
    assert DestinationWork(third.service).get(DEFAULT_DESTINATION) == moved
    third.close()


def test_a_pull_destination_named_default_refuses_the_hand_off_url(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/pull.db"
    application = bootstrapped(store_url)
    pull = Destination(DEFAULT_DESTINATION, Mode.PULL, T0, credential_digest=digest_secret("x"))
    DestinationWork(application.service).add(pull)
    application.close()
    with pytest.raises(DestinationConflict, match="pull destination"):
        served("https://one.example/hook", store_url)
    application = bootstrapped(store_url)
    assert DestinationWork(application.service).get(DEFAULT_DESTINATION) == pull
    application.close()
