"""Status callbacks over HTTP: a loopback receiver verifies each with the `standardwebhooks`
package; the server runs with a `ManualClock` the test moves (in process), then several real
servers share one PostgreSQL store, and one is killed mid-delivery."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from deletion_requests_http import new_webhook_secret
from deletion_requests_http.testing import bootstrapped, serving, serving_app

from deletion_requests import AccessAdmin, ManualClock, open_store
from deletion_requests.stores import Awaiting
from deletion_requests.testing import WebhookReceiver

from .conftest import T0, basic
from .test_claimed_deliveries import kill_tree, owed_handoffs
from .test_handoff_server import wait_for

DAY = dt.timedelta(days=1)


def test_an_app_hears_ready_actioned_and_cancelled_and_nothing_of_other_apps(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    store_url = f"sqlite:///{tmp_path}/callbacks.db"
    server = bootstrapped(
        store_url, clock=clock, deliver=True, advance_interval=0.1, deliver_interval=0.1
    )
    server.admin.allow_account("acct-1")
    (a, secret_a), (b, secret_b) = (server.admin.create_app(["acct-1"]) for _ in range(2))
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(WebhookReceiver(new_webhook_secret()))
        receiver.secret = server.admin.set_callback(a.app_id, receiver.url, allow_http=True)
        app = server.http(background=True)
        client = stack.enter_context(httpx.Client(base_url=stack.enter_context(serving_app(app))))

        def create(headers: dict[str, str]) -> str:
            answer = client.post(
                "/data/deletion-requests/emails",
                json={"accountId": "acct-1", "rawEmails": [f"{uuid.uuid4()}@example.com"]},
                headers=headers,
            )
            assert answer.status_code == 202, answer.text
            task_id: str = answer.json()["taskId"]
            return task_id

        def heard() -> list[tuple[str, str]]:
            return [(body["eventType"], body["task"]["taskId"]) for body in receiver.acknowledged]

        mine, cancelled = create(basic(a.app_id, secret_a)), create(basic(a.app_id, secret_a))
        theirs = create(basic(b.app_id, secret_b))
        gone = client.delete(
            f"/data/deletion-requests/{cancelled}", headers=basic(a.app_id, secret_a)
        )
        assert gone.status_code == 200
        wait_for(lambda: ("cancelled", cancelled) in heard())
        clock.advance(12 * DAY)
        wait_for(lambda: ("ready", mine) in heard())
        assert ("actioned", mine) not in heard()
        clock.advance(3 * DAY)
        wait_for(lambda: ("actioned", mine) in heard())
        time.sleep(0.5)  # more rounds: nothing more, nothing twice
    assert heard() == [("cancelled", cancelled), ("ready", mine), ("actioned", mine)]
    assert theirs not in {task_id for _, task_id in heard()}
    assert receiver.refused == 0
    assert receiver.ids == [f"{event}_{task_id}" for event, task_id in heard()]
    shown = receiver.acknowledged[-1]["task"]
    assert shown["status"] == "actioned"
    assert "identifiers" not in shown
    with open_store(store_url, create=False) as store:
        task = store.get(mine)
        assert task is not None
        delivered = [s.detail for s in task.history if s.event == "callback.delivered"]
        assert delivered == ["ready", "actioned"]
    server.close()


def register(store_url: str, url: str) -> tuple[str, str]:
    """An app whose callbacks go to *url*: its id and callback secret."""
    with open_store(store_url) as store:
        admin = AccessAdmin(store)
        admin.allow_account("acct-1")
        app, _ = admin.create_app(["acct-1"])
        return app.app_id, admin.set_callback(app.app_id, url, allow_http=True)


def owed_callbacks(store_url: str, app_id: str, count: int) -> set[tuple[str, str]]:
    """*count* tasks of *app_id*, moved to actioned: each owes a `ready` and an `actioned`
    callback. The (event, task) pairs owed."""
    owed = owed_handoffs(store_url, count, created_by=app_id)
    return {(event, task_id) for task_id in owed for event in ("ready", "actioned")}


def owing(store_url: str) -> int:
    with open_store(store_url, create=False) as store:
        return len(store.awaiting(Awaiting.CALLBACK, dt.datetime.now(dt.UTC), 10_000))


def three_servers(store_url: str, directory: Path, lease: str) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    options = ("--deliver-interval", "0.1", "--delivery-lease", lease, "--no-console")
    stack.servers = [  # type: ignore[attr-defined]
        stack.enter_context(serving(store_url, directory / f"s{i}.log", *options)) for i in range(3)
    ]
    return stack


def test_three_servers_send_each_callback_once(postgres_url: str, tmp_path: Path) -> None:
    with (
        WebhookReceiver(new_webhook_secret()) as receiver,
        three_servers(postgres_url, tmp_path, "120"),
    ):
        app_id, receiver.secret = register(postgres_url, receiver.url)
        # Owed once all three deliver, so that they race for every callback.
        expected = owed_callbacks(postgres_url, app_id, 300)
        wait_for(lambda: owing(postgres_url) == 0, timeout=120)
        time.sleep(1)
    sent = Counter((body["eventType"], body["task"]["taskId"]) for body in receiver.received)
    assert set(sent) == expected
    assert [pair for pair, n in sent.items() if n > 1] == []
    assert receiver.refused == 0


def test_a_server_killed_mid_delivery_loses_no_callback(postgres_url: str, tmp_path: Path) -> None:
    with WebhookReceiver(new_webhook_secret()) as receiver:
        receiver.delay = 0.01
        with three_servers(postgres_url, tmp_path, "2") as stack:
            app_id, receiver.secret = register(postgres_url, receiver.url)
            expected = owed_callbacks(postgres_url, app_id, 200)
            wait_for(lambda: len(receiver.received) >= 100, timeout=60)
            victim = stack.servers[0]  # type: ignore[attr-defined]
            kill_tree(victim.process.pid)
            victim.process.wait(10)
            wait_for(lambda: owing(postgres_url) == 0, timeout=120)
            time.sleep(1)
    sent = Counter((body["eventType"], body["task"]["taskId"]) for body in receiver.received)
    assert set(sent) == expected  # every event arrived
    assert len([pair for pair, n in sent.items() if n > 1]) <= 1  # only the one in flight
