"""A report and another writer changing its task at the same moment on PostgreSQL: the report
reads the tasks it will write with their rows locked (`FOR UPDATE`), so it waits for the other
writer's commit and writes after it, instead of losing its compare-and-set and answering
"report again"."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import attrs
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


def test_a_batch_update_and_a_report_take_their_tasks_in_one_order(tmp_path: Path) -> None:
    # A report holds task A and will lock B next (it locks in id order). A batch update of
    # both (the overdue sweep's) must wait for A before it takes B: were its rows locked in
    # the plan's order (here the heap's, where A, updated once, now lies after B), each would
    # hold a row the other waits for, and PostgreSQL would end one of them.
    store = open_store(store_url(str(tmp_path)))
    assert isinstance(store, PostgresStore)
    schema = schema_for(str(tmp_path))
    try:
        tasks = [make_task(creation_time=T0 + dt.timedelta(seconds=i)) for i in range(20)]
        store.add_batch([(task, None) for task in tasks])
        a, b = sorted(task.task_id for task in tasks)[:2]
        first = store.get(a)
        assert first is not None
        assert store.update([attrs.evolve(first, version=first.version + 1)]) == frozenset()
        task_a, task_b = store.get(a), store.get(b)
        assert task_a is not None
        assert task_b is not None
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, "tasks")))
        answers: list[object] = []
        with psycopg.connect(SERVER) as report:
            report.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            report.execute("SET deadlock_timeout = '100ms'")
            report.execute("SELECT 1 FROM tasks WHERE task_id = %s FOR UPDATE", (a,))

            def update() -> None:
                changed = [attrs.evolve(t, version=t.version + 1) for t in (task_b, task_a)]
                try:
                    answers.append(store.update(changed))
                except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
                    answers.append(exc)

            updating = threading.Thread(target=update)
            updating.start()
            updating.join(1.0)
            assert updating.is_alive(), "the update did not wait for the report's lock"
            report.execute("SELECT 1 FROM tasks WHERE task_id = %s FOR UPDATE", (b,))
            report.commit()
            updating.join(10)
        assert not updating.is_alive()
        assert answers == [frozenset()]
    finally:
        store.close()
