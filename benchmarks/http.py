"""HTTP benchmark: creates a second and their latency, `deletion-requests serve` against the
code before a change (another commit's `serve`, at its own best settings) and against a bare
Starlette app under the same server and workers, in one run, rounds alternating. wrk is the
load generator (`apt-get install wrk`).

Run: uv run python -m benchmarks.http [--baseline REF | --baseline-python PYTHON]
     [--rounds 3] [--seconds 8] [--only sqlite-w2,sqlite-w1,postgres-w2]

`--baseline REF` checks REF out into a temporary git worktree and builds its environment with
`uv sync`; `--baseline-python` names another checkout's `.venv/bin/python` instead. Without
either, only this checkout and the bare app run. Servers start through the CLI and are driven
over HTTP only; PostgreSQL runs count commits from `pg_stat_database.xact_commit`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from deletion_requests_http.testing import free_port, serving

from deletion_requests import AccessAdmin, open_store

WRK_DIR = Path(__file__).parent / "wrk"
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
    import urllib.request

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


def make_app(store_url: str, accounts: list[str]) -> str:
    """Allow the accounts, create an app for them; the Basic Authorization header value."""
    with open_store(store_url) as store:
        admin = AccessAdmin(store)
        for account in accounts:
            admin.allow_account(account)
        app, secret = admin.create_app(accounts)
    return "Basic " + base64.b64encode(f"{app.app_id}:{secret}".encode()).decode()


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
    auth = {name: make_app(url, ["acct-0"]) for name, url in urls.items()}
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
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
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
