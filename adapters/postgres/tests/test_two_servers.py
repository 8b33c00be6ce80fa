"""Two real servers on one PostgreSQL schema: shared tasks, and no acknowledged task lost
when one of them is killed with SIGKILL."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
from deletion_requests_http.testing import run_cli as cli
from deletion_requests_http.testing import serving

from .conftest import store_url

ACCOUNT = "acct-1"


def test_two_servers_share_tasks_and_survive_a_kill(tmp_path: Path) -> None:
    store = store_url(str(tmp_path))
    cli("accounts", "allow", ACCOUNT, "--store", store)
    app = json.loads(cli("apps", "create", "--account", ACCOUNT, "--json", "--store", store))
    auth = (app["appId"], app["appSecret"])
    with serving(store, tmp_path / "one.log") as one, serving(store, tmp_path / "two.log") as two:
        first, base_1, base_2 = one.process, one.base_url, two.base_url
        # a token from one server works on the other: they share the stored signing key
        token = httpx.post(
            f"{base_1}/auth/oauth2/token", auth=auth, data={"grant_type": "client_credentials"}
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base_1}/data/deletion-requests/emails",
            headers=bearer,
            json={"accountId": ACCOUNT, "rawEmails": ["shared@example.com"]},
        )
        assert created.status_code == 202, created.text
        task_id = created.json()["taskId"]
        listed = httpx.get(f"{base_2}/data/deletion-requests", headers=bearer).json()
        assert [t["taskId"] for t in listed] == [task_id]
        cancelled = httpx.delete(f"{base_2}/data/deletion-requests/{task_id}", headers=bearer)
        assert cancelled.status_code == 200
        assert (
            httpx.get(f"{base_1}/data/deletion-requests/{task_id}", auth=auth).json()["status"]
            == "cancelled"
        )

        # acknowledged creates on the first server survive its SIGKILL
        acknowledged = []
        with httpx.Client(base_url=base_1, auth=auth) as client:
            for n in range(40):
                response = client.post(
                    "/data/deletion-requests/emails",
                    json={"accountId": ACCOUNT, "rawEmails": [f"user{n}@example.com"]},
                )
                assert response.status_code == 202
                acknowledged.append(response.json()["taskId"])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        seen: list[str] = []
        url = "/data/deletion-requests?limit=1000"
        with httpx.Client(base_url=base_2, auth=auth) as client:
            seen = [t["taskId"] for t in client.get(url).json()]
        assert set(acknowledged) <= set(seen)
