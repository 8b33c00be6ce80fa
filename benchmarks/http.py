"""HTTP benchmark: creates a second and their latency, `deletion-requests serve` against the
code before a change (another commit's `serve`, at its own best settings) and against a bare
Starlette app under the same server and workers, in one run, rounds alternating. wrk is the
load generator (`apt-get install wrk`).

Run: uv run python -m benchmarks.http [--baseline REF | --baseline-python PYTHON]
     [--rounds 3] [--seconds 8] [--only sqlite-w2,sqlite-w2-c32,sqlite-w1,postgres-w2,list,auth]

`list` measures the p99 of a page of 100 at 10,000 and at 1,000,000 tasks; `auth` the requests
a second of Bearer against Basic.

`--baseline REF` checks REF out into a temporary git worktree and builds its environment with
`uv sync`; `--baseline-python` names another checkout's `.venv/bin/python` instead. Without
either, only this checkout and the bare app run. Servers start through the CLI and are driven
over HTTP only; PostgreSQL runs count commits from `pg_stat_database.xact_commit`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import psycopg
from deletion_requests_http.testing import free_port, serving

from benchmarks.storage import populate
from deletion_requests import Caller, DeletionService, open_store

WRK_DIR = Path(__file__).parent / "wrk"
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
QUIET = ("--advance-interval", "3600", "--no-deliver")  # no background work while measuring
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
    try:
        wait_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


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


def baseline_python(ref: str, directory: Path) -> str:
    """A worktree of *ref* with its environment built; its python."""
    tree = directory / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], check=True)
    subprocess.run(["uv", "sync", "--quiet"], cwd=tree, check=True)
    return str(tree / ".venv" / "bin" / "python")


def store_url(kind: str, name: str, directory: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory}/{name}.db"
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    return f"{POSTGRES}?schema={schema}"


def drop_schemas(urls: list[str]) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        for url in urls:
            schema = url.rpartition("schema=")[2]
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def case(
    directory: Path,
    kind: str,
    workers: int,
    connections: int,
    rounds: int,
    seconds: int,
    baseline: str | None,
) -> None:
    """One store, worker count and load: this checkout's server, the baseline's (when given)
    and the bare app, each for *seconds* in turn, *rounds* times."""
    log = directory / "servers.log"
    urls = {"current": store_url(kind, "current", directory)}
    if baseline:
        urls["baseline"] = store_url(kind, "baseline", directory)
    pythons = {"current": sys.executable, "baseline": baseline or sys.executable}
    auth = {name: make_app(url, ["acct-0"], pythons[name]) for name, url in urls.items()}
    reports: dict[str, list[dict[str, int]]] = {name: [] for name in [*urls, "bare"]}
    per_create: dict[str, list[float]] = {name: [] for name in urls}
    try:
        with contextlib.ExitStack() as stack:
            bases = {
                "current": stack.enter_context(
                    serving(urls["current"], log, *QUIET, "--workers", str(workers))
                ).base_url,
                "bare": stack.enter_context(bare_app(workers, log)),
            }
            if baseline:  # the code before: one process, as it served (it has no --workers)
                bases["baseline"] = stack.enter_context(
                    serving(urls["baseline"], log, *QUIET, python=baseline)
                ).base_url
            for name, base in bases.items():  # warm up
                wrk("create.lua", base, 1, 4, AUTH=auth.get(name, "Basic x"), ACCOUNT="acct-0")
            for _ in range(rounds):
                for name, base in bases.items():
                    before = commits(POSTGRES) if kind == "postgres" and name != "bare" else 0
                    report = wrk(
                        "create.lua",
                        base,
                        seconds,
                        connections,
                        AUTH=auth.get(name, "Basic x"),
                        ACCOUNT="acct-0",
                    )
                    if kind == "postgres" and name != "bare":
                        per_create[name].append((commits(POSTGRES) - before) / report["requests"])
                    reports[name].append(report)
    finally:
        if kind == "postgres":
            drop_schemas(list(urls.values()))
    print(
        f"{kind}, --workers {workers}, {connections} connections, "
        f"{rounds} rounds of {seconds} s, creates:"
    )
    for name, runs in reports.items():
        commits_text = ""
        if per_create.get(name):
            commits_text = f", {statistics.median(per_create[name]):.2f} commits a create"
        print(
            f"  {name:8} {statistics.median(rate(r) for r in runs):8.0f} req/s, "
            f"p50 {statistics.median(r['p50_us'] for r in runs) / 1000:6.1f} ms, "
            f"p99 {statistics.median(r['p99_us'] for r in runs) / 1000:6.1f} ms (medians)"
            f"{commits_text}"
        )
    for name, against in (("current", "baseline"), ("current", "bare"), ("baseline", "bare")):
        if name in reports and against in reports:
            ratios = [
                rate(a) / rate(b) for a, b in zip(reports[name], reports[against], strict=True)
            ]
            print(
                f"  {name}/{against}: {statistics.median(ratios):.2f}x (median of per-round "
                f"ratios; rounds: {', '.join(f'{x:.2f}' for x in ratios)})"
            )


def bearer(base: str, basic: str) -> str:
    response = httpx.post(
        f"{base}/auth/oauth2/token",
        headers={"Authorization": basic},
        data={"grant_type": "client_credentials"},
    )
    token: str = response.json()["access_token"]
    return "Bearer " + token


def list_paths(store_url: str, samples: int = 500) -> list[str]:
    """Half first pages, half pages at a random depth of acct-0's tasks, by cursors taken from
    walking the listing (`Page.next_cursor`)."""
    cursors: list[str] = []
    with open_store(store_url) as store:
        service = DeletionService(store, subscribers=[])
        caller = Caller("benchmark", frozenset({"acct-0"}))
        cursor = None
        while True:
            page = service.list(caller, limit=1000, cursor=cursor)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            cursors.append(cursor)
    rng = random.Random(11)
    paths = []
    for sample in range(samples):
        query = {"accountId": "acct-0", "limit": "100"}
        if sample % 2 and cursors:
            query["cursor"] = rng.choice(cursors)
        paths.append(f"/data/deletion-requests?{urlencode(query)}")
    return paths


def list_latency(directory: Path, counts: list[int], rounds: int, seconds: int) -> None:
    accounts = 10
    results: dict[int, list[dict[str, int]]] = {}
    servers = []
    for count in counts:
        path = directory / f"list-{count}.db"
        # Created over the last `count` seconds (under 12 days): pending and up to date, as a
        # server with its background advance sees them; stale tasks would measure catch-up.
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=count + 3600)
        populate(path, count, accounts, start)
        basic = make_app(f"sqlite:///{path}", ["acct-0"])
        paths_file = directory / f"paths-{count}.txt"
        paths_file.write_text("\n".join(list_paths(f"sqlite:///{path}")) + "\n")
        servers.append((count, f"sqlite:///{path}", basic, paths_file))
    log = directory / "servers.log"
    for _ in range(rounds):
        for count, store, basic, paths_file in servers:
            with serving(store, log, *QUIET) as server:
                base = server.base_url
                wrk("list.lua", base, 2, 4, AUTH=basic, PATHS_FILE=str(paths_file))  # warm up
                report = wrk("list.lua", base, seconds, 4, AUTH=basic, PATHS_FILE=str(paths_file))
                results.setdefault(count, []).append(report)
    print(
        f"GET a page of 100 (half first pages, half deep cursors), 4 connections, {rounds} rounds:"
    )
    p99s = {}
    for count, reports in results.items():
        p99s[count] = statistics.median(r["p99_us"] for r in reports)
        p50 = statistics.median(r["p50_us"] for r in reports)
        print(
            f"  at {count:>8} tasks: p50 {p50 / 1000:.2f} ms, p99 {p99s[count] / 1000:.2f} ms, "
            f"{statistics.median(rate(r) for r in reports):.0f} req/s (medians)"
        )
    small, big = counts
    print(f"  p99 ratio {big} / {small}: {p99s[big] / p99s[small]:.2f}x")


def auth_cost(directory: Path, rounds: int, seconds: int) -> None:
    store = f"sqlite:///{directory}/auth.db"
    basic = make_app(store, ["acct-0"])
    paths_file = directory / "auth-paths.txt"
    paths_file.write_text("/data/deletion-requests?limit=10\n")
    log = directory / "servers.log"
    rates: dict[str, list[float]] = {"Basic": [], "Bearer": []}
    with serving(store, log, *QUIET) as server:
        base = server.base_url
        token = bearer(base, basic)
        for _ in range(rounds):
            for name, header in (("Basic", basic), ("Bearer", token)):
                report = wrk("list.lua", base, seconds, 8, AUTH=header, PATHS_FILE=str(paths_file))
                rates[name].append(rate(report))
    basic_rate = statistics.median(rates["Basic"])
    bearer_rate = statistics.median(rates["Bearer"])
    print(f"authenticated GET (empty list), 8 connections, {rounds} rounds:")
    print(
        f"  Basic  {basic_rate:8.0f} req/s   Bearer {bearer_rate:8.0f} req/s   "
        f"Bearer/Basic {bearer_rate / basic_rate:.2f}x (medians)"
    )


CASES = {
    "sqlite-w2": ("sqlite", 2, 64),
    "sqlite-w2-c32": ("sqlite", 2, 32),
    "sqlite-w1": ("sqlite", 1, 32),
    "postgres-w2": ("postgres", 2, 32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--only",
        default=",".join([*CASES, "list", "auth"]),
        help=f"comma-separated: {', '.join(CASES)}, list, auth",
    )
    parser.add_argument("--small", type=int, default=10_000, help="list: the small store")
    parser.add_argument("--big", type=int, default=1_000_000, help="list: the big store")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--baseline", help="a git ref: the code before, built in a worktree")
    source.add_argument("--baseline-python", help="another checkout's .venv/bin/python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        directory = Path(tmp).resolve()
        baseline = args.baseline_python
        if args.baseline:
            baseline = baseline_python(args.baseline, directory)
        try:
            for name in args.only.split(","):
                if name == "list":
                    list_latency(directory, [args.small, args.big], args.rounds, args.seconds)
                elif name == "auth":
                    auth_cost(directory, args.rounds, args.seconds)
                else:
                    kind, workers, connections = CASES[name]
                    case(directory, kind, workers, connections, args.rounds, args.seconds, baseline)
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(directory / "baseline")],
                    check=False,
                )


if __name__ == "__main__":
    main()
