"""Hypothesis strategies for the core's values, for the core's tests and adapters' tests alike."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import attrs
from hypothesis import strategies as st

from deletion_requests import _handoff as handoff
from deletion_requests._lifecycle import cancel, catch_up
from deletion_requests._policy import Policy
from deletion_requests._status import Status
from deletion_requests._task import DeletionTask

UTC = dt.UTC
EPOCH = dt.datetime(2020, 1, 1, tzinfo=UTC)


def aware_datetimes(
    min_value: dt.datetime = EPOCH, max_value: dt.datetime = dt.datetime(2040, 1, 1, tzinfo=UTC)
) -> st.SearchStrategy[dt.datetime]:
    """Aware UTC datetimes with microseconds, in [min_value, max_value]."""
    return st.datetimes(
        min_value=min_value.replace(tzinfo=None),
        max_value=max_value.replace(tzinfo=None),
        timezones=st.just(UTC),
    )


def periods(max_days: int = 40) -> st.SearchStrategy[dt.timedelta]:
    return st.timedeltas(min_value=dt.timedelta(seconds=1), max_value=dt.timedelta(days=max_days))


def policies() -> st.SearchStrategy[Policy]:
    return st.builds(Policy, periods(), periods(), periods())


def account_ids() -> st.SearchStrategy[str]:
    return st.sampled_from(["acct-1", "acct-2", "acct-3", "2456192011195196284677"])


def sha256_hashes() -> st.SearchStrategy[str]:
    """What a client sends in `sha256Emails`: standard base64 of 32 bytes."""
    return st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode("ascii"))


def emails() -> st.SearchStrategy[str]:
    """Plausible raw addresses, already normalised (lower case, no surrounding space)."""
    part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20)
    return st.builds(lambda local, domain: f"{local}@{domain}.example", part, part)


@st.composite
def after_hand_off(
    draw: st.DrawFn, task: DeletionTask, now: dt.datetime, policy: Policy
) -> DeletionTask:
    """*task* after a few random steps of the hand-off: failed and successful deliveries,
    completion, and a purge once the retention has passed."""
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(sorted(task.outbox) or ["none"]))
        step = draw(st.sampled_from(["fail", "deliver", "complete", "purge"]))
        if step == "fail" and kind != "none":
            task = handoff.delivery_failed(task, kind, now, "webhook", "HTTP 503")
        elif step == "deliver" and kind != "none":
            task = handoff.delivered(task, kind, now, "webhook", draw(st.booleans()))
        elif step == "complete" and task.status is Status.ACTIONED:
            task = handoff.complete(task, now, "deleter")
        elif step == "purge" and task.completed_time is not None:
            now = now + policy.retention
            task = handoff.purge(task, now, policy)
    return task


@st.composite
def tasks(
    draw: st.DrawFn,
    policy: Policy | None = None,
    accounts: st.SearchStrategy[str] | None = None,
    creation_times: st.SearchStrategy[dt.datetime] | None = None,
) -> DeletionTask:
    """A task in any reachable state, produced by the lifecycle machine itself."""
    policy = policy or Policy()
    created = draw(aware_datetimes() if creation_times is None else creation_times)
    task = DeletionTask(
        task_id=str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)),
        account_id=draw(account_ids() if accounts is None else accounts),
        status=Status.PENDING,
        creation_time=created,
        identifiers=draw(st.frozensets(sha256_hashes(), min_size=1, max_size=3)),
        created_by=draw(st.sampled_from(["app_a", "app_b"])),
    )
    age = draw(st.timedeltas(min_value=dt.timedelta(0), max_value=2 * policy.cancel_period))
    now = created + age
    task = catch_up(task, now, policy)
    if task.status in (Status.PENDING, Status.READY) and draw(st.booleans()):
        task = cancel(task, now, policy, by=task.created_by)
    task = draw(after_hand_off(task, now, policy))
    version = 1 + len(task.history) + draw(st.integers(0, 3))
    return attrs.evolve(task, version=version)
