"""The lifecycle's promises, as hypothesis properties (see docs/lifecycle.md)."""

from __future__ import annotations

import datetime as dt
import itertools

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from deletion_requests import (
    AccessAdmin,
    Caller,
    DeadlineExceeded,
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Operators,
    Policy,
    Status,
    _lifecycle,
)
from deletion_requests._lifecycle import catch_up
from deletion_requests._policy import status_at
from deletion_requests.stores import Transition, task_from_record, task_to_record
from deletion_requests.testing import aware_datetimes, emails, periods, policies, tasks
from deletion_requests.wire import hash_email, task_to_api, task_to_api_json, tasks_to_api_json

UTC = dt.UTC
WORDS = st.characters(exclude_categories=("Cc", "Cs"), include_characters="\t\n\r")
"""Text an operator may write: no control character but the whitespace a reason folds away."""


def make_service(policy: Policy, start: dt.datetime) -> tuple[DeletionService, Caller, ManualClock]:
    clock = ManualClock(start)
    store = MemoryStore()
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-1")
    app, secret = admin.create_app(["acct-1"])
    service = DeletionService(store, clock, policy, subscribers=[])
    return service, service.authenticate(app.app_id, secret), clock


@given(
    policy=policies(),
    created=aware_datetimes(),
    offset=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=90)),
)
def test_cancel_succeeds_iff_before_pending_plus_review(
    policy: Policy, created: dt.datetime, offset: dt.timedelta
) -> None:
    """Property 1: a cancel at t succeeds iff t < creation + pending + review."""
    service, caller, clock = make_service(policy, created)
    task = service.create(caller, "acct-1", sha256_emails=[hash_email("a@b.c")])
    stored_before = service.store.get(task.task_id)
    now = clock.advance(offset)
    if now < created + policy.pending_period + policy.review_period:
        cancelled = service.cancel(caller, task.task_id)
        assert cancelled.status is Status.CANCELLED
        assert cancelled.cancelled_time == now
        assert service.store.get(task.task_id) == cancelled
    else:
        with pytest.raises(DeadlineExceeded):
            service.cancel(caller, task.task_id)
        assert service.store.get(task.task_id) == stored_before
        assert service.get(caller, task.task_id).status is Status.ACTIONED


def test_the_cancel_guard_itself_refuses_at_the_deadline() -> None:
    """The guard decides, not only the catch-up before it: a `ready` subject fired `cancel`
    at exactly creation + pending + review is refused by `before_deadline`, and one
    microsecond earlier is allowed. (Catch-up would have actioned it first: this checks the
    guard on its own, so that `<` turned into `<=` fails here.)"""
    policy = Policy()
    created = dt.datetime(2026, 1, 1, tzinfo=UTC)
    ready = DeletionTask(
        task_id="3bc2e8b0-88ee-400c-8696-44897bc95cd3",
        account_id="acct-1",
        status=Status.READY,
        creation_time=created,
        identifiers=frozenset(),
        ready_time=created + policy.pending_period,
    )
    deadline = policy.actioned_at(created)
    assert not _lifecycle._fire(_lifecycle._Subject(ready, policy), "cancel", deadline)
    early = deadline - dt.timedelta(microseconds=1)
    assert _lifecycle._fire(_lifecycle._Subject(ready, policy), "cancel", early)


def test_cancel_at_exactly_the_deadline_fails() -> None:
    """Boundaries are inclusive: at creation + 15 days the task is actioned."""
    created = dt.datetime(2026, 1, 1, tzinfo=UTC)
    service, caller, clock = make_service(Policy(), created)
    task = service.create(caller, "acct-1", raw_emails=["a@b.c"])
    clock.set(created + dt.timedelta(days=15) - dt.timedelta(microseconds=1))
    assert service.get(caller, task.task_id).status is Status.READY
    clock.set(created + dt.timedelta(days=15))
    with pytest.raises(DeadlineExceeded):
        service.cancel(caller, task.task_id)
    clock.set(created + dt.timedelta(days=12))
    assert service.get(caller, task.task_id).status is Status.READY


