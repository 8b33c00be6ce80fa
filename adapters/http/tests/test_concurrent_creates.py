"""Concurrent creates through a real server with two workers, on SQLite and on PostgreSQL:
each gets its own task, keys replay, and every answered task is stored."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from deletion_requests_http.testing import serving

from deletion_requests import open_store

from .conftest import cli


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/batched.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_concurrent_creates_each_get_their_own_task_and_keys_replay(
    tmp_path: Path, store: str
) -> None:
    cli("accounts", "allow", "acct-1", "--store", store)
    app = json.loads(cli("apps", "create", "--account", "acct-1", "--json", "--store", store))
    auth = (app["appId"], app["appSecret"])

    def create(n: int) -> tuple[int, int, dict[str, object]]:
        key = {"Idempotency-Key": f"key-{n % 10}"} if n < 40 else {}
        email = f"person{n % 10}@example.com" if n < 40 else f"other{n}@example.com"
        response = client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-1", "rawEmails": [email]},
            headers=key,
            auth=auth,
        )
        return n, response.status_code, response.json()

    with (
        serving(store, tmp_path / "server.log", "--workers", "2") as running,
        httpx.Client(base_url=running.base_url, timeout=30) as client,
        ThreadPoolExecutor(max_workers=24) as pool,
    ):
        results = list(pool.map(create, range(80)))
        reused = client.post(
            "/data/deletion-requests/emails",
            json={"accountId": "acct-1", "rawEmails": ["someone-else@example.com"]},
            headers={"Idempotency-Key": "key-3"},
            auth=auth,
        )
    assert {status for _, status, _ in results} == {202}
    by_key: dict[int, set[object]] = {}
    for n, _, body in results[:40]:
        by_key.setdefault(n % 10, set()).add(body["taskId"])
    assert all(len(ids) == 1 for ids in by_key.values())  # one task per key, replayed
    fresh = {body["taskId"] for _, _, body in results[40:]}
    assert len(fresh) == 40
    assert reused.status_code == 400
    assert "Idempotency-Key was already used" in reused.json()["error"]["message"]
    with open_store(store) as opened:
        for ids in by_key.values():
            (task_id,) = ids
            assert opened.get(str(task_id)) is not None
        assert all(opened.get(task_id) is not None for task_id in fresh)
