"""`verify_callback` on callbacks the real server sent to a loopback receiver."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from deletion_requests_client import (
    CallbackEvent,
    CallbackVerificationError,
    Client,
    verify_callback,
)
from deletion_requests_http import new_webhook_secret

from .conftest import ACCOUNT, Deployment


def first_callback(deployment: Deployment, timeout: float = 20) -> tuple[dict[str, str], bytes]:
    deadline = time.monotonic() + timeout
    while not deployment.callbacks.received:
        assert time.monotonic() < deadline, "no callback arrived"
        time.sleep(0.05)
    return deployment.callbacks.received[0]


def event_of(deployment: Deployment, event_type: str, timeout: float = 20) -> CallbackEvent:
    """The verified callback of *event_type* the server sent, once it arrives."""
    deadline = time.monotonic() + timeout
    while True:
        for headers, body in list(deployment.callbacks.received):
            event = verify_callback(headers, body, secret=deployment.callback_secret)
            if event.event_type == event_type:
                return event
        assert time.monotonic() < deadline, f"no {event_type} callback arrived"
        time.sleep(0.05)


@pytest.fixture
def sent(deployment: Deployment) -> tuple[str, dict[str, str], bytes]:
    """A task created and cancelled through the client, and the callback the server sent."""
    with Client(deployment.base_url, deployment.app_id, deployment.secret) as client:
        task = client.create(ACCOUNT, raw_emails=[f"{uuid.uuid4()}@example.com"])
        client.cancel(task.task_id)
    headers, body = first_callback(deployment)
    return task.task_id, headers, body


def test_a_callback_the_server_sent_is_verified_and_read(
    deployment: Deployment, sent: tuple[str, dict[str, str], bytes]
) -> None:
    task_id, headers, body = sent
    event = verify_callback(headers, body, secret=deployment.callback_secret)
    assert event.event_type == "cancelled"
    assert event.event_id == f"cancelled_{task_id}" == headers["webhook-id"]
    assert event.task.task_id == task_id
    assert event.task.status == "cancelled"
    upper = {name.upper(): value for name, value in headers.items()}
    with Client(
        deployment.base_url,
        deployment.app_id,
        deployment.secret,
        callback_secret=deployment.callback_secret,
    ) as client:
        assert client.verify_callback(upper, body) == event


def test_a_tampered_callback_is_refused(
    deployment: Deployment, sent: tuple[str, dict[str, str], bytes]
) -> None:
    _, headers, body = sent
    secret = deployment.callback_secret
    altered = body.replace(b'"cancelled"', b'"completed"', 1)
    assert altered != body
    with pytest.raises(CallbackVerificationError):
        verify_callback(headers, altered, secret=secret)
    with pytest.raises(CallbackVerificationError):
        verify_callback({**headers, "webhook-id": "ready_x"}, body, secret=secret)
    later = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(CallbackVerificationError):
        verify_callback({**headers, "webhook-timestamp": later}, body, secret=secret)
    without = {k: v for k, v in headers.items() if k.lower() != "webhook-signature"}
    with pytest.raises(CallbackVerificationError):
        verify_callback(without, body, secret=secret)
    with pytest.raises(CallbackVerificationError):
        verify_callback(headers, body, secret=new_webhook_secret())


def test_a_secret_that_is_not_whsec_is_refused_without_being_repeated() -> None:
    with pytest.raises(ValueError, match="whsec_") as raised:
        verify_callback({}, b"{}", secret="my-plain-password")  # noqa: S106 (a bad one)
    assert "my-plain-password" not in str(raised.value)
    with pytest.raises(ValueError, match="base64"):
        verify_callback({}, b"{}", secret="whsec_!!!not base64!!!")  # noqa: S106 (a bad one)


def test_a_deadline_extended_callback_carries_the_new_due_time_and_completed_the_outcome(
    deployment: Deployment,
) -> None:
    deployment.pull_destinations("crm", "warehouse")
    with Client(deployment.base_url, deployment.app_id, deployment.secret) as client:
        task = client.create(ACCOUNT, raw_emails=[f"{uuid.uuid4()}@example.com"])
    deployment.extend(task.task_id, 14)
    extended = event_of(deployment, "deadline_extended")
    due = task.creation_time + dt.timedelta(days=44)
    assert extended.task.due_time == due
    assert extended.event_id == f"deadline_extended_{task.task_id}_{int(due.timestamp())}"
    assert extended.task.outcome is None
    assert extended.task.history[-1].event == "deadline_extended"
    deployment.action(task.task_id)
    deployment.report(task.task_id, "crm", "exempt", "a tax record")
    deployment.report(task.task_id, "warehouse", "deleted")
    completed = event_of(deployment, "completed")
    assert completed.task.completed_time is not None
    assert (completed.task.outcome, completed.task.due_time) == ("deleted", due)