class LifecycleAgainstReference(RuleBasedStateMachine):
    """Property 2: any interleaving of clock moves, advance_due, reads and cancels is observed
    exactly as the reference function of (creation, cancelled, now) says."""

    @initialize(policy=policies(), start=aware_datetimes())
    def start(self, policy: Policy, start: dt.datetime) -> None:
        self.policy = policy
        self.service, self.caller, self.clock = make_service(policy, start)
        self.cancelled: dict[str, dt.datetime] = {}
        self.created: dict[str, dt.datetime] = {}

    @rule(n=st.integers(1, 3))
    def create(self, n: int) -> None:
        for i in range(n):
            task = self.service.create(self.caller, "acct-1", raw_emails=[f"u{i}@example.com"])
            self.created[task.task_id] = task.creation_time

    @rule(delta=st.one_of(periods(max_days=10), st.just(dt.timedelta(0))))
    def move_clock(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)

    @rule()
    def advance_due(self) -> None:
        self.service.advance_due()

    @precondition(lambda self: bool(self.created))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.created)))
        now = self.clock.now()
        expected = status_at(self.created[task_id], self.cancelled.get(task_id), now, self.policy)
        if expected in (Status.PENDING, Status.READY):
            self.service.cancel(self.caller, task_id)
            self.cancelled[task_id] = now
        elif expected is Status.CANCELLED:
            assert (
                self.service.cancel(self.caller, task_id).cancelled_time == self.cancelled[task_id]
            )
        else:
            with pytest.raises(DeadlineExceeded):
                self.service.cancel(self.caller, task_id)

    def _check(self, task: DeletionTask) -> None:
        now = self.clock.now()
        created = self.created[task.task_id]
        cancelled = self.cancelled.get(task.task_id)
        status = status_at(created, cancelled, now, self.policy)
        assert task.status is status
        assert task.cancelled_time == cancelled
        reached_ready = cancelled is None or cancelled >= created + self.policy.pending_period
        expect_ready = created + self.policy.pending_period
        assert task.ready_time == (expect_ready if reached_ready and now >= expect_ready else None)
        expect_actioned = expect_ready + self.policy.review_period
        assert task.actioned_time == (expect_actioned if status is Status.ACTIONED else None)

    @precondition(lambda self: bool(self.created))
    # Any words without a control character (`check_text` refuses those, and
    # tests/test_control_characters.py proves it).
    @rule(data=st.data(), reason=st.text(WORDS, min_size=1, max_size=30).filter(str.strip))
    def operator_cancel(self, data: st.DataObject, reason: str) -> None:
        """An operator's decision follows the client's guard, and never changes a task
        that is past it (actioned) or already decided (cancelled)."""
        task_id = data.draw(st.sampled_from(sorted(self.created)))
        now = self.clock.now()
        expected = status_at(self.created[task_id], self.cancelled.get(task_id), now, self.policy)
        before = self.service.store.get(task_id)
        operators = Operators(self.service)
        if expected in (Status.PENDING, Status.READY):
            task = operators.cancel(task_id, "ana", reason)
            assert (task.history[-1].by, task.history[-1].detail) == (
                "operator:ana",
                " ".join(reason.split()),
            )
            self.cancelled[task_id] = now
            return
        if expected is Status.CANCELLED:
            operators.cancel(task_id, "ana", reason)
        else:
            with pytest.raises(DeadlineExceeded):
                operators.cancel(task_id, "ana", reason)
        assert self.service.store.get(task_id) == before

    @rule()
    def maintain(self) -> None:
        self.service.maintain()

    @invariant()
    def history_is_append_only_and_in_time_order(self) -> None:
        if not hasattr(self, "service"):
            return
        seen: dict[str, tuple[Transition, ...]] = getattr(self, "histories", {})
        for task_id in self.created:
            stored = self.service.store.get(task_id)
            assert stored is not None
            history = stored.history
            assert history[0].event == "created"
            assert history[: len(seen.get(task_id, ()))] == seen.get(task_id, ())
            assert all(a.at <= b.at for a, b in itertools.pairwise(history))
            seen[task_id] = history
        self.histories = seen

    @invariant()
    def every_read_matches_the_reference(self) -> None:
        if not hasattr(self, "service"):
            return
        for task_id in self.created:
            self._check(self.service.get(self.caller, task_id))
        listed = self.service.list(self.caller, limit=1000).tasks
        assert {t.task_id for t in listed} == set(self.created)
        for task in listed:
            self._check(task)
        for status in Status:
            page = self.service.list(self.caller, status=status, limit=1000)
            assert all(t.status is status for t in page.tasks)
            assert len(page.tasks) == sum(t.status is status for t in listed)


