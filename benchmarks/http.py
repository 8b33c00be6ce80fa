"""HTTP benchmark: creates a second, their latency and the server CPU a create,
`deletion-requests serve` against the code before a change (another commit's `serve`, with
the same workers) and against a bare Starlette app under the same server and workers, in one
run, rounds alternating. wrk is the load generator (`apt-get install wrk`).

Run: uv run python -m benchmarks.http [--baseline REF | --baseline-python PYTHON]
     [--rounds 3] [--seconds 8] [--only sqlite-w2,sqlite-w2-c32,sqlite-w1,postgres-w2,list,auth]

`list` measures the p50, p99 and server CPU of a page of 100 at 10,000 and at 1,000,000
tasks, against the baseline's over the same store files in the same rounds; `auth` an
authenticated GET of an empty list, Basic and Bearer, against the baseline's in the same
rounds, with the server CPU a request.

`--baseline REF` checks REF out into a temporary git worktree and builds its environment with
`uv sync`; `--baseline-python` names another checkout's `.venv/bin/python` instead. Without
either, only this checkout and the bare app run. Servers start through the CLI and are driven
over HTTP only; PostgreSQL runs count commits from `pg_stat_database.xact_commit`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from deletion_requests_http.testing import serving

from benchmarks._drive import (
    POSTGRES,
    QUIET,
    SERVER_PIDS,
    START,
    bare_app,
    bearer,
    commits,
    cpu_seconds,
    make_app,
    rate,
    wrk,
)
from benchmarks._populate import populate
from deletion_requests import Caller, DeletionService, open_store


def baseline_python(ref: str, directory: Path) -> str:
    """A worktree of *ref* with its environment built; its python."""
    tree = directory / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], check=True)
    subprocess.run(["uv", "sync", "--quiet"], cwd=tree, check=True)
    return str(tree / ".venv" / "bin" / "python")


def remove_worktree(tree: Path) -> None:
    """Remove the worktree `baseline_python` added."""
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)


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
    cpu: dict[str, list[float]] = {name: [] for name in [*urls, "bare"]}
    try:
        with contextlib.ExitStack() as stack:
            current = stack.enter_context(
                serving(urls["current"], log, *QUIET, "--workers", str(workers), timeout=START)
            )
            SERVER_PIDS[current.base_url] = current.process.pid
            bases = {
                "current": current.base_url,
                "bare": stack.enter_context(bare_app(workers, log)),
            }
            if baseline:  # the code before, with the same workers
                previous = stack.enter_context(
                    serving(
                        urls["baseline"],
                        log,
                        *QUIET,
                        "--workers",
                        str(workers),
                        python=baseline,
                        timeout=START,
                    )
                )
                SERVER_PIDS[previous.base_url] = previous.process.pid
                bases["baseline"] = previous.base_url
            for name, base in bases.items():  # warm up
                wrk("create.lua", base, 1, 4, AUTH=auth.get(name, "Basic x"), ACCOUNT="acct-0")
            for _ in range(rounds):
                for name, base in bases.items():
                    before = commits(POSTGRES) if kind == "postgres" and name != "bare" else 0
                    cpu_before = cpu_seconds(SERVER_PIDS[base])
                    try:
                        report = wrk(
                            "create.lua",
                            base,
                            seconds,
                            connections,
                            AUTH=auth.get(name, "Basic x"),
                            ACCOUNT="acct-0",
                        )
                    except RuntimeError as exc:
                        raise RuntimeError(f"{name} ({base}): {exc}") from None
                    used = cpu_seconds(SERVER_PIDS[base]) - cpu_before
                    cpu[name].append(used / report["requests"])
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
            f"p99 {statistics.median(r['p99_us'] for r in runs) / 1000:6.1f} ms, "
            f"{statistics.median(cpu[name]) * 1e6:5.0f} us of server CPU a create (medians)"
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


def list_latency(
    directory: Path, counts: list[int], rounds: int, seconds: int, baseline: str | None = None
) -> None:
    """A page of 100 at each of *counts* tasks, 4 connections, one worker: p50, p99, req/s and
    the server's CPU a page; with *baseline* (another checkout's python), its server over the
    same store file in the same rounds, alternating, and the ratios."""
    accounts = 10
    pythons = {"current": sys.executable}
    if baseline:
        pythons["baseline"] = baseline
    results: dict[tuple[int, str], list[dict[str, int]]] = {}
    cpu: dict[tuple[int, str], list[float]] = {}
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
            for name, python in pythons.items():
                with serving(store, log, *QUIET, timeout=START, python=python) as server:
                    base, paths = server.base_url, str(paths_file)
                    wrk("list.lua", base, 2, 4, AUTH=basic, PATHS_FILE=paths)  # warm up
                    cpu_before = cpu_seconds(server.process.pid)
                    report = wrk("list.lua", base, seconds, 4, AUTH=basic, PATHS_FILE=paths)
                    used = cpu_seconds(server.process.pid) - cpu_before
                    results.setdefault((count, name), []).append(report)
                    cpu.setdefault((count, name), []).append(used / report["requests"] * 1e6)
    print(
        f"GET a page of 100 (half first pages, half deep cursors), 4 connections, {rounds} rounds:"
    )
    p99s = {}
    for (count, name), reports in results.items():
        p99s[count, name] = statistics.median(r["p99_us"] for r in reports)
        p50 = statistics.median(r["p50_us"] for r in reports)
        print(
            f"  {name:8s} at {count:>8} tasks: p50 {p50 / 1000:.2f} ms, p99 "
            f"{p99s[count, name] / 1000:.2f} ms, "
            f"{statistics.median(rate(r) for r in reports):.0f} req/s, "
            f"{statistics.median(cpu[count, name]):.0f} us of server CPU a page (medians)"
        )
    small, big = counts
    print(f"  p99 ratio {big} / {small}: {p99s[big, 'current'] / p99s[small, 'current']:.2f}x")
    if baseline:
        for count in counts:
            now, before = results[count, "current"], results[count, "baseline"]
            p50s = [a["p50_us"] / b["p50_us"] for a, b in zip(now, before, strict=True)]
            cpus = [
                a / b for a, b in zip(cpu[count, "current"], cpu[count, "baseline"], strict=True)
            ]
            print(
                f"  at {count:>8} tasks, current/baseline: p50 {statistics.median(p50s):.2f}x "
                f"(rounds {', '.join(f'{x:.2f}' for x in p50s)}), CPU a page "
                f"{statistics.median(cpus):.2f}x (rounds {', '.join(f'{x:.2f}' for x in cpus)})"
            )


def auth_cost(directory: Path, rounds: int, seconds: int, baseline: str | None) -> None:
    """An authenticated GET of an empty list, Basic and Bearer, one worker, 8 connections:
    this checkout's server and, when given, the baseline's, rounds alternating."""
    paths_file = directory / "auth-paths.txt"
    paths_file.write_text("/data/deletion-requests?limit=10\n")
    log = directory / "servers.log"
    pythons = {"current": sys.executable, **({"baseline": baseline} if baseline else {})}
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    with contextlib.ExitStack() as stack:
        headers: dict[str, dict[str, str]] = {}
        bases: dict[str, str] = {}
        for name, python in pythons.items():
            store = f"sqlite:///{directory}/auth-{name}.db"
            basic = make_app(store, ["acct-0"], python)
            server = stack.enter_context(serving(store, log, *QUIET, python=python, timeout=START))
            SERVER_PIDS[server.base_url] = server.process.pid
            bases[name] = server.base_url
            headers[name] = {"Basic": basic, "Bearer": bearer(server.base_url, basic)}
        for _ in range(rounds):
            for scheme in ("Basic", "Bearer"):
                for name, base in bases.items():
                    cpu_before = cpu_seconds(SERVER_PIDS[base])
                    report = wrk(
                        "list.lua",
                        base,
                        seconds,
                        8,
                        AUTH=headers[name][scheme],
                        PATHS_FILE=str(paths_file),
                    )
                    rates.setdefault((name, scheme), []).append(rate(report))
                    used = cpu_seconds(SERVER_PIDS[base]) - cpu_before
                    cpu.setdefault((name, scheme), []).append(used / report["requests"])
    print(f"authenticated GET (empty list), 1 worker, 8 connections, {rounds} rounds:")
    for name in pythons:
        basic_rate = statistics.median(rates[name, "Basic"])
        bearer_rate = statistics.median(rates[name, "Bearer"])
        print(
            f"  {name:8} Basic {basic_rate:8.0f} req/s   Bearer {bearer_rate:8.0f} req/s   "
            f"Bearer/Basic {bearer_rate / basic_rate:.2f}x; server CPU a request: Basic "
            f"{statistics.median(cpu[name, 'Basic']) * 1e6:.0f} us, Bearer "
            f"{statistics.median(cpu[name, 'Bearer']) * 1e6:.0f} us (medians)"
        )
    if baseline:
        for scheme in ("Basic", "Bearer"):
            ratios = [
                a / b
                for a, b in zip(rates["current", scheme], rates["baseline", scheme], strict=True)
            ]
            print(
                f"  current/baseline, {scheme}: {statistics.median(ratios):.2f}x (rounds: "
                f"{', '.join(f'{x:.2f}' for x in ratios)})"
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
                    list_latency(
                        directory, [args.small, args.big], args.rounds, args.seconds, baseline
                    )
                elif name == "auth":
                    auth_cost(directory, args.rounds, args.seconds, baseline)
                else:
                    kind, workers, connections = CASES[name]
                    case(directory, kind, workers, connections, args.rounds, args.seconds, baseline)
        finally:
            if args.baseline:
                remove_worktree(directory / "baseline")


if __name__ == "__main__":
    main()
