"""The contract of `Destinations`: destinations, their jobs, claims, outcomes and completion.

Subclass `DestinationsContract` as `Test...` and supply `create_store(directory)`, a new, empty
store that offers both the task port and `Destinations`.
"""

from __future__ import annotations

import datetime as dt
import threading
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
    BREAKER,
    Destination,
    DestinationConflict,
    Job,
    JobState,
    Mode,
    Outcome,
    OutcomeConflict,
    OutcomeKind,
    UnknownJob,
    jobs_for,
)
from deletion_requests._errors import InvalidRequest
from deletion_requests._job_changes import retried
from deletion_requests._lifecycle import catch_up
from deletion_requests._policy import Policy
from deletion_requests._port_destinations import Destinations
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask
from deletion_requests.wire import new_signing_secret

from ._case import PortContract
from ._contract_destination_work import DestinationWorkProperties
from ._contract_outcome_batch import OutcomeBatchContract

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
POLICY = Policy()
MINUTE = dt.timedelta(minutes=1)
HASH = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="
SECRET = new_signing_secret()
DELETED = Outcome(OutcomeKind.DELETED)
NOT_FOUND = Outcome(OutcomeKind.NOT_FOUND)


def push(name: str, **kwargs: Any) -> Destination:
    """A push destination created at T0."""
    return Destination(name, Mode.PUSH, T0, f"https://{name}.example/jobs", SECRET, **kwargs)


def pull(name: str, **kwargs: Any) -> Destination:
    """A pull destination created at T0."""
    return Destination(name, Mode.PULL, T0, credential_digest=digest_secret(name), **kwargs)


def complete(task: DeletionTask, jobs: Sequence[Job]) -> DeletionTask:
    """The completion a store writes with a task's last outcome."""
    return handoff.complete(task, T0 + POLICY.cancel_period, "destinations")


