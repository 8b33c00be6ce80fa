"""Two real servers on one PostgreSQL schema: shared tasks, and no acknowledged task lost
when one of them is killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

from .conftest import store_url

ACCOUNT = "acct-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "deletion_requests_http", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def serve(store: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deletion_requests_http",
                "serve",
                "--store",
                store,
                "--port",
                str(port),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


def test_two_servers_share_tasks_and_survive_a_kill(tmp_path: Path) -> None:
    store = store_url(str(tmp_path))
    cli("accounts", "allow", ACCOUNT, "--store", store)
    app = json.loads(cli("apps", "create", "--account", ACCOUNT, "--json", "--store", store))
    auth = (app["appId"], app["appSecret"])
    first, base_1 = serve(store, tmp_path / "one.log")
    second, base_2 = serve(store, tmp_path / "two.log")
    try:
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
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)
