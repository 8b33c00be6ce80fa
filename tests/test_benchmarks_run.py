"""The benchmarks still run against today's code: each measured function once, at toy sizes.

No timing is asserted here (timings belong to `benchmarks/`, not to the test suite); this only
keeps a schema or API change from breaking a benchmark silently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from deletion_requests_http.testing import serving

from benchmarks import _memory_server as memory_server_module
from benchmarks import _minimal_app as minimal_app
from benchmarks import core, instructions, storage
from benchmarks._bare_app import app as bare_app
from benchmarks.http import (
    acceptable,
    bare_server,
    cpu_seconds,
    make_app,
    memory_server,
    minimal_server,
    running,
    wrk,
)


def test_core_benchmark_functions_run() -> None:
    core.bare_trigger(10)
    core.dict_table(10)
    assert core.creates_per_second(10) > 0
    assert len(core.cancel_vs_trigger(10, rounds=1)) == 3
    assert core.advance_due_seconds(20, repeats=1) > 0
    assert core.bytes_per_task(10) > 0


def test_storage_benchmark_functions_run(tmp_path: Path) -> None:
    rate, ratio = storage.add_ratio(tmp_path, 5, 1, "NORMAL")
    assert rate > 0
    assert ratio > 0
    storage.batch_cost(tmp_path, 50, 4, 3, 1)
    storage.populate(tmp_path / "list.db", 2020)  # a full page for each of 10 accounts
    assert len(storage.page_latency(tmp_path / "list.db", 2020, 5)) == 5
    assert storage.advance_seconds(tmp_path / "advance.db", 20, dt.timedelta(days=20)) > 0
    adds, pages = storage.jsonfiles_rates(tmp_path / "json", 10)
    assert adds > 0
    assert pages > 0


def test_instruction_benchmark_drives_the_apps(tmp_path: Path) -> None:
    """What callgrind counts: creates through each app, every one answered 202 (drive checks)."""
    app, authorization = instructions.real_app(tmp_path)
    asyncio.run(instructions.drive(app, 40, authorization))
    asyncio.run(instructions.drive(bare_app, 40, "Basic unused"))
    memory_app, authorization = instructions.memory_app()
    asyncio.run(instructions.drive(memory_app, 40, authorization))
    # The stripped app patches the adapter's module, so it runs in a child, as under callgrind.
    child = ["--child", "stripped", "--creates", "40", "--directory", str(tmp_path)]
    subprocess.run([sys.executable, "-m", "benchmarks.instructions", *child], check=True)


@pytest.mark.parametrize("part", memory_server_module.PARTS)
def test_instruction_benchmark_drives_the_real_app_without_each_part(
    tmp_path: Path, part: str
) -> None:
    """`--parts`: the real app (SQLite, its writer process) without one part still answers
    every create 202 (drive checks)."""
    child = ["--child", "real", "--creates", "20", "--directory", str(tmp_path)]
    subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", *child, "--without", part], check=True
    )


def test_stripping_an_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="no such part"):
        memory_server_module.stripped(memory_server_module.in_memory()[0].app(), ["logs"])


@pytest.mark.parametrize("plain", [False, True], ids=["starlette", "plain"])
def test_minimal_app_stores_every_create_it_answers(tmp_path: Path, plain: bool) -> None:
    builder = minimal_app.build_plain if plain else minimal_app.build
    path = tmp_path / "minimal.db"
    app = builder(str(path), "Basic yes", "acct-0")
    asyncio.run(instructions.drive(app, 40, "Basic yes"))  # each answered 202 (drive checks)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (40,)
        assert conn.execute("SELECT count(DISTINCT task) FROM task_identifiers").fetchone() == (40,)
    refused = builder(str(tmp_path / "refused.db"), "Basic other", "acct-0")
    with pytest.raises(RuntimeError, match="403"):
        asyncio.run(instructions.drive(refused, 1, "Basic yes"))


def _create(base: str, authorization: str) -> httpx.Response:
    """The create every server test sends: one raw address for acct-0."""
    return httpx.post(
        f"{base}/data/deletion-requests/emails",
        headers={"Authorization": authorization},
        json={"accountId": "acct-0", "rawEmails": ["someone@example.com"]},
    )


def test_plain_minimal_server_serves_creates_over_http(tmp_path: Path) -> None:
    """As `benchmarks.http` runs it: uvicorn's lifespan, the health check, a create."""
    command, port = minimal_server(tmp_path, "Basic yes", plain=True)
    with running(command, port, tmp_path / "server.log") as (base, _):
        created = _create(base, "Basic yes")
        assert created.status_code == 202, created.text
        assert created.headers["location"] == f"/data/deletion-requests/{created.json()['taskId']}"