TestLifecycleAgainstReference = LifecycleAgainstReference.TestCase


@given(
    task=tasks(), later=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=90))
)
def test_final_states_absorb(task: DeletionTask, later: dt.timedelta) -> None:
    """Property 3: actioned and cancelled are absorbing: no transition leaves them. (An actioned
    task left incomplete past its due time gains an `overdue` mark, not a status.)"""
    policy = Policy()
    if task.status.is_final:
        now = task.creation_time + 3 * policy.cancel_period + later
        caught_up = catch_up(task, now, policy)
        assert caught_up.status is task.status
        added = caught_up.history[len(task.history) :]
        assert all(step.event != "transition" for step in added)
        if task.status is Status.CANCELLED:
            assert caught_up is task
        assert catch_up(caught_up, now, policy) is caught_up


@given(policy=policies(), created=aware_datetimes(), offset=periods(max_days=10))
def test_second_cancel_succeeds_and_changes_nothing(
    policy: Policy, created: dt.datetime, offset: dt.timedelta
) -> None:
    """Property 3: cancelling a cancelled task succeeds and changes nothing, even much later."""
    service, caller, clock = make_service(policy, created)
    task = service.create(caller, "acct-1", raw_emails=["x@y.z"])
    first = service.cancel(caller, task.task_id)
    clock.advance(offset + policy.cancel_period)
    assert service.cancel(caller, task.task_id) == first
    assert service.store.get(task.task_id) == first
    assert service.get(caller, task.task_id) == first


@given(task=tasks())
def test_codec_round_trips_every_task(task: DeletionTask) -> None:
    """Property 4: storage records round-trip."""
    assert task_from_record(task_to_record(task)) == task


@given(task=tasks(), times=st.lists(aware_datetimes(), min_size=5, max_size=5))
def test_the_fast_json_view_is_the_converters_view(
    task: DeletionTask, times: list[dt.datetime]
) -> None:
    """`task_to_api_json` writes the bytes the cattrs view gives, whatever the times hold
    (microseconds or none) and whichever are set."""
    fields = ("ready_time", "actioned_time", "cancelled_time", "completed_time", "overdue_time")
    for at, name in zip(times, fields, strict=True):
        if getattr(task, name) is not None:
            task = attrs.evolve(task, **{name: at})
    expected = orjson.dumps(task_to_api(task))
    assert task_to_api_json(task) == expected
    assert tasks_to_api_json([task, task]) == b"[" + expected + b"," + expected + b"]"
    if task.creation_time.microsecond:
        whole = attrs.evolve(task, creation_time=task.creation_time.replace(microsecond=0))
        assert task_to_api_json(whole) == orjson.dumps(task_to_api(whole))


@given(
    email=emails(),
    spaces=st.tuples(st.sampled_from(["", " ", "\t", "  "]), st.sampled_from(["", " ", "\n"])),
    flips=st.lists(st.booleans(), min_size=1),
)
def test_case_and_surrounding_space_do_not_change_the_hash(
    email: str, spaces: tuple[str, str], flips: list[bool]
) -> None:
    """Property 4: emails differing in case and surrounding space hash alike."""
    varied = "".join(c.upper() if flips[i % len(flips)] else c for i, c in enumerate(email))
    assert hash_email(spaces[0] + varied + spaces[1]) == hash_email(email)


@given(email=emails())
def test_hashing_a_raw_email_gives_what_a_client_sends(email: str) -> None:
    """Property 4: a raw email and its client-side base64 SHA-256 make the same task."""
    import base64
    import hashlib

    client_side = base64.b64encode(hashlib.sha256(email.encode()).digest()).decode()
    assert hash_email(email) == client_side
    service, caller, _ = make_service(Policy(), dt.datetime(2026, 1, 1, tzinfo=UTC))
    by_raw = service.create(caller, "acct-1", raw_emails=[email.upper()])
    by_hash = service.create(caller, "acct-1", sha256_emails=[client_side])
    both = service.create(caller, "acct-1", raw_emails=[email], sha256_emails=[client_side])
    assert by_raw.identifiers == by_hash.identifiers == both.identifiers == {client_side}