class DestinationsContract(
    DestinationWorkProperties, OutcomeBatchContract, PortContract[Destinations]
):
    """Behaviour every `Destinations` guarantees. Hook: `create_store(directory)`."""

    def action(self, store: Any, destinations: Sequence[Destination], account: str = "a") -> str:
        """Add a task, action it with jobs for *destinations*, and return its id."""
        task = DeletionTask(
            str(uuid.uuid4()), account, Status.PENDING, T0, frozenset({HASH}), created_by="app"
        )
        store.add(task)
        actioned = catch_up(task, T0 + POLICY.cancel_period, POLICY)
        assert actioned.status is Status.ACTIONED
        jobs = jobs_for(actioned, destinations, T0 + POLICY.cancel_period)
        assert store.write_actioned([(actioned, jobs)]) == frozenset()
        return task.task_id

    def test_destinations_are_added_listed_replaced_and_removed(self, store: Any) -> None:
        store.add_destination(push("warehouse"))
        store.add_destination(pull("backups", waits_for={"warehouse"}, accounts={"a"}))
        with pytest.raises(DestinationConflict):
            store.add_destination(push("warehouse"))
        with pytest.raises(InvalidRequest, match=r"unknown destination\(s\): crm$"):
            store.add_destination(pull("erp", waits_for={"crm", "warehouse"}))
        assert [d.name for d in store.list_destinations()] == ["backups", "warehouse"]
        assert store.get_destination("backups") == pull(
            "backups", waits_for={"warehouse"}, accounts={"a"}
        )
        assert store.get_destination("nope") is None
        assert store.put_destination(push("warehouse", paused=True))
        assert store.get_destination("warehouse").paused
        assert not store.put_destination(push("other"))
        assert store.remove_destination("backups")
        assert not store.remove_destination("backups")
        assert [d.name for d in store.list_destinations()] == ["warehouse"]

    def test_jobs_are_written_with_the_task_and_not_without_it(self, store: Any) -> None:
        dests = [push("crm"), pull("warehouse")]
        task_id = self.action(store, dests)
        jobs = store.task_jobs(task_id)
        assert [(j.destination, j.state) for j in jobs] == [
            ("crm", JobState.OWED),
            ("warehouse", JobState.OWED),
        ]
        assert store.get(task_id).status is Status.ACTIONED
        assert store.get_job(jobs[0].job_id) == jobs[0]
        stale = store.get(task_id)  # same version as stored: compare-and-set refuses it
        other = jobs_for(stale, [push("late")], T0)
        assert store.write_actioned([(stale, other)]) == frozenset({task_id})
        assert [j.destination for j in store.task_jobs(task_id)] == ["crm", "warehouse"]

    def test_claims_take_the_oldest_owed_jobs_once(self, store: Any) -> None:
        store.add_destination(pull("warehouse"))
        first, second = (self.action(store, [pull("warehouse")]) for _ in range(2))
        claimed = store.claim_jobs("warehouse", "w1", T0, T0 + MINUTE, 1)
        assert [j.task_id for j in claimed] == [first] or [j.task_id for j in claimed] == [second]
        assert claimed[0].state is JobState.CLAIMED
        assert claimed[0].holder == "w1"
        rest = store.claim_jobs("warehouse", "w2", T0, T0 + MINUTE, 10)
        assert {j.task_id for j in claimed + rest} == {first, second}
        assert store.claim_jobs("warehouse", "w3", T0, T0 + MINUTE, 10) == []
        again = store.claim_jobs("warehouse", "w3", T0 + MINUTE, T0 + 2 * MINUTE, 10)
        assert len(again) == 2
        assert {j.holder for j in again} == {"w3"}
        assert store.claim_jobs("nope", "w", T0, T0 + MINUTE, 10) == []

    def test_a_paused_destination_is_sent_nothing(self, store: Any) -> None:
        store.add_destination(push("crm", paused=True))
        self.action(store, [push("crm")])
        assert store.claim_jobs("crm", "w", T0, T0 + MINUTE, 10) == []
        store.put_destination(push("crm"))
        assert len(store.claim_jobs("crm", "w", T0, T0 + MINUTE, 10)) == 1

    def test_a_waiting_job_is_sent_after_the_one_it_waits_for_reports(self, store: Any) -> None:
        dests = [push("warehouse"), pull("backups", waits_for={"warehouse"})]
        for destination in dests:
            store.add_destination(destination)
        task_id = self.action(store, dests)
        assert store.claim_jobs("backups", "w", T0, T0 + MINUTE, 10) == []
        (warehouse,) = store.claim_jobs("warehouse", "w", T0, T0 + MINUTE, 10)
        store.record_outcome(warehouse.job_id, DELETED, T0, complete)
        (backups,) = store.claim_jobs("backups", "w", T0, T0 + MINUTE, 10)
        assert backups.task_id == task_id
        assert backups.waits_for == frozenset()

    def test_a_push_is_delivered_or_owed_again_after_its_backoff(self, store: Any) -> None:
        store.add_destination(push("crm"))
        self.action(store, [push("crm")])
        (job,) = store.claim_jobs("crm", "w", T0, T0 + MINUTE, 10)
        assert store.mark_delivered(job.job_id, "other") is None
        failed = store.mark_attempt_failed(job.job_id, "w", "status 503", T0 + 5 * MINUTE)
        assert failed.state is JobState.OWED
        assert failed.attempts == 1
        assert failed.last_error == "status 503"
        assert store.claim_jobs("crm", "w", T0 + MINUTE, T0 + 2 * MINUTE, 10) == []
        (job,) = store.claim_jobs("crm", "w", T0 + 5 * MINUTE, T0 + 6 * MINUTE, 10)
        delivered = store.mark_delivered(job.job_id, "w")
        assert delivered.state is JobState.DELIVERED
        assert delivered.attempts == 2
        assert store.claim_jobs("crm", "w", T0 + 9 * MINUTE, T0 + 10 * MINUTE, 10) == []
        assert store.get_job(job.job_id) == delivered

    def test_an_outcome_is_given_once_and_its_repeat_changes_nothing(self, store: Any) -> None:
        task_id = self.action(store, [push("crm"), push("erp")])
        crm, erp = store.task_jobs(task_id)
        recorded = store.record_outcome(crm.job_id, NOT_FOUND, T0, complete)
        assert not recorded.repeated
        assert recorded.completed is None
        assert recorded.job.outcome == NOT_FOUND
        assert recorded.job.state is JobState.FINAL
        assert store.record_outcome(crm.job_id, NOT_FOUND, T0 + MINUTE, complete).repeated
        with pytest.raises(OutcomeConflict):
            store.record_outcome(crm.job_id, DELETED, T0, complete)
        assert store.get_job(crm.job_id) == recorded.job
        with pytest.raises(UnknownJob):
            store.record_outcome(str(uuid.uuid4()), DELETED, T0, complete)
        assert store.get(task_id).completed_time is None
        last = store.record_outcome(
            erp.job_id, Outcome(OutcomeKind.EXEMPT, "tax law"), T0, complete
        )
        assert last.completed is not None
        assert last.completed.completed_time is not None
        assert store.get(task_id) == last.completed

    def test_concurrent_outcomes_give_a_job_one(self, store: Any) -> None:
        task_id = self.action(store, [push("crm")])
        (job,) = store.task_jobs(task_id)
        results: list[object] = []
        barrier = threading.Barrier(4)

        def report(outcome: Outcome) -> None:
            barrier.wait()
            try:
                results.append(store.record_outcome(job.job_id, outcome, T0, complete))
            except OutcomeConflict as error:
                results.append(error)

        outcomes = [DELETED, NOT_FOUND, DELETED, NOT_FOUND]
        threads = [threading.Thread(target=report, args=(o,)) for o in outcomes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        firsts = [r for r in results if not isinstance(r, Exception) and not r.repeated]  # type: ignore[attr-defined]
        assert len(firsts) == 1
        assert store.get(task_id).completed_time is not None

    def test_a_job_is_changed_in_one_write_but_never_its_outcome(self, store: Any) -> None:
        store.add_destination(push("crm"))
        task_id = self.action(store, [push("crm"), push("erp")])
        (job,) = store.claim_jobs("crm", "w", T0, T0 + MINUTE, 10)
        failed = store.mark_attempt_failed(job.job_id, "w", "HTTP 503", T0 + 5 * MINUTE)
        again = store.change_job(job.job_id, retried)
        assert (again.state, again.lease_until, again.holder) == (JobState.OWED, None, None)
        assert (again.attempts, again.last_error) == (failed.attempts, "HTTP 503")
        assert store.get_job(job.job_id) == again
        assert [j.job_id for j in store.claim_jobs("crm", "w", T0, T0 + MINUTE, 10)] == [job.job_id]
        assert store.change_job(str(uuid.uuid4()), retried) is None
        store.record_outcome(job.job_id, DELETED, T0, complete)
        final = store.get_job(job.job_id)
        with pytest.raises(OutcomeConflict):
            store.change_job(job.job_id, retried)
        with pytest.raises(ValueError, match="outcome"):
            store.change_job(job.job_id, lambda j: attrs.evolve(j, outcome=NOT_FOUND))
        (_, erp) = store.task_jobs(task_id)
        with pytest.raises(ValueError, match="final"):
            store.change_job(erp.job_id, lambda j: attrs.evolve(j, state=JobState.FINAL))
        assert store.task_jobs(task_id) == [final, erp]

    def test_removing_a_destination_that_owes_jobs_is_refused(self, store: Any) -> None:
        store.add_destination(push("crm"))
        task_id = self.action(store, [push("crm")])
        with pytest.raises(DestinationConflict, match="1 job"):
            store.remove_destination("crm")
        (job,) = store.task_jobs(task_id)
        store.record_outcome(job.job_id, DELETED, T0, complete)
        assert store.remove_destination("crm")
        assert store.task_jobs(task_id) == []

    def test_removing_a_destination_others_wait_for_is_refused(self, store: Any) -> None:
        store.add_destination(push("crm"))
        store.add_destination(push("crm-eu"))
        store.add_destination(pull("erp", waits_for={"crm", "crm-eu"}))
        store.add_destination(pull("backups", waits_for={"crm"}))
        store.add_destination(pull("archive", waits_for={"crm-eu"}))
        before = store.list_destinations()
        with pytest.raises(DestinationConflict, match="waited for by backups, erp,"):
            store.remove_destination("crm")
        assert store.list_destinations() == before
        assert store.remove_destination("backups")
        assert store.remove_destination("erp")
        assert store.remove_destination("crm")  # archive waits for crm-eu, not for crm
        with pytest.raises(DestinationConflict, match="waited for by archive,"):
            store.remove_destination("crm-eu")

    def test_job_counts_per_destination(self, store: Any) -> None:
        store.add_destination(pull("warehouse"))
        for _ in range(3):
            self.action(store, [push("crm"), pull("warehouse")])
        claimed = store.claim_jobs("warehouse", "w", T0, T0 + MINUTE, 2)
        store.record_outcome(claimed[0].job_id, DELETED, T0, complete)
        counts = store.job_counts()
        assert (counts["crm"].owed, counts["crm"].in_progress, counts["crm"].final) == (3, 0, 0)
        warehouse = counts["warehouse"]
        assert (warehouse.owed, warehouse.in_progress, warehouse.final) == (1, 1, 1)
        assert warehouse.oldest_open == T0 + POLICY.cancel_period

    def test_job_counts_hold_outcomes_by_word(self, store: Any) -> None:
        store.add_destination(pull("warehouse"))
        for _ in range(3):
            self.action(store, [pull("warehouse")])
        first, second, _ = store.claim_jobs("warehouse", "w", T0, T0 + MINUTE, 3)
        store.record_outcome(first.job_id, DELETED, T0, complete)
        store.record_outcome(second.job_id, Outcome(OutcomeKind.FAILED, "gone"), T0, complete)
        counts = store.job_counts()["warehouse"]
        assert counts.outcomes == {"deleted": 1, "failed": 1}
        assert (counts.owed, counts.in_progress, counts.final, counts.failed) == (0, 1, 2, 1)

    def test_a_destination_keeps_its_breaker_state(self, store: Any) -> None:
        store.add_destination(push("crm"))
        opened = attrs.evolve(
            push("crm"),
            paused=True,
            changed_by=BREAKER,
            changed_time=T0 + MINUTE,
            failures=20,
            failing_since=T0,
            last_error="HTTP 503",
        )
        assert store.put_destination(opened)
        assert store.get_destination("crm") == opened
        assert store.get_destination("crm").paused_by_breaker
        assert store.list_destinations() == [opened]
        assert store.claim_jobs("crm", "w", T0, T0 + MINUTE, 10) == []

    def test_change_destination_replaces_it_in_one_write(self, store: Any) -> None:
        store.add_destination(push("crm"))
        assert store.change_destination("nobody", lambda d: d) is None
        before, after = store.change_destination(
            "crm", lambda d: attrs.evolve(d, failures=d.failures + 1, last_error="timeout")
        )
        assert (before.failures, after.failures, after.last_error) == (0, 1, "timeout")
        assert store.get_destination("crm") == after

    def test_concurrent_changes_of_a_destination_are_never_lost(self, store: Any) -> None:
        store.add_destination(push("crm"))
        barrier = threading.Barrier(4)

        def count() -> None:
            barrier.wait()
            for _ in range(10):
                store.change_destination("crm", lambda d: attrs.evolve(d, failures=d.failures + 1))

        threads = [threading.Thread(target=count) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.get_destination("crm").failures == 40

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one store, a new task an example
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # each store's subclass runs this same test
        ],
    )
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from(["claim", "report", "pause", "resume"]),
                st.sampled_from(["warehouse", "crm", "backups"]),
                st.sampled_from([DELETED, NOT_FOUND]),
            ),
            max_size=25,
        )
    )
    def test_completed_exactly_when_every_job_has_one_outcome(
        self, store: Any, steps: list[tuple[str, str, Outcome]]
    ) -> None:
        names = {"warehouse": None, "crm": None, "backups": {"warehouse"}}
        dests = {n: push(n, waits_for=w or ()) for n, w in names.items()}
        for destination in dests.values():
            if store.get_destination(destination.name) is None:
                store.add_destination(destination)
            store.put_destination(destination)
        task_id = self.action(store, list(dests.values()))
        paused: set[str] = set()
        reported: dict[str, Outcome] = {}
        moment = T0
        for op, name, outcome in steps:
            moment += MINUTE
            if op == "pause":
                paused.add(name)
                store.put_destination(push(name, waits_for=names[name] or (), paused=True))
            elif op == "resume":
                paused.discard(name)
                store.put_destination(push(name, waits_for=names[name] or ()))
            elif op == "claim":
                claimed = [
                    j
                    for j in store.claim_jobs(name, "w", moment, moment + MINUTE, 100)
                    if j.task_id == task_id
                ]
                if claimed:
                    assert name not in paused
                    assert all(w in reported for w in names[name] or ())
                    assert name not in reported
            else:
                job = next(j for j in store.task_jobs(task_id) if j.destination == name)
                if job.state is not JobState.CLAIMED and name not in reported:
                    continue
                first = reported.setdefault(name, outcome)
                if first == outcome:
                    store.record_outcome(job.job_id, outcome, moment, complete)
                else:
                    with pytest.raises(OutcomeConflict):
                        store.record_outcome(job.job_id, outcome, moment, complete)
            jobs = store.task_jobs(task_id)
            assert {j.destination: j.outcome for j in jobs if j.outcome} == reported
            done = store.get(task_id).completed_time is not None
            assert done == (len(reported) == len(dests))
