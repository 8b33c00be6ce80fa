"""A create in two steps: `prepare_create` writes nothing, `finish_create` answers for what
the store did with the prepared task."""

from __future__ import annotations

import datetime as dt

import pytest

from deletion_requests import (
    AccessAdmin,
    Caller,
    DeletionService,
    InvalidRequest,
    ManualClock,
    MemoryStore,
    Status,
    UnauthorizedAccount,
)
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict, TaskQuery
from deletion_requests.wire import hash_email

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
CALLER = Caller("app-1", frozenset({"acct-a"}))


@pytest.fixture
def service() -> DeletionService:
    store = MemoryStore()
    clock = ManualClock(T0)
    AccessAdmin(store, clock).allow_account("acct-a")
    return DeletionService(store, clock, subscribers=[])


def stored(service: DeletionService) -> list[str]:
    query = TaskQuery(accounts=frozenset({"acct-a"}))
    return [task.task_id for task in service.store.list_tasks(query)]


def test_prepare_checks_and_builds_the_task_without_writing(service: DeletionService) -> None:
    prepared = service.prepare_create(CALLER, "acct-a", raw_emails=["a@example.com"])
    assert prepared.done is None
    assert prepared.task.status is Status.PENDING
    assert prepared.task.identifiers == {hash_email("a@example.com")}
    assert prepared.task.created_by == "app-1"
    assert stored(service) == []
    service.store.add(prepared.task, prepared.key)
    assert service.finish_create(prepared, None) == prepared.task
    assert stored(service) == [prepared.task.task_id]


def test_prepare_refuses_what_create_refuses(service: DeletionService) -> None:
    with pytest.raises(UnauthorizedAccount):
        service.prepare_create(CALLER, "acct-b", raw_emails=["a@example.com"])
    with pytest.raises(InvalidRequest):
        service.prepare_create(CALLER, "acct-a", raw_emails=["a@example.com"], idempotency_key="")


def test_a_bound_key_is_done_at_prepare_with_the_original_task(service: DeletionService) -> None:
    first = service.create(CALLER, "acct-a", raw_emails=["a@example.com"], idempotency_key="k")
    again = service.prepare_create(
        CALLER, "acct-a", raw_emails=["a@example.com"], idempotency_key="k"
    )
    assert again.done == first
    with pytest.raises(InvalidRequest, match="different request"):
        service.prepare_create(CALLER, "acct-a", raw_emails=["b@example.com"], idempotency_key="k")


def test_a_key_bound_by_a_racing_create_answers_with_that_task(service: DeletionService) -> None:
    racing = service.prepare_create(
        CALLER, "acct-a", sha256_emails=[], raw_emails=["a@x.io"], idempotency_key="k"
    )
    mine = service.prepare_create(CALLER, "acct-a", raw_emails=["a@x.io"], idempotency_key="k")
    service.store.add(racing.task, racing.key)
    with pytest.raises(IdempotencyKeyConflict) as refused:
        service.store.add(mine.task, mine.key)
    assert service.finish_create(mine, refused.value).task_id == racing.task.task_id
    with pytest.raises(DuplicateTask):
        service.finish_create(mine, DuplicateTask("taken"))