BURN_THEN_WAIT = (
    "import time\nend = time.process_time() + 0.5\n"
    "while time.process_time() < end: pass\ntime.sleep(30)"
)


def test_a_wrk_run_fails_on_errors_and_on_timeouts_unless_they_are_allowed() -> None:
    clean = {"requests": 10, "non_2xx": 0, "socket_errors": 0, "timeouts": 0}
    assert acceptable(clean)
    assert not acceptable({**clean, "non_2xx": 1}, timeouts_ok=True)
    assert not acceptable({**clean, "socket_errors": 1}, timeouts_ok=True)
    assert not acceptable({**clean, "timeouts": 1})
    assert acceptable({**clean, "timeouts": 1}, timeouts_ok=True)


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_wrk_reports_requests_and_timeouts_apart_from_other_errors(tmp_path: Path) -> None:
    command, port = bare_server()
    with running(command, port, tmp_path / "bare.log") as (url, _):
        report = wrk("create.lua", url, 1, 2, AUTH="Basic eDp5", ACCOUNT="acct-0")
    assert report["requests"] > 0
    assert report["non_2xx"] == report["socket_errors"] == report["timeouts"] == 0
    assert report["p50_us"] <= report["p99_us"]


def test_cpu_seconds_reads_a_process_and_counts_its_children() -> None:
    assert cpu_seconds(os.getpid()) > 0
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN_THEN_WAIT!r}])"
    # its child burns 0.5 s of CPU; a session of their own, to stop both
    parent = subprocess.Popen([sys.executable, "-c", child], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds(parent.pid) < 0.45 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cpu_seconds(parent.pid) >= 0.45  # the parent alone spends far less
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


@pytest.mark.parametrize("stripped", [False, True], ids=["whole", "stripped"])
def test_memory_server_answers_checks_and_keeps_creates(tmp_path: Path, stripped: bool) -> None:
    """The in-memory yardstick answers a create as the real server does, refuses bad credentials
    and keeps the task. Stripped, it answers with two fields and no request id, and logs no
    access line."""
    command, port, credentials = memory_server(tmp_path, stripped)
    log = tmp_path / "server.log"
    with running(command, port, log) as (base, _):
        authorization = credentials.read_text()
        created = _create(base, authorization)
        assert created.status_code == 202, created.text
        if stripped:
            assert set(created.json()) == {"taskId", "status"}
            assert "x-request-id" not in created.headers
        else:
            assert "creationTime" in created.json()
            assert "x-request-id" in created.headers
        assert _create(base, "Basic bm86c3VjaA==").status_code == 403
        listed = httpx.get(
            f"{base}/data/deletion-requests", headers={"Authorization": authorization}
        )
        assert [task["taskId"] for task in listed.json()] == [created.json()["taskId"]]
    logged = log.read_text()
    assert ("deletion_requests.http.access" in logged) is not stripped
    assert "someone@example.com" not in logged


def test_baseline_server_is_serve_run_by_the_python_given(tmp_path: Path) -> None:
    """`--baseline-python`: here this checkout's own python stands in for another checkout's."""
    store = f"sqlite:///{tmp_path}/baseline.db"
    authorization = make_app(store, ["acct-0"])
    with serving(store, tmp_path / "server.log", python=sys.executable) as server:
        assert server.process.args[0] == sys.executable  # type: ignore[index]
        created = _create(server.base_url, authorization)
        assert created.status_code == 202, created.text
