"""A report and another writer changing its task at the same moment on PostgreSQL: the report
reads the tasks it will write with their rows locked (`FOR UPDATE`), so it waits for the other
writer's commit and writes after it, instead of losing its compare-and-set and answering
"report again"."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import psycopg
from deletion_requests_postgres import PostgresStore
from psycopg import sql

from deletion_requests import (
    DeletionService,
    Destination,
    DestinationWork,
    ManualClock,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
    Status,
    open_store,
)
from deletion_requests._access import digest_secret
from deletion_requests.testing import make_task

from .conftest import SERVER, schema_for, store_url

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_a_report_waits_for_a_writer_holding_its_task_and_then_writes(tmp_path: Path) -> None:
    store = open_store(store_url(str(tmp_path)))
    assert isinstance(store, PostgresStore)
    done: list[object] = []
    try:
        clock = ManualClock(T0 + Policy().cancel_period + dt.timedelta(hours=1))
        work = DestinationWork(DeletionService(store, clock, subscribers=[]))
        work.add(Destination("warehouse", Mode.PULL, T0, credential_digest=digest_secret("w")))
        task = make_task(creation_time=T0)
        store.add(task)
        assert work.advance_due() == 1
        (job,) = work.jobs(task.task_id)
        before = store.get(task.task_id)
        assert before is not None
        assert before.status is Status.ACTIONED
        with psycopg.connect(SERVER) as other:
            # Another writer that has changed the task and not yet committed.
            table = sql.Identifier(schema_for(str(tmp_path)), "tasks")
            other.execute(
                sql.SQL("UPDATE {} SET version = version + 1 WHERE task_id = %s").format(table),
                (task.task_id,),
            )

            def report() -> None:
                try:
                    done.append(work.report("warehouse", job.job_id, Outcome(OutcomeKind.DELETED)))
                except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
                    done.append(exc)

            reporting = threading.Thread(target=report)
            reporting.start()
            reporting.join(1.0)
            assert reporting.is_alive(), "the report did not wait for the other writer"
            other.commit()
            reporting.join(10)
        assert not reporting.is_alive()
        assert len(done) == 1, done
        assert not isinstance(done[0], BaseException), done
        after = store.get(task.task_id)
        assert after is not None
        assert after.completed_time == clock.now()
        assert after.version == before.version + 2  # the other writer's, then the report's
    finally:
        store.close()
