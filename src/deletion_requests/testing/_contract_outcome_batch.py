"""The contract of `Destinations.record_outcomes` (a batch in one write) and of a task change
that goes with an outcome (an operator's skip). Mixed into `DestinationsContract`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletion_requests import _handoff as handoff
from deletion_requests._access import digest_secret
from deletion_requests._destinations import (
    Destination,
    Job,
    Mode,
    Outcome,
    OutcomeConflict,
    OutcomeKind,
    UnknownJob,
    jobs_for,
)
from deletion_requests._lifecycle import catch_up
from deletion_requests._outcome_batch import Report
from deletion_requests._policy import Policy
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask, Transition

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
POLICY = Policy()
HASH = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="
DELETED = Outcome(OutcomeKind.DELETED)
NOT_FOUND = Outcome(OutcomeKind.NOT_FOUND)
EXEMPT = Outcome(OutcomeKind.EXEMPT, "retention")
WORDS = (DELETED, NOT_FOUND, EXEMPT)
NAMES = ("crm", "warehouse")


def pulled(name: str) -> Destination:
    return Destination(name, Mode.PULL, T0, credential_digest=digest_secret(name))


def complete(task: DeletionTask, jobs: Sequence[Job]) -> DeletionTask:
    return handoff.complete(task, T0 + POLICY.cancel_period, "destinations")


def noted(task: DeletionTask) -> DeletionTask:
    entry = Transition(task.status, task.status, T0, "operator:ann", "destination.skipped", "x")
    return attrs.evolve(task, history=(*task.history, entry))


def refused(task: DeletionTask) -> DeletionTask:
    raise ValueError("this change is refused")


def send(store: Any, reports: Sequence[Report]) -> None:
    """One report alone by `record_outcome`, more in one `record_outcomes`."""
    if len(reports) == 1:
        store.record_outcome(reports[0].job_id, reports[0].outcome, T0, complete)
    else:
        store.record_outcomes(reports, T0, complete)


class OutcomeBatchContract:
    """Batches and task changes. Needs the `store` fixture of `DestinationsContract`."""

    def actioned(self, store: Any, names: Sequence[str] = NAMES) -> str:
        for name in names:
            if store.get_destination(name) is None:
                store.add_destination(pulled(name))
        task = DeletionTask(
            str(uuid.uuid4()), "a", Status.PENDING, T0, frozenset({HASH}), created_by="app"
        )
        store.add(task)
        actioned = catch_up(task, T0 + POLICY.cancel_period, POLICY)
        jobs = jobs_for(actioned, [pulled(n) for n in names], T0 + POLICY.cancel_period)
        assert store.write_actioned([(actioned, jobs)]) == frozenset()
        return task.task_id

    def job(self, store: Any, task_id: str, name: str) -> Job:
        found: Job = next(j for j in store.task_jobs(task_id) if j.destination == name)
        return found

    def test_a_batch_records_every_outcome_and_completes_tasks(self, store: Any) -> None:
        first, second = self.actioned(store), self.actioned(store)
        crm1, wh1 = (self.job(store, first, n) for n in NAMES)
        crm2 = self.job(store, second, "crm")
        store.record_outcome(wh1.job_id, DELETED, T0, complete)
        done = store.record_outcomes(
            [
                Report(crm1.job_id, NOT_FOUND, "crm"),
                Report(crm2.job_id, DELETED, "crm"),
                Report(wh1.job_id, DELETED, "warehouse"),
            ],
            T0,
            complete,
        )
        assert [(r.job.job_id, r.repeated) for r in done] == [
            (crm1.job_id, False),
            (crm2.job_id, False),
            (wh1.job_id, True),
        ]
        assert done[0].completed is not None
        assert done[0].completed.task_id == first
        assert done[0].completed == store.get(first)
        assert done[1].completed is None
        assert self.job(store, first, "crm").outcome == NOT_FOUND
        assert self.job(store, second, "crm").outcome == DELETED
        assert store.get(first).completed_time is not None
        assert store.get(second).completed_time is None

    @pytest.mark.parametrize("bad", ["unknown", "other", "conflict"])
    def test_a_refused_report_leaves_the_whole_batch_unwritten(self, store: Any, bad: str) -> None:
        task_id = self.actioned(store)
        crm, warehouse = (self.job(store, task_id, n) for n in NAMES)
        store.record_outcome(warehouse.job_id, DELETED, T0, complete)
        last = {
            "unknown": Report(str(uuid.uuid4()), DELETED, "crm"),
            "other": Report(warehouse.job_id, DELETED, "crm"),
            "conflict": Report(warehouse.job_id, NOT_FOUND, "warehouse"),
        }[bad]
        error = OutcomeConflict if bad == "conflict" else UnknownJob
        before = store.get(task_id)
        with pytest.raises(error):
            store.record_outcomes([Report(crm.job_id, DELETED, "crm"), last], T0, complete)
        assert self.job(store, task_id, "crm").outcome is None
        assert store.get(task_id) == before

    def test_a_change_is_written_with_the_outcome_or_not_at_all(self, store: Any) -> None:
        task_id = self.actioned(store)
        crm, warehouse = (self.job(store, task_id, n) for n in NAMES)
        with pytest.raises(ValueError, match="refused"):
            store.record_outcome(crm.job_id, DELETED, T0, complete, change=refused)
        assert self.job(store, task_id, "crm").outcome is None
        before = store.get(task_id)
        recorded = store.record_outcome(crm.job_id, DELETED, T0, complete, change=noted)
        assert recorded.completed is None
        after = store.get(task_id)
        assert after.version == before.version + 1
        assert after.history[-1].event == "destination.skipped"
        assert self.job(store, task_id, "crm").outcome == DELETED
        # the last outcome: the change and the completion, in one new version
        last = store.record_outcome(warehouse.job_id, DELETED, T0, complete, change=noted)
        assert last.completed == store.get(task_id)
        assert last.completed.version == after.version + 1
        assert last.completed.completed_time is not None
        assert [t.event for t in last.completed.history[-2:]].count("destination.skipped") >= 1
        # a repeat changes nothing, the change included
        assert store.record_outcome(warehouse.job_id, DELETED, T0, complete, change=noted).repeated
        assert store.get(task_id) == last.completed

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        steps=st.lists(
            st.lists(
                st.tuples(st.integers(0, 2), st.sampled_from(NAMES), st.sampled_from(WORDS)),
                min_size=1,
                max_size=4,
            ),
            max_size=8,
        )
    )
    def test_batches_and_single_reports_keep_one_outcome_and_complete_exactly(
        self, store: Any, steps: list[list[tuple[int, str, Outcome]]]
    ) -> None:
        """After any sequence of batches (a list of more than one) and single reports, no
        job has two outcomes and a task is completed exactly when all its jobs are final."""
        tasks = [self.actioned(store) for _ in range(3)]
        first: dict[tuple[int, str], Outcome] = {}
        for batch in steps:
            keys = [(task, name) for task, name, _ in batch]
            reports = [Report(self.job(store, tasks[t], n).job_id, o, n) for t, n, o in batch]
            expected: dict[tuple[int, str], Outcome] = dict(first)
            conflict = False
            for key, (_, _, outcome) in zip(keys, batch, strict=True):
                if expected.setdefault(key, outcome) != outcome:
                    conflict = True
            if conflict:
                with pytest.raises(OutcomeConflict):
                    send(store, reports)
            else:
                send(store, reports)
                first = expected
            for index, task_id in enumerate(tasks):
                jobs = store.task_jobs(task_id)
                outcomes = {j.destination: j.outcome for j in jobs if j.outcome is not None}
                assert outcomes == {n: o for (t, n), o in first.items() if t == index}
                done = store.get(task_id).completed_time is not None
                assert done == (len(outcomes) == len(NAMES))
