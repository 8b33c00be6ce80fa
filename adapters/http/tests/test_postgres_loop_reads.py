"""On PostgreSQL, the client reads (authentication, the access lookup, a task, a page, the
idempotency key's task) are awaited on the event loop over the store's `LoopReads` while the
app's lifespan runs: they are answered with the store's own (threaded) pool closed, refused
apps and tasks answer as on every store, and an outage is a 503 with `Retry-After`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from deletion_requests_http._bootstrap import Application
from deletion_requests_http.testing import bootstrapped
from starlette.testclient import TestClient

from deletion_requests import ManualClock

from .conftest import KEY, T0, basic
from .test_postgres_outages import Proxy, answered, assert_unavailable
from .test_postgres_outages import proxied as proxied  # the fixture, shared

TASKS = "/data/deletion-requests"


class Served:
    """An application on PostgreSQL served with its lifespan, two apps on two accounts."""

    def __init__(self, url: str) -> None:
        self.clock = ManualClock(T0)
        self.application: Application = bootstrapped(url, clock=self.clock, signing_key=KEY)
        admin = self.application.admin
        admin.allow_account("acct-a")
        admin.allow_account("acct-b")
        app_a, secret_a = admin.create_app(["acct-a"])
        app_b, secret_b = admin.create_app(["acct-b"])
        self.app_a = app_a.app_id
        self.a, self.b = basic(app_a.app_id, secret_a), basic(app_b.app_id, secret_b)
        self.wrong = basic(app_a.app_id, secret_b)
        self.client = TestClient(self.application.http(), raise_server_exceptions=False)

    def create(self, **headers: str) -> dict[str, Any]:
        response = self.client.post(
            f"{TASKS}/emails",
            json={"accountId": "acct-a", "rawEmails": ["person@example.com"]},
            headers={**self.a, **headers},
        )
        assert response.status_code == 202, response.text
        found: dict[str, Any] = response.json()
        return found

    def close_the_stores_own_pool(self) -> None:
        """From here, a read on the store's threaded pool fails: what answers is the loop's."""
        self.application.store._pool.close()  # type: ignore[attr-defined]


@pytest.fixture
def served(postgres_url: str) -> Iterator[Served]:
    world = Served(postgres_url)
    try:
        with world.client:
            yield world
    finally:
        world.application.close()


def test_reads_are_answered_on_the_loop_with_the_stores_own_pool_closed(served: Served) -> None:
    client = served.client
    first = served.create()
    served.clock.advance(dt.timedelta(seconds=1))
    keyed = served.create(**{"Idempotency-Key": "order-1"})
    token = client.post(
        "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=served.a
    ).json()["access_token"]
    served.close_the_stores_own_pool()

    shown = client.get(f"{TASKS}/{first['taskId']}", headers=served.a)
    assert shown.status_code == 200, shown.text
    assert shown.json()["taskId"] == first["taskId"]
    assert shown.json()["outcome"] is None
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{TASKS}/{keyed['taskId']}", headers=bearer).status_code == 200
    page = client.get(TASKS, headers=served.a, params={"limit": "1"})
    assert page.status_code == 200, page.text
    assert [task["taskId"] for task in page.json()] == [keyed["taskId"]]
    rest = client.get(page.links["next"]["url"], headers=served.a)
    assert [task["taskId"] for task in rest.json()] == [first["taskId"]]
    assert served.create(**{"Idempotency-Key": "order-1"})["taskId"] == keyed["taskId"]

    other = client.post(
        f"{TASKS}/emails",
        json={"accountId": "acct-a", "rawEmails": ["other@example.com"]},
        headers={**served.a, "Idempotency-Key": "order-1"},
    )
    assert other.status_code == 400, other.text
    assert client.get(f"{TASKS}/{first['taskId']}", headers=served.b).status_code == 404
    assert client.get(f"{TASKS}/not-a-task-id", headers=served.a).status_code in (400, 404)
    assert client.get(TASKS, headers=served.b).json() == []
    assert client.get(TASKS, headers=served.wrong).status_code == 403
    assert client.get(TASKS, headers={"Authorization": "Bearer nope"}).status_code == 403


def test_a_bulk_cancel_a_completed_tasks_outcome_and_a_revocation_at_once(
    served: Served,
) -> None:
    client = served.client
    task = served.create()
    other = served.create()
    cancelled = client.post(
        f"{TASKS}/cancellations", json={"taskIds": [other["taskId"]]}, headers=served.a
    )
    assert cancelled.json() == {"results": [{"taskId": other["taskId"], "status": "cancelled"}]}
    served.clock.advance(dt.timedelta(days=40))
    served.application.service.advance_due()
    served.application.service.complete(task["taskId"], "deleter")
    shown = client.get(f"{TASKS}/{task['taskId']}", headers=served.a)
    assert shown.status_code == 200, shown.text
    assert shown.json()["outcome"] == "deleted"

    assert client.get(TASKS, headers=served.a).status_code == 200  # cached now
    served.application.admin.revoke_app(served.app_a)
    refused = client.get(TASKS, headers=served.a)
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize("outage", ["stall", "refuse"])
def test_an_outage_is_503_with_retry_after_on_the_loop_and_it_recovers(
    proxied: tuple[Proxy, str], outage: str
) -> None:
    proxy, url = proxied
    world = Served(url)
    try:
        with world.client as client:
            task = world.create()
            path = f"{TASKS}/{task['taskId']}"
            assert client.get(path, headers=world.a).status_code == 200
            getattr(proxy, outage)()
            assert_unavailable(answered(lambda: client.get(path, headers=world.a)))
            assert_unavailable(answered(lambda: client.get(TASKS, headers=world.a)))
            proxy.forward()
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
            while (shown := answered(lambda: client.get(path, headers=world.a))).status_code != 200:
                assert_unavailable(shown)
                assert dt.datetime.now(dt.UTC) < deadline, "no recovery in 30 s"
            assert client.get(TASKS, headers=world.a).status_code == 200
    finally:
        proxy.forward()
        world.application.close()
