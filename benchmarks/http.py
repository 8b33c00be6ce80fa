"""HTTP benchmark: the real server (uvicorn, one worker, SQLite, durable commits) against a bare
Starlette app, in one run, with wrk as the load generator (`apt-get install wrk`).

Run: uv run python -m benchmarks.http [--rounds 5] [--seconds 8] [--big 1000000]
     [--only create|peaks|list|auth] [--connections 32] [--levels 16,32,64,128,256]
     [--baseline-python OTHER_CHECKOUT/.venv/bin/python]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
from deletion_requests_http.testing import free_port, serving

from benchmarks.storage import populate
from deletion_requests import AccessAdmin, open_store
from deletion_requests._cursor import encode_cursor

WRK_DIR = Path(__file__).parent / "wrk"
QUIET = ("--advance-interval", "3600")  # no background advance during a measurement
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process *pid* and of its child processes (`serve`'s writer
    process), all threads (Linux `/proc`). A child that has exited is no longer counted."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process has exited
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running(command: list[str], port: int, log: Path) -> Iterator[tuple[str, int]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def bare_server() -> tuple[list[str], int]:
    port = free_port()
    return [sys.executable, "-m", "benchmarks._bare_app", str(port)], port


def wrk(
    script: str, url: str, seconds: int, connections: int, timeouts_ok: bool = False, **env: str
) -> dict[str, int]:
    """One wrk run; raises on any non-2xx answer or socket error, and on a request that timed
    out (wrk's 2 s) unless *timeouts_ok*."""
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(WRK_DIR / script),
            url,
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


def bearer(base: str, basic: str) -> str:
    response = httpx.post(
        f"{base}/auth/oauth2/token",
        headers={"Authorization": basic},
        data={"grant_type": "client_credentials"},
    )
    token: str = response.json()["access_token"]
    return "Bearer " + token


def minimal_server(
    directory: Path, authorization: str, plain: bool = False
) -> tuple[list[str], int]:
    port = free_port()
    path = str(directory / f"minimal-{port}.db")
    command = [sys.executable, "-m", "benchmarks._minimal_app", str(port), path]
    return [*command, authorization, "acct-0", *(["--plain"] if plain else [])], port


def memory_server(directory: Path, stripped: bool = False) -> tuple[list[str], int, Path]:
    port = free_port()
    credentials = directory / f"memory-credentials-{port}.txt"
    command = [sys.executable, "-m", "benchmarks._memory_server", str(port), str(credentials)]
    return [*command, "--stripped"] if stripped else command, port, credentials


def create_throughput(
    directory: Path,
    rounds: int,
    seconds: int,
    connections: int,
    baseline_python: str | None = None,
) -> None:
    """Creates a second, in turn in every round: the bare app (the ceiling), the minimal durable
    create (`benchmarks._minimal_app`: what storing alone costs) on Starlette and as a plain
    ASGI app (`--plain`: the least a durable create costs), the real server on the in-memory
    store (`benchmarks._memory_server`: everything but storing), the same stripped of its access
    log, request ids, per-request credentials check and JSON view (`--stripped`), and the real
    server.

    With *baseline_python* (`--baseline-python`, another checkout's `.venv/bin/python`), that
    checkout's real server runs too, on a copy of the same store (so the two must share a schema
    version), for a before-and-after in one run: "baseline"."""
    store = f"sqlite:///{directory}/create.db"
    basic = make_app(store, ["acct-0"])
    log = directory / "servers.log"
    names: tuple[str, ...] = ("bare", "minimal", "plain", "memory", "stripped", "real")
    if baseline_python:
        names += ("baseline",)
        shutil.copy(directory / "create.db", directory / "baseline.db")
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}  # CPU us a request, all threads
    bare_command, bare_port = bare_server()
    minimal_command, minimal_port = minimal_server(directory, basic)
    plain_command, plain_port = minimal_server(directory, basic, plain=True)
    memory_command, memory_port, memory_credentials = memory_server(directory)
    stripped_command, stripped_port, stripped_credentials = memory_server(directory, True)
    with (
        contextlib.ExitStack() as more,
        serving(store, log, *QUIET) as server,
        running(bare_command, bare_port, log) as bare,
        running(minimal_command, minimal_port, log) as minimal,
        running(plain_command, plain_port, log) as plain,
        running(memory_command, memory_port, log) as memory,
        running(stripped_command, stripped_port, log) as stripped,
    ):
        targets = {
            "bare": (*bare, basic),
            "minimal": (*minimal, basic),
            "plain": (*plain, basic),
            "memory": (*memory, memory_credentials.read_text()),
            "stripped": (*stripped, stripped_credentials.read_text()),
            "real": (server.base_url, server.process.pid, basic),
        }
        if baseline_python:
            baseline_store = f"sqlite:///{directory}/baseline.db"
            baseline = more.enter_context(
                serving(baseline_store, log, *QUIET, python=baseline_python)
            )
            targets["baseline"] = (baseline.base_url, baseline.process.pid, basic)
        for _ in range(rounds):
            for name in names:
                url, pid, authorization = targets[name]
                before = cpu_seconds(pid)
                report = wrk(
                    "create.lua", url, seconds, connections, AUTH=authorization, ACCOUNT="acct-0"
                )
                cpus[name].append((cpu_seconds(pid) - before) / report["requests"] * 1e6)
                rates[name].append(rate(report))
    print(
        f"create, {connections} connections, {rounds} rounds of {seconds}s each (one load: the "
        "throughput target is read at each server's peak, `--only peaks`; docs/decisions.md):"
    )
    labels = {
        "bare": "bare Starlette",
        "minimal": "minimal durable",
        "plain": "minimal, plain",
        "memory": "real, in memory",
        "stripped": "memory, stripped",
        "real": "real server",
        "baseline": "baseline real",
    }
    for name in names:
        print(
            f"  {labels[name]:16} {statistics.median(rates[name]):8.0f} req/s (median), "
            f"{statistics.median(cpus[name]):.0f} us CPU a request"
        )
    pairs: tuple[tuple[str, str], ...] = (
        ("real", "bare"),
        ("minimal", "bare"),
        ("plain", "bare"),
        ("memory", "bare"),
        ("stripped", "bare"),
        ("real", "minimal"),
        ("real", "plain"),
        ("real", "memory"),
    )
    if baseline_python:
        pairs += (("baseline", "bare"), ("real", "baseline"))
    for name, against in pairs:
        cpu_ratio = statistics.median(cpus[name]) / statistics.median(cpus[against])
        print(
            f"  {name}/{against}: {per_round(rates[name], rates[against])}; "
            f"CPU a request {cpu_ratio:.1f}x"
        )


