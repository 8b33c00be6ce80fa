"""The benchmarks run against the checked-out code: each measured function once, at toy sizes.

No timing is asserted here (timings belong to `benchmarks/`, not to the test suite); this only
keeps a schema or API change from breaking a benchmark silently.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from deletion_requests_http.testing import serving

from benchmarks import (
    console_reads,
    core,
    delivery,
    destinations,
    held_bodies,
    jsonfiles_reports,
    storage,
)
from benchmarks._drive import POSTGRES, acceptable, bare_app, make_app, wrk
from benchmarks.http import auth_cost, case, list_latency


def test_core_benchmark_functions_run() -> None:
    core.bare_trigger(10)
    core.dict_table(10)
    assert core.creates_per_second(10) > 0
    assert len(core.cancel_vs_trigger(10, rounds=1)) == 3
    assert core.advance_due_seconds(20, repeats=1) > 0
    assert core.bytes_per_task(10) > 0


def test_delivery_benchmark_runs() -> None:
    for handoff in (delivery.trickling, delivery.quick):
        result = delivery.compare(tasks=1, timeout=0.3, rounds=1, handoff=handoff)
        assert set(result) == {1, 8}


def test_core_page_case_runs_and_has_nothing_due() -> None:
    """The page's tasks are stored up to date, as the case says: catch-up returns each as is."""
    rows = core.page_rows()
    tasks = [core.DeletionTask.from_fields(*row) for row in rows]
    assert tasks == [core._init(row) for row in rows]
    assert {task.status for task in tasks} == {
        core.Status.PENDING,
        core.Status.READY,
        core.Status.ACTIONED,
        core.Status.CANCELLED,
    }
    assert all(core.lifecycle.catch_up(t, core.PAGE_NOW, core.Policy()) is t for t in tasks)
    assert set(core.page_us(rounds=1)) == {"build", "catch_up", "render", "page"}
    assert set(core.baseline_page_us("HEAD", rounds=1)) == {"build", "catch_up", "render", "page"}


def test_storage_benchmark_functions_run(tmp_path: Path) -> None:
    rate, ratio = storage.add_ratio(tmp_path, 5, 1, "NORMAL")
    assert rate > 0
    assert ratio > 0
    storage.batch_cost(tmp_path, 50, 4, 3, 1)
    storage.populate(tmp_path / "list.db", 2020)  # a full page for each of 10 accounts
    assert len(storage.page_latency(tmp_path / "list.db", 2020, 5)) == 5
    assert storage.advance_seconds(tmp_path / "advance.db", 20, dt.timedelta(days=20)) > 0
    costs = console_reads.console_costs(tmp_path / "console.db", 2000, repeats=1)
    assert costs["queue page"] > 0
    adds, pages = storage.jsonfiles_rates(tmp_path / "json", 10)
    assert adds > 0
    assert pages > 0
    assert len(jsonfiles_reports.report_times(tmp_path / "reports", 12, 5)) == 5


def test_destinations_benchmark_functions_run(tmp_path: Path) -> None:
    """The hand-off on SQLite (PostgreSQL's runs in the benchmark), claims over HTTP on
    PostgreSQL when there is a server, and the console pages, at toy sizes."""
    ratios = destinations.handoff(tmp_path, 20, ["sqlite"], 1)
    assert ratios["sqlite"] > 0
    timings = destinations.pages(tmp_path, 300, 4, 20)
    assert {name: len(found) for name, found in timings.items()} == {
        "task page": 4,
        "queue page": 5,
        "destinations page": 5,
    }


def test_destinations_claims_benchmark_runs_on_postgresql(tmp_path: Path) -> None:
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {exc}")
    assert destinations.handoff(tmp_path, 20, ["postgres"], 1)["postgres"] > 0
    assert destinations.claims_rate(tmp_path, 10, 2) > 0
    assert destinations.claims_rate(tmp_path, 10, 2, batch=True) > 0


def _create(base: str, authorization: str) -> httpx.Response:
    """The create every server test sends: one raw address for acct-0."""
    return httpx.post(
        f"{base}/data/deletion-requests/emails",
        headers={"Authorization": authorization},
        json={"accountId": "acct-0", "rawEmails": ["someone@example.com"]},
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
    with bare_app(1, tmp_path / "bare.log") as url:
        report = wrk("create.lua", url, 1, 2, AUTH="Basic eDp5", ACCOUNT="acct-0")
    assert report["requests"] > 0
    assert report["non_2xx"] == report["socket_errors"] == report["timeouts"] == 0
    assert report["p50_us"] <= report["p99_us"]


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_http_benchmark_case_runs_every_server(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One tiny case, with this checkout's own python standing in for the baseline's."""
    case(tmp_path, kind, 2, 4, rounds=1, seconds=1, baseline=sys.executable)
    printed = capsys.readouterr().out
    assert "current/baseline" in printed
    assert "current/bare" in printed
    assert "us of server CPU a create" in printed
    assert ("commits a create" in printed) is (kind == "postgres")


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_http_list_and_auth_benchmarks_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    list_latency(tmp_path, [2020, 4040], rounds=1, seconds=1, baseline=sys.executable)
    auth_cost(tmp_path, rounds=1, seconds=1, baseline=sys.executable)
    printed = capsys.readouterr().out
    assert "p99 ratio 4040 / 2020" in printed
    assert "at     4040 tasks, current/baseline: p50" in printed
    assert "Bearer/Basic" in printed
    assert "current/baseline, Bearer" in printed


def test_baseline_server_is_serve_run_by_the_python_given(tmp_path: Path) -> None:
    """`--baseline-python`: here this checkout's own python stands in for another checkout's."""
    store = f"sqlite:///{tmp_path}/baseline.db"
    authorization = make_app(store, ["acct-0"])
    with serving(store, tmp_path / "server.log", python=sys.executable) as server:
        assert server.process.args[0] == sys.executable  # type: ignore[index]
        created = _create(server.base_url, authorization)
        assert created.status_code == 202, created.text


def test_held_bodies_benchmark_probes_a_server_with_bodies_held(tmp_path: Path) -> None:
    results = held_bodies.held_bodies(tmp_path, 4)
    assert set(results) == {"none held", "4 held"}
    for seconds in results.values():
        assert set(seconds) == {"healthz", "create"}
        assert all(value is not None for value in seconds.values()), results
