"""`/healthz` and `/metrics` show the background work: the rounds' ages, 503 in the envelope
when a round has stopped while work is owed, 200 when nothing is owed; and the store's
background lease, held by one store object at a time."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deletion_requests_http.testing import bootstrapped
from starlette.testclient import TestClient

from deletion_requests import Store, open_store

from .conftest import basic


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_until(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.fixture
def stalled() -> Iterator[tuple[TestClient, Clock, dict[str, str]]]:
    """An app whose rounds run once, then not for an hour: its client, its rounds' clock, and
    an app's credentials."""
    application = bootstrapped(
        advance_interval=3600,
        deliver=True,
        deliver_interval=3600,
        lease_interval=0.05,
        metrics_token="scrape",  # noqa: S106 (a test's token)
    )
    application.admin.allow_account("acct-1")
    app, secret = application.admin.create_app(["acct-1"])
    clock = Clock()
    background = application.background(now=clock)
    with TestClient(application.http(background=background)) as client:
        wait_until(
            lambda: all(
                round_["age"] == 0
                for round_ in client.get("/healthz").json()["background"]["rounds"].values()
            )
        )
        yield client, clock, basic(app.app_id, secret)
    application.close()


def test_fresh_rounds_report_their_ages_and_the_lease(
    stalled: tuple[TestClient, Clock, dict[str, str]],
) -> None:
    client, clock, _ = stalled
    clock.now += 12.5
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "background": {
            "lease": True,
            "rounds": {
                "maintenance": {"age": 12.5, "staleAfter": 3 * 3600 + 30},
                "delivery": {"age": 12.5, "staleAfter": 3 * 3600 + 30},
            },
        },
    }


def test_stopped_rounds_with_nothing_owed_stay_200(
    stalled: tuple[TestClient, Clock, dict[str, str]],
) -> None:
    client, clock, _ = stalled
    clock.now += 3 * 3600 + 31
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["background"]["rounds"]["maintenance"]["age"] == 3 * 3600 + 31


def test_a_stopped_maintenance_round_with_a_task_owed_is_503_in_the_envelope(
    stalled: tuple[TestClient, Clock, dict[str, str]],
) -> None:
    client, clock, credentials = stalled
    created = client.post(
        "/data/deletion-requests/emails",
        json={"accountId": "acct-1", "rawEmails": ["person@example.com"]},
        headers=credentials,
    )
    assert created.status_code == 202
    assert client.get("/healthz").status_code == 200
    clock.now += 3 * 3600 + 31
    answer = client.get("/healthz")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["error"] == "SERVICE_UNAVAILABLE"
    assert "maintenance last finished 10831 s ago" in error["message"]
    assert "delivery" not in error["message"]  # nothing is in the outbox


def test_metrics_carry_when_each_round_last_finished(
    stalled: tuple[TestClient, Clock, dict[str, str]],
) -> None:
    client, _, _ = stalled
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape"}).text
    for name in ("maintenance", "delivery"):
        line = next(
            line
            for line in text.splitlines()
            if line.startswith(
                f'deletion_requests_background_round_finished_timestamp_seconds{{round="{name}"}}'
            )
        )
        assert abs(float(line.split()[-1]) - time.time()) < 3600


# -- the stores' lease ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "jsonfiles", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/lease.db"
    if request.param == "jsonfiles":
        return f"jsonfiles:///{tmp_path}/lease"
    url: str = request.getfixturevalue("postgres_url")
    return url


def take(store: Store) -> bool:
    held: bool = store.take_lease()  # type: ignore[attr-defined]
    return held


def test_one_store_object_holds_the_lease_until_it_gives_it_up(store_url: str) -> None:
    with open_store(store_url) as first, open_store(store_url) as second:
        assert take(first)
        assert not take(second)
        assert take(first)  # kept
        first.release_lease()  # type: ignore[attr-defined]
        assert take(second)
        assert not take(first)
        second.close()
        assert take(first)


HOLD = """
import sys, time
from deletion_requests import open_store
store = open_store(sys.argv[1])
assert store.take_lease()
print("held", flush=True)
time.sleep(600)
"""


def test_the_lease_of_a_killed_process_is_free_at_once(store_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, store_url], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        with open_store(store_url) as store:
            assert not take(store)
            holder.kill()
            holder.wait()
            wait_until(lambda: take(store), timeout=10)
    finally:
        holder.kill()
        holder.wait()


def test_a_memory_store_is_always_its_own_holder() -> None:
    with open_store("memory://") as store:
        assert take(store)
        assert take(store)
