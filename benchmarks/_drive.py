"""The HTTP benchmark's tools: servers started as `serve` runs them, wrk to drive them, and
what a run is read by (rates, server CPU, PostgreSQL commits)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
from deletion_requests_http.testing import free_port

WRK_DIR = Path(__file__).parent / "wrk"
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
QUIET = ("--advance-interval", "3600", "--no-deliver")  # no background work while measuring
START = 120
"""Seconds a server may take to start: a busy machine starts several at once."""
POSTGRES = os.environ.get("DELETION_REQUESTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test")


@contextlib.contextmanager
def bare_app(workers: int, log: Path) -> Iterator[str]:
    """The bare app under Granian with *workers*, as `serve` runs its app."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--http",
        "1",
        "--no-ws",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "benchmarks._bare_app:app",
    ]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = process.pid
    try:
        wait_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) *pid* and every process below it have used so far, from
    /proc: a server's workers and its `serve` process together."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


SERVER_PIDS: dict[str, int] = {}
"""The process of each server a case runs, by its base URL (for `cpu_seconds`)."""


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310 (loopback)
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


def wrk(
    script: str, url: str, seconds: int, connections: int, timeouts_ok: bool = False, **env: str
) -> dict[str, int]:
    """One wrk run; raises on any non-2xx answer or socket error, and on a request that timed
    out (wrk's 2 s) unless *timeouts_ok*."""
    result = subprocess.run(
        [
            *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"),
            *("-s", str(WRK_DIR / script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "WRK_DIR": str(WRK_DIR), **env},
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("{"))
    report: dict[str, int] = json.loads(line)
    if not acceptable(report, timeouts_ok):
        raise RuntimeError(f"wrk saw errors: {report}\n{result.stdout}")
    return report


def acceptable(report: dict[str, int], timeouts_ok: bool = False) -> bool:
    """Whether a wrk run's *report* (`wrk/report.lua`) had no non-2xx answer, no connect, read
    or write error, and no timed-out request unless *timeouts_ok*."""
    if report["non_2xx"] or report["socket_errors"]:
        return False
    return timeouts_ok or not report["timeouts"]


def rate(report: dict[str, int]) -> float:
    return report["requests"] / (report["duration_us"] / 1e6)


def make_app(store_url: str, accounts: list[str], python: str = sys.executable) -> str:
    """Allow the accounts and create an app for them with the CLI that *python* runs (so a
    baseline's store is set up by the baseline's own code, at its own schema version); the
    Basic Authorization header value."""

    def cli(*args: str) -> str:
        command = [python, "-m", "deletion_requests_http", *args, "--store", store_url]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    for account in accounts:
        cli("accounts", "allow", account)
    app = json.loads(cli("apps", "create", *(f"--account={a}" for a in accounts), "--json"))
    token = base64.b64encode(f"{app['appId']}:{app['appSecret']}".encode()).decode()
    return f"Basic {token}"


def commits(database_url: str) -> int:
    """The database's committed transactions so far (`pg_stat_database.xact_commit`)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def bearer(base: str, basic: str) -> str:
    response = httpx.post(
        f"{base}/auth/oauth2/token",
        headers={"Authorization": basic},
        data={"grant_type": "client_credentials"},
    )
    token: str = response.json()["access_token"]
    return "Bearer " + token
