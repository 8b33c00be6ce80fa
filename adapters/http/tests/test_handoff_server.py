"""The hand-off through real servers: a SIGKILL between the transition and the delivery loses
nothing, and the deleter completes tasks over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import time
import uuid
from pathlib import Path

import httpx
import orjson
from deletion_requests_http import signed_headers
from deletion_requests_http.testing import serving

from deletion_requests import DeletionService, DeletionTask, ManualClock, Status, open_store
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import hash_email

SECRET = "whsec_" + base64.b64encode(b"a-shared-webhook-secret-for-tests").decode()


def wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


FAST_DELIVERY = ("--deliver-interval", "0.2")


def due_task(store_url: str, age_days: float) -> str:
    """A pending task created *age_days* ago, added straight to the store; its id."""
    task_id = str(uuid.uuid4())
    with open_store(store_url) as store:
        store.add(
            DeletionTask(
                task_id=task_id,
                account_id="acct-1",
                status=Status.PENDING,
                creation_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=age_days),
                identifiers=frozenset({hash_email(f"{task_id}@example.com")}),
                created_by="app_test",
            )
        )
    return task_id


def test_sigkill_between_transition_and_delivery_delivers_after_restart(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/handoff.db"
    task_ids = [due_task(store_url, age_days=16) for _ in range(3)]  # due for the hand-off
    log = tmp_path / "server.log"
    options = (
        "--handoff-url",
        "",  # filled below
        "--webhook-secret",
        SECRET,
        "--deliver-interval",
        "0.2",
        "--delivery-lease",
        "2",  # the killed server's lease on the message in flight runs out soon
    )
    with WebhookReceiver(SECRET) as receiver:
        receiver.hold = True  # the first delivery hangs: the server dies inside it
        first = (options[0], receiver.url, *options[2:])
        with serving(store_url, log, *first) as running:
            assert receiver.arrived.wait(30), log.read_text()
            running.process.send_signal(signal.SIGKILL)
            running.process.wait(10)
        receiver.release()
        with open_store(store_url) as store:
            stored = [store.get(task_id) for task_id in task_ids]
        # the transition is stored, and with it the outbox entry the delivery did not clear
        assert all(t is not None and t.status is Status.ACTIONED for t in stored)
        assert all(t is not None and "handoff" in t.outbox for t in stored)
        assert receiver.acknowledged == []

        with serving(store_url, log, *first):
            wait_for(lambda: len(receiver.acknowledged) == len(task_ids))
            time.sleep(0.5)  # a round more: nothing is delivered twice once acknowledged
        acknowledged = sorted(body["taskId"] for body in receiver.acknowledged)
        assert acknowledged == sorted(task_ids)
        assert receiver.refused == 0
        # at least once: the message in flight at the kill came again
        assert len(receiver.received) == len(task_ids) + 1
    with open_store(store_url) as store:
        for task_id in task_ids:
            task = store.get(task_id)
            assert task is not None
            assert "handoff" not in task.outbox
            delivered = [s for s in task.history if s.event == "handoff.delivered"]
            assert len(delivered) == 1
            assert delivered[0].by == "handoff-webhook"


def test_the_deleter_completes_over_http_on_a_real_server(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/complete.db"
    task_id = due_task(store_url, age_days=16)
    with serving(store_url, tmp_path / "server.log", "--webhook-secret", SECRET) as running:
        body = orjson.dumps({"taskId": task_id})
        headers = {
            "Content-Type": "application/json",
            **signed_headers(SECRET, f"completion_{task_id}", body, dt.datetime.now(dt.UTC)),
        }
        response = httpx.post(
            f"{running.base_url}/data/deletion-requests/{task_id}/completion",
            content=body,
            headers=headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["completedTime"] is not None
    with open_store(store_url) as store:
        task = store.get(task_id)
        assert task is not None
        assert task.completed_time is not None


def test_without_a_review_url_review_alerts_go_to_the_log(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/log.db"
    task_id = due_task(store_url, 13)  # ready: owes a review alert
    log = tmp_path / "server.log"
    with serving(store_url, log, "--deliver-interval", "0.2"):

        def reviewed() -> bool:  # delivered, not only not yet owed (before the first advance)
            with open_store(store_url) as store:
                task = store.get(task_id)
            return task is not None and any(s.event == "review.delivered" for s in task.history)

        wait_for(reviewed)
    messages = [json.loads(line)["message"] for line in log.read_text().splitlines() if line]
    assert any(
        m.startswith(f'review alert: {{"type":"review","taskId":"{task_id}"') for m in messages
    )
    assert any("No --handoff-url" in m for m in messages)
    with open_store(store_url) as store:
        task = store.get(task_id)
    assert task is not None
    assert [(s.event, s.by) for s in task.history][-1] == ("review.delivered", "log")


def test_a_server_started_with_no_deliver_leaves_the_outbox_to_another(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/two.db"
    task_id = due_task(store_url, 16)
    secret = SECRET
    with WebhookReceiver(secret) as idle, WebhookReceiver(secret) as active:
        quiet = ("--no-deliver", "--handoff-url", idle.url, "--review-url", idle.url)
        with serving(
            store_url, tmp_path / "a.log", *quiet, "--webhook-secret", SECRET, *FAST_DELIVERY
        ):

            def owed() -> bool:  # the quiet server's advance has stored what is owed
                with open_store(store_url) as store:
                    task = store.get(task_id)
                return task is not None and task.outbox == {"review", "handoff"}

            wait_for(owed)
            time.sleep(1.5)  # several delivery rounds' worth: it must not deliver
            assert idle.received == []
            with serving(
                store_url,
                tmp_path / "b.log",
                "--handoff-url",
                active.url,
                "--review-url",
                active.url,
                "--webhook-secret",
                SECRET,
                *FAST_DELIVERY,
            ):
                wait_for(lambda: len(active.acknowledged) == 2)
    assert idle.received == []
    assert sorted(body["type"] for body in active.acknowledged) == ["handoff", "review"]
    assert {body["taskId"] for body in active.acknowledged} == {task_id}


def test_serve_purges_after_its_configured_retention(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/purge.db"
    task_id = due_task(store_url, age_days=20)
    with open_store(store_url) as store:  # actioned 5 days ago, completed 4 days ago
        service = DeletionService(
            store, ManualClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=4))
        )
        service.advance_due()
        service.complete(task_id, by="deleter")

    def purged() -> bool:
        with open_store(store_url) as store:
            task = store.get(task_id)
        return task is not None and task.purged_time is not None

    fast = ("--advance-interval", "0.2")
    with serving(store_url, tmp_path / "a.log", *fast):  # the default keeps 30 days
        time.sleep(1)
        assert not purged()
    with serving(store_url, tmp_path / "b.log", *fast, "--retention-days", "3"):
        wait_for(purged, timeout=15)
