"""PostgreSQL next to SQLite, in one run: create throughput through the HTTP service with one
and two server processes, and `advance_due` over many due tasks with one and two concurrent
advancer processes.

Run: uv run python -m benchmarks.scaling [--due 100000] [--seconds 8]
Needs wrk and a PostgreSQL server ($DELETION_REQUESTS_BENCH_POSTGRES, default the local one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
from deletion_requests_http.testing import serving
from psycopg import sql

from benchmarks._drive import QUIET, make_app, rate, wrk
from benchmarks._populate import T0, populate
from deletion_requests import DeletionService, ManualClock, open_store
from deletion_requests.wire import new_task_uuid

SERVER = os.environ.get(
    "DELETION_REQUESTS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def postgres_url(schema: str) -> str:
    return f"{SERVER}?schema={schema}"


def populate_postgres(schema: str, count: int) -> None:
    """*count* pending tasks created a second apart from T0, loaded with COPY (untimed)."""
    open_store(postgres_url(schema)).close()
    with psycopg.connect(SERVER) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        with conn.cursor().copy(
            "COPY tasks (task_id, account_id, status, creation_time, created_by, version) "
            "FROM STDIN"
        ) as copy:
            for index in range(count):
                copy.write_row(
                    (
                        str(new_task_uuid(T0 + dt.timedelta(seconds=index))),
                        "acct-0",
                        "pending",
                        T0 + dt.timedelta(seconds=index),
                        "app_bench",
                        1,
                    )
                )
        conn.execute(
            "INSERT INTO task_identifiers (task, hash) "
            "SELECT id, lpad(id::text, 43, '0') || '=' FROM tasks"
        )
        conn.execute("ANALYZE")


def drop_schema(schema: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _advance(url: str, now: str, start: object, results: object) -> None:
    store = open_store(url)
    service = DeletionService(store, ManualClock(dt.datetime.fromisoformat(now)), subscribers=[])
    start.wait()  # type: ignore[attr-defined]
    began = time.perf_counter()
    moved = service.advance_due()
    results.put((moved, time.perf_counter() - began))  # type: ignore[attr-defined]
    store.close()


def advance_seconds(url: str, due: int, advancers: int) -> tuple[float, list[int]]:
    """Wall time until every advancer process is done, and how many tasks each moved."""
    now = (T0 + dt.timedelta(seconds=due) + dt.timedelta(days=20)).isoformat()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_advance, args=(url, now, start, results)) for _ in range(advancers)
    ]
    for process in processes:
        process.start()
    time.sleep(2)
    began = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
    moved = [m for m, _ in outcomes]
    assert sum(moved) == due, moved
    return elapsed, moved


def advance_comparison(directory: Path, due: int) -> None:
    print(f"advance_due over {due} tasks due for two steps, one pass per advancer process:")
    for advancers in (1, 2):
        sqlite_path = directory / f"advance-{advancers}.db"
        populate(sqlite_path, due, accounts=1)
        sqlite_s, sqlite_moved = advance_seconds(f"sqlite:///{sqlite_path}", due, advancers)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            populate_postgres(schema, due)
            pg_s, pg_moved = advance_seconds(postgres_url(schema), due, advancers)
        finally:
            drop_schema(schema)
        print(
            f"  {advancers} advancer(s): sqlite {sqlite_s:6.2f}s (moved {sqlite_moved}), "
            f"postgres {pg_s:6.2f}s (moved {pg_moved})"
        )


def create_comparison(directory: Path, seconds: int, rounds: int) -> None:
    print(f"create through HTTP, 32 connections in all, {rounds} rounds of {seconds}s:")
    log = directory / "servers.log"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    stores = {"sqlite": f"sqlite:///{directory}/create.db", "postgres": postgres_url(schema)}
    try:
        for name, store in stores.items():
            basic = make_app(store, ["acct-0"])
            for servers in (1, 2):
                rates: list[float] = []
                timeouts: list[int] = []
                p99s: list[int] = []
                with ExitStack() as stack:
                    bases = [
                        stack.enter_context(serving(store, log, *QUIET)).base_url
                        for _ in range(servers)
                    ]
                    for _ in range(rounds):
                        with multiprocessing.get_context("spawn").Pool(servers) as pool:
                            reports = pool.starmap(
                                _wrk_create,
                                [(base, seconds, 32 // servers, basic) for base in bases],
                            )
                        rates.append(sum(rate(report) for report in reports))
                        timeouts.append(sum(report["timeouts"] for report in reports))
                        p99s.append(max(report["p99_us"] for report in reports))
                print(
                    f"  {name:8} {servers} server(s): {statistics.median(rates):7.0f} req/s "
                    f"(median; rounds {', '.join(f'{r:.0f}' for r in rates)}), "
                    f"p99 {statistics.median(p99s) / 1000:.0f} ms, "
                    f"requests timed out {sum(timeouts)}"
                )
    finally:
        drop_schema(schema)


def _wrk_create(base: str, seconds: int, connections: int, basic: str) -> dict[str, int]:
    return wrk(
        "create.lua", base, seconds, connections, timeouts_ok=True, AUTH=basic, ACCOUNT="acct-0"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["create", "advance"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        if args.only in (None, "create"):
            create_comparison(Path(tmp), args.seconds, args.rounds)
        if args.only in (None, "advance"):
            advance_comparison(Path(tmp), args.due)


if __name__ == "__main__":
    main()
