"""The console's reads at scale: what its queue and trend pages and a metrics scrape read, next to
raw sqlite3's `count(*)` over the same table. Run through `benchmarks.storage --only console`."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from deletion_requests_sqlite import SqliteStore

from benchmarks._populate import T0, populate
from benchmarks._timing import median_seconds
from deletion_requests import AccessAdmin, DeletionService, ManualClock, Operators


def console_costs(path: Path, count: int, repeats: int = 5) -> dict[str, float]:
    """Median seconds of what the console's queue and trend pages and a metrics scrape read,
    over *count* tasks
    (as `populate` makes them: one a second, so that the oldest are ready now), next to raw
    sqlite3's `count(*)` over the same table: the cost of one pass. The queue page is fetched
    whole, signed in, through the console app in this process."""
    from deletion_requests_http import TokenIssuer, create_app
    from deletion_requests_http._metrics import exposition
    from deletion_requests_http.console import Console, ConsoleSettings
    from starlette.testclient import TestClient

    populate(path, count)
    store = SqliteStore(path)
    clock = ManualClock(T0 + dt.timedelta(seconds=count, days=1))
    service = DeletionService(store, clock, subscribers=[])
    operators = Operators(service)
    cutoffs = service.policy.cutoffs(clock.now())
    raw = sqlite3.connect(path)
    admin = AccessAdmin(store, clock)
    admin.add_operator("bench", "benchmark password")
    console = Console(service, admin, ConsoleSettings()).app()
    client = TestClient(create_app(service, TokenIssuer("k" * 48, clock), console=console))
    page = client.get("/console/sign-in")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    client.post(
        "/console/sign-in", data={"csrf": token, "name": "bench", "password": "benchmark password"}
    )
    assert client.get("/console/").status_code == 200
    costs = {
        "raw sqlite3 count(*)": median_seconds(
            lambda: raw.execute("SELECT count(*) FROM tasks").fetchone(), repeats
        ),
        "count_tasks": median_seconds(
            lambda: store.count_tasks(*cutoffs),
            repeats,
        ),
        "daily_counts, 60 days": median_seconds(
            lambda: store.daily_counts(clock.now() - dt.timedelta(days=60)), repeats
        ),
        "ready queue, 100": median_seconds(lambda: operators.ready(100), repeats),
        "queue page": median_seconds(lambda: client.get("/console/"), repeats),
        "trend page": median_seconds(lambda: client.get("/console/trend"), repeats),
        "metrics scrape": median_seconds(lambda: exposition(operators), repeats),
    }
    raw.close()
    store.close()
    return costs
