"""The asyncio client against a real server: the same promises as the blocking one."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from deletion_requests_client import (
    AsyncClient,
    BadRequest,
    DeadlineExceeded,
    NotFound,
    Retry,
    TransportError,
)

from .conftest import (
    ACCOUNT,
    NO_SUCH_TASK,
    AsyncFaultyTransport,
    Deployment,
    Faults,
    MonotonicClock,
    Sleeps,
    bad_gateway,
    lose_answer,
    refuse,
    token_requests,
)

CREATE = "/data/deletion-requests/emails"


def client_for(
    deployment: Deployment,
    faults: Faults,
    sleeps: Sleeps,
    clock: MonotonicClock | None = None,
    retry: Retry | None = None,
) -> AsyncClient:
    return AsyncClient(
        deployment.base_url,
        deployment.app_id,
        deployment.secret,
        transport=AsyncFaultyTransport(faults),
        sleep=sleeps.asleep,
        clock=clock or MonotonicClock(),
        retry=retry,
    )


def email() -> str:
    return f"{uuid.uuid4()}@example.com"


def test_concurrent_requests_share_one_token_until_it_is_due_or_refused(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    clock = MonotonicClock()

    async def run() -> None:
        async with client_for(deployment, faults, sleeps, clock) as client:
            made = await asyncio.gather(
                *(client.create(ACCOUNT, raw_emails=[email()]) for _ in range(5))
            )
            assert len({task.task_id for task in made}) == 5
            assert token_requests(faults) == 1
            clock.now += 3600 - 59
            await client.get(made[0].task_id)
            assert token_requests(faults) == 2
            deployment.clock.advance(dt.timedelta(hours=3))  # the server calls it expired
            assert (await client.get(made[0].task_id)).task_id == made[0].task_id
            assert token_requests(faults) == 3

    asyncio.run(run())
    assert sleeps.waits == []


def test_a_retried_create_makes_one_task(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    faults.plan("POST", CREATE, refuse, lose_answer, bad_gateway)

    async def run() -> None:
        async with client_for(deployment, faults, sleeps) as client:
            task = await client.create(ACCOUNT, raw_emails=[email()], idempotency_key="order-17")
            listed = [t.task_id async for t in client.iter_tasks(account_id=ACCOUNT)]
            assert listed == [task.task_id]
            again = await client.create(ACCOUNT, raw_emails=[email()], idempotency_key="order-18")
            assert again.task_id != task.task_id

    asyncio.run(run())
    keys = [r.headers["idempotency-key"] for r in faults.seen if r.url.path == CREATE]
    assert keys == ["order-17"] * 4 + ["order-18"]
    assert len(sleeps.waits) == 3


def test_giving_up_on_a_connection_is_a_transport_error(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    faults.plan("GET", f"/data/deletion-requests/{NO_SUCH_TASK}", refuse, refuse)

    async def run() -> None:
        async with client_for(deployment, faults, sleeps, retry=Retry(attempts=2)) as client:
            with pytest.raises(TransportError):
                await client.get(NO_SUCH_TASK)
            with pytest.raises(NotFound):
                await client.get(NO_SUCH_TASK)

    asyncio.run(run())


def test_pages_cancels_and_errors(deployment: Deployment, faults: Faults, sleeps: Sleeps) -> None:
    async def run() -> None:
        async with client_for(deployment, faults, sleeps) as client:
            made = []
            for _ in range(5):
                made.append((await client.create(ACCOUNT, raw_emails=[email()])).task_id)
                deployment.clock.advance(dt.timedelta(seconds=1))
            listed = [t.task_id async for t in client.iter_tasks(page_size=2)]
            assert listed == made[::-1]
            assert faults.paths("GET").count("/data/deletion-requests") == 3
            await client.cancel(made[0])
            results = await client.cancel_many([made[0], made[1], NO_SUCH_TASK])
            assert [r.status for r in results] == ["already_cancelled", "cancelled", "not_found"]
            cancelled = [t.task_id async for t in client.iter_tasks(status="cancelled")]
            assert cancelled == [made[1], made[0]]
            deployment.clock.advance(dt.timedelta(days=16))
            with pytest.raises(DeadlineExceeded):
                await client.cancel(made[2])
            with pytest.raises(BadRequest) as bad:
                await client.create(ACCOUNT, raw_emails=["not an address"])
            assert bad.value.code == "BAD_REQUEST"
            assert "not an address" not in bad.value.message

    asyncio.run(run())


def test_the_async_client_reads_the_extended_due_time_and_the_outcome(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    deployment.pull_destinations("crm")

    async def run() -> None:
        async with client_for(deployment, faults, sleeps) as client:
            task = await client.create(ACCOUNT, raw_emails=[email()])
            deployment.extend(task.task_id, 10)
            deployment.action(task.task_id)
            extended = await client.get(task.task_id)
            assert extended.due_time == task.creation_time + dt.timedelta(days=40)
            assert extended.outcome is None
            deployment.report(task.task_id, "crm", "deleted")
            done = await client.get(task.task_id)
            assert (done.outcome, done.due_time) == ("deleted", extended.due_time)

    asyncio.run(run())
