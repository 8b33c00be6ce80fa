"""The hypothesis property of destinations as the service drives them: push rounds, pull claims,
outcomes, pauses and time, over several tasks at once. Part of `DestinationsContract`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletion_requests._access import digest_secret
from deletion_requests._clock import ManualClock
from deletion_requests._destination_work import DestinationWork
from deletion_requests._destinations import (
    Destination,
    Job,
    JobState,
    Mode,
    Outcome,
    OutcomeConflict,
    OutcomeKind,
    jobs_for,
)
from deletion_requests._handoff import DeliveryFailed
from deletion_requests._job_counts import count_jobs
from deletion_requests._lifecycle import catch_up
from deletion_requests._policy import Policy
from deletion_requests._service import DeletionService
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask
from deletion_requests.wire import new_signing_secret

T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
POLICY = Policy()
SECRET = new_signing_secret()
HASH = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="
OUTCOMES = [
    Outcome(OutcomeKind.DELETED),
    Outcome(OutcomeKind.NOT_FOUND),
    Outcome(OutcomeKind.EXEMPT, "a legal retention"),
]
WAITS = {
    "crm": frozenset(),
    "erp": frozenset(),
    "warehouse": frozenset(),
    "backups": {"warehouse", "crm"},
}
PUSHED = ("crm", "erp")
PULLED = ("warehouse", "backups")


def destination(name: str, paused: bool = False) -> Destination:
    """The property's destinations: crm and erp push, warehouse and backups (which waits for
    warehouse and crm) pull."""
    if name in PUSHED:
        url = f"https://{name}.example/jobs"
        return Destination(name, Mode.PUSH, T0, url, SECRET, waits_for=WAITS[name], paused=paused)
    digest = digest_secret(name)
    return Destination(
        name, Mode.PULL, T0, credential_digest=digest, waits_for=WAITS[name], paused=paused
    )


class Sender:
    """A push destination's side of a round: checks, at the moment of each send, that the
    destination is not paused and that every job the sent one waits for has its outcome; then
    answers as told (an outcome in the body, received, or a failure)."""

    def __init__(self, store: Any, answers: dict[str, str]) -> None:
        self.store, self.answers = store, answers
        self.sent: list[tuple[str, str]] = []

    def send(self, target: Destination, job: Job, body: bytes) -> Outcome | None:
        check_sendable(self.store, target.name, job)
        self.sent.append((target.name, job.job_id))
        answer = self.answers.get(target.name, "received")
        if answer == "fail":
            raise DeliveryFailed("HTTP 503")
        if answer == "received":
            return None
        return OUTCOMES[0] if answer == "deleted" else OUTCOMES[1]


def check_sendable(store: Any, name: str, job: Job) -> None:
    stored = store.get_destination(name)
    assert stored is not None
    assert not stored.paused, f"{name} is paused and was sent {job}"
    outcomes = {j.destination: j.outcome for j in store.task_jobs(job.task_id)}
    waiting = [w for w in WAITS[name] if w in outcomes and outcomes[w] is None]
    assert not waiting, f"{name} was sent {job.job_id} before {waiting} reported"


class DestinationWorkProperties:
    """Mixed into `DestinationsContract`: the `store` fixture comes from it."""

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one store, new tasks an example
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # each store's subclass runs this same test
        ],
    )
    @given(
        steps=st.lists(
            st.one_of(
                st.tuples(
                    st.just("push"),
                    st.fixed_dictionaries(
                        {
                            n: st.sampled_from(["received", "fail", "deleted", "not_found"])
                            for n in PUSHED
                        }
                    ),
                ),
                st.tuples(st.just("claim"), st.sampled_from(PULLED), st.integers(1, 3)),
                st.tuples(
                    st.just("report"),
                    st.sampled_from([*PUSHED, *PULLED]),
                    st.integers(0, 2),
                    st.sampled_from(range(len(OUTCOMES))),
                ),
                st.tuples(
                    st.sampled_from(["pause", "resume"]), st.sampled_from([*PUSHED, *PULLED])
                ),
                st.tuples(st.just("tick"), st.sampled_from([1, 30, 120])),
            ),
            max_size=30,
        )
    )
    def test_rounds_claims_and_reports_keep_every_promise(
        self, store: Any, steps: list[tuple[Any, ...]]
    ) -> None:
        """Over three tasks and four destinations driven as the service drives them: a task
        is completed exactly when every job has an outcome; a job's first outcome is its only
        one (a different one is refused); a paused destination is sent and claims nothing;
        a destination waiting for another is sent nothing before that one reports; and the
        store's job counts always equal a count of every job it holds."""
        for name in WAITS:
            if store.get_destination(name) is None:
                store.add_destination(destination(name))
            store.put_destination(destination(name))
        clock = ManualClock(T0 + POLICY.cancel_period + dt.timedelta(minutes=1))
        work = DestinationWork(DeletionService(store, clock, POLICY, subscribers=[]))
        dests = [destination(n) for n in WAITS]
        task_ids = [actioned(store, dests) for _ in range(3)]
        # Every task of this store, from earlier examples too (their jobs are claimed and
        # pushed as well): the test instance lives as long as the store.
        every_task: list[str] = vars(self).setdefault("_every_task", [])
        every_task.extend(task_ids)
        first: dict[str, Outcome] = {}
        paused: set[str] = set()
        for step in steps:
            if step[0] == "push":
                sender = Sender(store, step[1])
                work.push_round(sender)
                assert not {name for name, _ in sender.sent} & paused
                for _name, job_id in sender.sent:
                    job = store.get_job(job_id)
                    if job.outcome is not None and job_id not in first:
                        first[job_id] = job.outcome
            elif step[0] == "claim":
                for claimed in work.claim(step[1], step[2]):
                    assert step[1] not in paused
                    check_sendable(store, step[1], claimed.job)
            elif step[0] == "report":
                _, name, index, which = step
                job = next(j for j in work.jobs(task_ids[index]) if j.destination == name)
                if job.state in (JobState.OWED,):
                    continue  # nothing was sent to it: nothing to report
                outcome = OUTCOMES[which]
                if first.setdefault(job.job_id, outcome) == outcome:
                    work.report(name, job.job_id, outcome)
                else:
                    with pytest.raises(OutcomeConflict):
                        work.report(name, job.job_id, outcome)
            elif step[0] == "pause":
                work.set_paused(step[1], True, "ops")
                paused.add(step[1])
                # at once: nothing goes to it, however many of its jobs are owed
                assert step[1] not in PULLED or work.claim(step[1], 3) == []
                assert not {name for name, _ in push_now(work, store)} & paused
            elif step[0] == "resume":
                work.set_paused(step[1], False, "ops")
                paused.discard(step[1])
            else:
                clock.advance(dt.timedelta(minutes=step[1]))
            for task_id in task_ids:
                jobs = work.jobs(task_id)
                assert {j.job_id: j.outcome for j in jobs if j.outcome} == {
                    j.job_id: first[j.job_id] for j in jobs if j.job_id in first
                }
                done = store.get(task_id).completed_time is not None
                assert done == all(j.outcome is not None for j in jobs)
            every_job = [job for task_id in every_task for job in store.task_jobs(task_id)]
            assert store.job_counts() == count_jobs(every_job), step
        for name in WAITS:
            store.put_destination(destination(name))  # the next example starts unpaused


def push_now(work: DestinationWork, store: Any) -> list[tuple[str, str]]:
    """A push round whose sends all fail (so that nothing changes but attempts): what it
    sent, by destination and job id."""
    sender = Sender(store, dict.fromkeys(PUSHED, "fail"))
    work.push_round(sender)
    return sender.sent


def actioned(store: Any, dests: list[Destination]) -> str:
    """A new task of account "a", actioned with its jobs; its id."""
    task = DeletionTask(
        str(uuid.uuid4()), "a", Status.PENDING, T0, frozenset({HASH}), created_by="app"
    )
    store.add(task)
    at = T0 + POLICY.cancel_period
    moved = catch_up(task, at, POLICY)
    assert moved.status is Status.ACTIONED
    assert store.write_actioned([(moved, jobs_for(moved, dests, at))]) == set()
    return task.task_id
