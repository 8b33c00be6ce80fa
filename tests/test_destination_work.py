"""Destinations end to end in the core: actioning writes the jobs, outcomes complete the task."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deletion_requests import (
    AccessAdmin,
    AuthenticationFailed,
    DeletionService,
    DeletionTask,
    Destination,
    DestinationConflict,
    InvalidRequest,
    JobState,
    ManualClock,
    MemoryStore,
    Mode,
    Outcome,
    OutcomeConflict,
    OutcomeKind,
    Policy,
    Status,
    TaskNotFound,
    UnknownDestination,
    UnknownJob,
)
from deletion_requests._access import digest_secret
from deletion_requests._destination_work import DestinationWork
from deletion_requests._destinations import _JOB_NAMESPACE, job_id_for
from deletion_requests.stores import DEFAULT_DESTINATION
from deletion_requests.wire import MAX_REASON, new_credential, new_signing_secret, summary

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
POLICY = Policy()
SECRET = new_signing_secret()
CREDENTIAL = new_credential()
DELETED = Outcome(OutcomeKind.DELETED)


class World:
    def __init__(self, *destinations: Destination) -> None:
        self.clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, self.clock)
        admin.allow_account("acct-a")
        app, secret = admin.create_app(["acct-a"])
        self.service = DeletionService(self.store, self.clock)
        self.caller = self.service.authenticate(app.app_id, secret)
        self.work = DestinationWork(self.service)
        for destination in destinations:
            self.work.add(destination)

    def actioned(self) -> DeletionTask:
        task = self.service.create(self.caller, "acct-a", raw_emails=["a.person@example.com"])
        self.clock.advance(POLICY.cancel_period)
        assert self.service.advance_due() >= 1
        return self.service.get(self.caller, task.task_id)


def push(name: str, **kwargs: object) -> Destination:
    return Destination(name, Mode.PUSH, T0, f"https://{name}.example", SECRET, **kwargs)  # type: ignore[arg-type]


def pull(name: str) -> Destination:
    return Destination(name, Mode.PULL, T0, credential_digest=digest_secret(CREDENTIAL))


def test_a_task_completes_only_after_all_three_destinations_report() -> None:
    world = World(push("crm"), push("email"), pull("warehouse"))
    task = world.actioned()
    assert task.status is Status.ACTIONED
    jobs = world.work.jobs(task.task_id)
    assert [(j.destination, j.state) for j in jobs] == [
        ("crm", JobState.OWED),
        ("email", JobState.OWED),
        ("warehouse", JobState.OWED),
    ]
    world.work.report_for_task(task.task_id, "crm", Outcome(OutcomeKind.NOT_FOUND))
    world.work.report_for_task(task.task_id, "email", Outcome(OutcomeKind.EXEMPT, "tax records"))
    assert world.service.get(world.caller, task.task_id).completed_time is None
    (claimed,) = world.work.claim("warehouse", 10)
    assert claimed.task.identifiers == task.identifiers
    recorded = world.work.report("warehouse", claimed.job.job_id, DELETED)
    assert recorded.completed is not None
    done = world.service.get(world.caller, task.task_id)
    assert done.completed_time == world.clock.now()
    assert summary(world.work.jobs(task.task_id)) == "deleted"


def test_an_outcome_repeated_is_a_success_and_a_different_one_a_conflict() -> None:
    world = World(push("crm"), push("erp"))
    task = world.actioned()
    assert not world.work.report_for_task(task.task_id, "crm", DELETED).repeated
    assert world.work.report_for_task(task.task_id, "crm", DELETED).repeated
    with pytest.raises(OutcomeConflict):
        world.work.report_for_task(task.task_id, "crm", Outcome(OutcomeKind.NOT_FOUND))
    with pytest.raises(UnknownJob):
        world.work.report("erp", world.work.jobs(task.task_id)[0].job_id, DELETED)


def test_the_completion_endpoint_completes_the_default_job() -> None:
    world = World(push(DEFAULT_DESTINATION))
    task = world.actioned()
    done = world.service.complete(task.task_id, "deleter")
    assert done.completed_time is not None
    (job,) = world.work.jobs(task.task_id)
    assert job.outcome == DELETED


def test_purged_tasks_leave_no_hashes_for_their_jobs() -> None:
    world = World(pull("warehouse"))
    task = world.actioned()
    (claimed,) = world.work.claim("warehouse", 10)
    world.work.report("warehouse", claimed.job.job_id, DELETED)
    world.clock.advance(POLICY.retention + dt.timedelta(days=1))
    assert world.service.purge_settled() == 1
    assert world.store.get(task.task_id).identifiers == frozenset()  # type: ignore[union-attr]


def test_pull_needs_the_destinations_own_credential_and_a_sane_limit() -> None:
    other = Destination("other", Mode.PULL, T0, credential_digest=digest_secret("theirs"))
    world = World(pull("warehouse"), other)
    assert world.work.authenticate("warehouse", CREDENTIAL).name == "warehouse"
    with pytest.raises(AuthenticationFailed):
        world.work.authenticate("warehouse", "theirs")
    for limit in (0, 1001, True):
        with pytest.raises(InvalidRequest, match="limit"):
            world.work.claim("warehouse", limit)


def test_unknown_words_list_the_ones_allowed() -> None:
    with pytest.raises(InvalidRequest, match="deleted, not_found, exempt"):
        Outcome.parse("erased")
    with pytest.raises(InvalidRequest, match="deleted, not_found, exempt"):
        Outcome.parse("failed")
    assert Outcome.parse("failed", "gave up", operator=True).kind is OutcomeKind.FAILED
    with pytest.raises(InvalidRequest, match="needs a reason"):
        Outcome.parse("exempt")


def test_a_reason_is_checked_as_sent_then_trimmed() -> None:
    """The length and the characters of a reason are those sent, as the OpenAPI schema has
    them: a reason that would fit once trimmed, or whose only control character is at an end,
    is refused all the same."""
    assert Outcome.parse("exempt", "x" * MAX_REASON).reason == "x" * MAX_REASON
    assert Outcome.parse("exempt", "  tax law ").reason == "tax law"
    assert Outcome.parse("deleted", "   ").reason == ""
    with pytest.raises(InvalidRequest, match=f"longer than {MAX_REASON}"):
        Outcome.parse("exempt", " " + "x" * MAX_REASON)
    for reason in ("tax law\n", "\ttax law"):
        with pytest.raises(InvalidRequest, match="reason must not hold control characters"):
            Outcome.parse("exempt", reason)


def test_a_destination_owing_jobs_cannot_be_removed_and_waits_must_exist() -> None:
    world = World(push("crm"))
    world.actioned()
    with pytest.raises(DestinationConflict, match="1 job"):
        world.work.remove("crm", "alice")
    with pytest.raises(InvalidRequest, match="unknown destination"):
        world.work.add(push("backups", waits_for={"warehouse"}))


def test_rotate_and_remove_need_an_operator_and_log_who(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "deletion_requests.destinations")
    world = World(push("crm"))
    before = world.work.get("crm")
    for bad in ("", "two words", "nul\x00"):
        with pytest.raises(InvalidRequest, match="operator"):
            world.work.rotate("crm", bad)
        with pytest.raises(InvalidRequest, match="operator"):
            world.work.remove("crm", bad)
    assert world.work.get("crm") == before
    assert caplog.records == []
    rotated, _ = world.work.rotate("crm", "alice")
    world.work.remove("crm", "bob")
    logged = [(r.event, r.by, r.at) for r in caplog.records]  # type: ignore[attr-defined]
    at = world.clock.now().isoformat()
    assert logged == [
        ("destination.rotated", "operator:alice", at),
        ("destination.removed", "operator:bob", at),
    ]
    assert rotated.secret != before.secret
    assert world.store.get_destination("crm") is None


def test_accounts_served_choose_the_jobs() -> None:
    world = World(push("crm", accounts={"acct-b"}), push("erp"))
    task = world.actioned()
    assert [j.destination for j in world.work.jobs(task.task_id)] == ["erp"]


def test_an_operator_skips_a_job_with_a_reason_recorded_in_the_history() -> None:
    world = World(push("crm"), push("erp"))
    task = world.actioned()
    world.work.report_for_task(task.task_id, "crm", DELETED)
    recorded = world.work.skip(task.task_id, "erp", "system retired", "alice")
    assert recorded.job.outcome == Outcome(OutcomeKind.FAILED, "system retired")
    assert recorded.completed is not None
    stored = world.store.get(task.task_id)
    assert stored is not None
    assert stored.completed_time is not None
    (step,) = [h for h in stored.history if h.event == "destination.skipped"]
    assert (step.by, step.detail) == ("operator:alice", "erp: system retired")
    (done,) = [h for h in stored.history if h.event == "completed"]
    assert done.by == "operator:alice"  # the skip completed it: credited to the operator
    with pytest.raises(OutcomeConflict):
        world.work.skip(task.task_id, "crm", "too late", "alice")
    with pytest.raises(InvalidRequest, match="reason"):
        world.work.skip(task.task_id, "erp", " ", "alice")


def test_skipping_a_final_job_is_refused_and_changes_nothing() -> None:
    world = World(push("crm"), push("erp"))
    task = world.actioned()
    world.work.skip(task.task_id, "erp", "system retired", "alice")
    before = world.store.get(task.task_id)
    with pytest.raises(OutcomeConflict, match="final with the outcome failed"):
        world.work.skip(task.task_id, "erp", "system retired", "alice")
    assert world.store.get(task.task_id) == before


def test_an_operator_retries_a_job_owed_now_with_its_attempts_and_error_kept() -> None:
    world = World(push("crm"), push("erp"))
    task = world.actioned()
    now = world.clock.now()
    (job,) = world.store.claim_jobs("crm", "server-1", now, now + dt.timedelta(minutes=2), 10)
    world.store.mark_attempt_failed(job.job_id, "server-1", "HTTP 503", now + dt.timedelta(hours=1))
    assert world.store.claim_jobs("crm", "server-2", now, now + dt.timedelta(minutes=2), 10) == []
    again = world.work.retry(task.task_id, "crm", "the CRM is back", "bob")
    assert (again.state, again.attempts, again.last_error) == (JobState.OWED, 1, "HTTP 503")
    assert again.lease_until is None
    claimed = world.store.claim_jobs("crm", "server-2", now, now + dt.timedelta(minutes=2), 10)
    assert [j.job_id for j in claimed] == [job.job_id]
    stored = world.store.get(task.task_id)
    assert stored is not None
    (step,) = [h for h in stored.history if h.event == "destination.retried"]
    assert (step.by, step.detail, step.source) == (
        "operator:bob",
        "crm: the CRM is back",
        Status.ACTIONED,
    )


def test_retrying_a_final_or_missing_job_is_refused_and_changes_nothing() -> None:
    world = World(push("crm"), push("erp"))
    task = world.actioned()
    world.work.report_for_task(task.task_id, "crm", DELETED)
    before = (world.store.get(task.task_id), world.work.jobs(task.task_id))
    with pytest.raises(OutcomeConflict, match="final with the outcome deleted"):
        world.work.retry(task.task_id, "crm", "again", "bob")
    with pytest.raises(UnknownDestination):
        world.work.retry(task.task_id, "nope", "again", "bob")
    with pytest.raises(TaskNotFound):
        world.work.retry("9b0c1f8e-0000-4000-8000-000000000000", "crm", "again", "bob")
    with pytest.raises(InvalidRequest, match="reason"):
        world.work.retry(task.task_id, "erp", "  ", "bob")
    assert (world.store.get(task.task_id), world.work.jobs(task.task_id)) == before


@settings(max_examples=200, deadline=None)
@given(task_id=st.text(max_size=40), destination=st.text(max_size=63))
def test_job_ids_are_the_version_5_uuids_of_task_and_destination(
    task_id: str, destination: str
) -> None:
    """`job_id_for` is `uuid.uuid5` in the jobs' namespace, however it is computed: the ids
    stored by every store, and by earlier versions, stay the ones it makes."""
    expected = str(uuid.uuid5(_JOB_NAMESPACE, f"{task_id}/{destination}"))
    assert job_id_for(task_id, destination) == expected
