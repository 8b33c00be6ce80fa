"""`deletion-requests serve` as an operator runs it: worker processes, stopping, limits."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from deletion_requests_http import Settings, _logs
from deletion_requests_http._serve import (
    HEADER_TIMEOUT,
    SETTINGS_ENV,
    Processes,
    worker_app,
    worker_environment,
)
from deletion_requests_http.console import ConsoleSettings
from deletion_requests_http.testing import free_port, serving
from starlette.testclient import TestClient

from deletion_requests import open_store

from .conftest import cli

SERVE = [sys.executable, "-m", "deletion_requests_http", "serve"]


def serve_refused(store: str, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`serve` that is expected to refuse to start: its outcome, stderr included."""
    return subprocess.run(
        [*SERVE, "--store", store, *options],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def allowed_app(store: str) -> tuple[str, str]:
    cli("accounts", "allow", "acct-1", "--store", store)
    app = json.loads(cli("apps", "create", "--account", "acct-1", "--json", "--store", store))
    return app["appId"], app["appSecret"]


def wait_until_serving(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("kind", "workers", "stop"),
    [
        ("sqlite", 1, signal.SIGTERM),
        ("sqlite", 2, signal.SIGTERM),
        ("sqlite", 2, signal.SIGINT),
        ("postgres", 2, signal.SIGTERM),
    ],
    ids=[
        "sqlite-one-process-sigterm",
        "sqlite-two-workers-sigterm",
        "sqlite-two-workers-sigint",
        "postgres-two-workers-sigterm",
    ],
)
def test_a_stop_during_a_burst_answers_in_flight_requests_and_keeps_every_202(
    tmp_path: Path, kind: str, workers: int, stop: signal.Signals, request: pytest.FixtureRequest
) -> None:
    """The signal goes to the whole process group, as a terminal's Ctrl+C or a service
    manager's stop does. Every create answered 202 is stored; the server exits 0, with no
    traceback and no ERROR line."""
    if kind == "sqlite":
        store = f"sqlite:///{tmp_path}/stop.db"
    else:
        store = request.getfixturevalue("postgres_url")
    auth = allowed_app(store)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SERVE, "--store", store, "--port", str(port), "--workers", str(workers)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, signalled whole below
        )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, process, log)
    accepted: list[str] = []
    statuses: list[int] = []
    stopping = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=base, auth=auth, timeout=30) as http:
            i = 0
            while not stopping.is_set() or i < 3:
                i += 1
                body = {"accountId": "acct-1", "rawEmails": [f"p{n}.{i}@example.com"]}
                try:
                    response = http.post("/data/deletion-requests/emails", json=body)
                except httpx.TransportError:
                    return  # the server has stopped listening
                statuses.append(response.status_code)
                if response.status_code == 202:
                    accepted.append(response.json()["taskId"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    os.killpg(process.pid, stop)
    stopping.set()
    assert process.wait(timeout=60) == 0
    for thread in threads:
        thread.join(30)
    output = log.read_text()
    assert accepted, output
    assert set(statuses) <= {202, 503}, output  # 503: the store refused (never seen so far)
    assert "Traceback" not in output
    assert " ERROR " not in output
    with open_store(store) as opened:
        missing = [task_id for task_id in accepted if opened.get(task_id) is None]
    assert missing == []


def test_heads_are_bounded_in_size_and_in_time(tmp_path: Path) -> None:
    """No proxy in front: a 1 MiB header is refused, and a connection that stops mid-head is
    closed after HEADER_TIMEOUT seconds rather than held open."""
    store = f"sqlite:///{tmp_path}/limits.db"
    with serving(store, tmp_path / "server.log") as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as big:
            head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20)
            with contextlib.suppress(OSError):  # refused before it was all sent
                big.sendall(head + b"\r\n\r\n")
            answer = big.recv(200)
        assert answer.startswith(b"HTTP/1.1 431")
        with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + 10) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            started = time.monotonic()
            assert slow.recv(200) == b""  # closed by the server
            assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_a_webhook_secret_that_is_not_a_standard_one_stops_serve_before_it_starts(
    tmp_path: Path,
) -> None:
    result = serve_refused(
        f"sqlite:///{tmp_path}/s.db",
        "--no-deliver",
        DELETION_REQUESTS_WEBHOOK_SECRET="abc",  # noqa: S106 (not a whsec_ secret, refused)
    )
    assert result.returncode == 1
    assert "starts with whsec_" in result.stderr
    assert "new-webhook-secret" in result.stderr
    assert "serving" not in result.stderr