def per_round(rates: list[float], against: list[float]) -> str:
    """The median of the per-round ratios of *rates* to *against*, with every round's."""
    ratios = [r / b for r, b in zip(rates, against, strict=True)]
    return (
        f"{statistics.median(ratios):.2f}x (median of per-round ratios; "
        f"rounds: {', '.join(f'{x:.2f}' for x in ratios)})"
    )


def list_paths(count: int, accounts: int, start: dt.datetime, samples: int = 500) -> list[str]:
    rng = random.Random(11)
    paths = []
    for sample in range(samples):
        query = "accountId=acct-0&limit=100"
        if sample % 2:
            depth = rng.randrange(101 * accounts, count)
            cursor = encode_cursor((start + dt.timedelta(seconds=depth), MAX_UUID))
            query += f"&cursor={cursor}"
        paths.append(f"/data/deletion-requests?{query}")
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
        paths_file.write_text("\n".join(list_paths(count, accounts, start)) + "\n")
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


def create_peaks(directory: Path, rounds: int, seconds: int, levels: list[int]) -> None:
    """Peak create throughput of the bare app and of the real server, over a sweep of
    connection counts (*levels*), in one run.

    Closed-loop load (each connection waits for its answer) measures a server's throughput only
    once there are connections enough to keep it busy. The bare app is busy with a few; the real
    server's answers wait for a durable commit, so it needs more connections in flight to reach
    its own peak. A fixed connection count compares latency as much as throughput, so this
    compares peaks: in every round, each server at every level in turn; a round's ratio is the
    real server's best level over the bare app's best level; the median of the rounds' ratios is
    reported, with the per-level medians and ratios beside it. A request that wrk gave up on
    (2 s) counts in no rate and fails no run: an overloaded server's timeouts are part of what
    it sustains, and are shown by level."""
    store = f"sqlite:///{directory}/peaks.db"
    basic = make_app(store, ["acct-0"])
    names = ("bare", "real")
    rates: dict[tuple[str, int], list[float]] = {(n, c): [] for n in names for c in levels}
    timeouts: dict[tuple[str, int], int] = dict.fromkeys(rates, 0)  # wrk's 2 s, summed
    peaks: dict[str, list[float]] = {name: [] for name in names}
    bare_command, bare_port = bare_server()
    with (
        serving(store, directory / "peaks.log", *QUIET) as server,
        running(bare_command, bare_port, directory / "peaks.log") as bare,
    ):
        urls = {"bare": bare[0], "real": server.base_url}
        for name in names:  # warm up
            wrk("create.lua", urls[name], 2, levels[0], AUTH=basic, ACCOUNT="acct-0")
        for _ in range(rounds):
            best = dict.fromkeys(names, 0.0)
            for connections in levels:
                for name in names:
                    report = wrk(
                        "create.lua",
                        urls[name],
                        seconds,
                        connections,
                        timeouts_ok=True,  # an overloaded server's, counted and shown
                        AUTH=basic,
                        ACCOUNT="acct-0",
                    )
                    timeouts[(name, connections)] += report["timeouts"]
                    rates[(name, connections)].append(rate(report))
                    best[name] = max(best[name], rates[(name, connections)][-1])
            for name in names:
                peaks[name].append(best[name])
    print(f"create peaks, connections {levels}, {rounds} rounds of {seconds}s a level:")
    for connections in levels:
        real_rates, bare_rates = rates[("real", connections)], rates[("bare", connections)]
        print(
            f"  {connections:4} connections: bare {statistics.median(bare_rates):8.0f} req/s, "
            f"real {statistics.median(real_rates):8.0f} req/s (medians); real/bare "
            f"{per_round(real_rates, bare_rates)}; requests timed out: bare "
            f"{timeouts[('bare', connections)]}, real {timeouts[('real', connections)]}"
        )
    print(
        f"  peaks: bare {statistics.median(peaks['bare']):.0f} req/s, real "
        f"{statistics.median(peaks['real']):.0f} req/s (medians); real/bare "
        f"{per_round(peaks['real'], peaks['bare'])}; target >= 0.5x"
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["create", "peaks", "list", "auth"])
    parser.add_argument(
        "--levels",
        default="16,32,64,128,256",
        help="peaks: the connection counts to sweep, comma-separated",
    )
    parser.add_argument(
        "--baseline-python",
        help="creates: also run `serve` from another checkout, by its virtualenv's python",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        directory = Path(tmp)
        if args.only in (None, "create"):
            create_throughput(
                directory, args.rounds, args.seconds, args.connections, args.baseline_python
            )
        if args.only in (None, "peaks"):
            levels = [int(level) for level in args.levels.split(",")]
            create_peaks(directory, args.rounds, args.seconds, levels)
        if args.only in (None, "auth"):
            auth_cost(directory, args.rounds, args.seconds)
        if args.only in (None, "list"):
            list_latency(directory, [args.small, args.big], args.rounds, args.seconds)


if __name__ == "__main__":
    main()