def test_a_second_serve_on_a_taken_port_says_so_and_does_not_claim_to_serve(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path}/twice.db"
    with serving(store, tmp_path / "server.log") as running:
        port = running.base_url.rsplit(":", 1)[1]
        result = serve_refused(store, "--port", port)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "stop the server already running there" in result.stderr
    assert "serving" not in result.stderr


def test_a_worker_app_runs_the_background_work_under_the_stores_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker runs the background rounds while it holds the store's lease: of two worker
    apps on one store, one holds it and reports round ages; the other reports none."""
    settings = Settings(
        f"sqlite:///{tmp_path}/w.db", deliver=True, console=ConsoleSettings(), rate_limit="5/second"
    )
    monkeypatch.setenv(SETTINGS_ENV, worker_environment(Processes(settings, log_level="warning")))
    # A worker app configures the process's logging as a server's: put it back afterwards.
    monkeypatch.setattr(_logs, "_access_lines", _logs._access_lines)
    with TestClient(worker_app()) as first, TestClient(worker_app()) as second:
        reports = {}
        for _ in range(600):
            reports = {
                name: client.get("/healthz").json()["background"]
                for name, client in (("first", first), ("second", second))
            }
            if any(report["lease"] for report in reports.values()):
                break
            time.sleep(0.05)
        holders = [name for name, report in reports.items() if report["lease"]]
        assert len(holders) == 1, reports
        other = "second" if holders == ["first"] else "first"
        assert reports[other]["rounds"]["maintenance"]["age"] is None
        assert set(reports[holders[0]]["rounds"]) == {"maintenance", "delivery"}


def test_every_serve_option_can_come_from_its_environment_variable(tmp_path: Path) -> None:
    """DELETION_REQUESTS_<OPTION>: read (a bad value is refused by name), and listed in
    `serve --help`."""
    help_text = " ".join(cli("serve", "--help").split())
    for option in ("HOST", "PORT", "WORKERS", "ADVANCE_INTERVAL", "LEASE_INTERVAL", "LOG_LEVEL"):
        assert f"DELETION_REQUESTS_{option}" in help_text
    result = serve_refused(f"sqlite:///{tmp_path}/env.db", DELETION_REQUESTS_WORKERS="0")
    assert result.returncode == 2
    assert "--workers" in result.stderr
    with serving(f"sqlite:///{tmp_path}/taken.db", tmp_path / "server.log") as running:
        port = running.base_url.rsplit(":", 1)[1]
        taken = serve_refused(f"sqlite:///{tmp_path}/env.db", DELETION_REQUESTS_PORT=port)
    assert taken.returncode == 1
    assert f"port {port}" in taken.stderr


def test_no_answer_names_the_server_software(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path}/banner.db", tmp_path / "server.log") as running:
        for path in ("/healthz", "/nope", "/console/sign-in", "/docs", "/metrics"):
            answer = httpx.get(f"{running.base_url}{path}")
            assert answer.headers.get_list("server") == [""], path
            assert not any("granian" in value.lower() for value in answer.headers.values())


def test_every_serve_option_has_its_variable_and_is_documented() -> None:
    from deletion_requests_http._cli import serve as serve_command

    documented = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    options = [p for p in serve_command.params if p.name != "help"]
    assert len(options) > 15
    for option in options:
        flag = max(option.opts, key=len).removeprefix("--")
        variable = f"DELETION_REQUESTS_{flag.replace('-', '_').upper()}"
        assert option.envvar == variable, option.name
        assert variable in documented, variable
