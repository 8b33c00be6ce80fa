"""The blocking client against a real server: tokens, retried creates, paging, cancels, typed
errors."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path

import pytest
from deletion_requests_client import (
    ApiError,
    AuthenticationError,
    BadRequest,
    Client,
    DeadlineExceeded,
    NotFound,
    Retry,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    UnauthorizedAccount,
)

from .conftest import (
    ACCOUNT,
    NO_SUCH_TASK,
    OTHER_ACCOUNT,
    Deployment,
    Faults,
    FaultyTransport,
    MonotonicClock,
    Sleeps,
    bad_gateway,
    deployed,
    lose_answer,
    refuse,
    token_requests,
)

DAY = dt.timedelta(days=1)
CREATE = "/data/deletion-requests/emails"


def client_for(
    deployment: Deployment,
    faults: Faults,
    sleeps: Sleeps,
    clock: MonotonicClock | None = None,
    secret: str | None = None,
    retry: Retry | None = None,
) -> Client:
    return Client(
        deployment.base_url,
        deployment.app_id,
        secret or deployment.secret,
        transport=FaultyTransport(faults),
        sleep=sleeps,
        clock=clock or MonotonicClock(),
        retry=retry,
        callback_secret=deployment.callback_secret,
    )


def email() -> str:
    return f"{uuid.uuid4()}@example.com"


def test_one_token_serves_every_request_while_it_lasts(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    with client_for(deployment, faults, sleeps) as client:
        task = client.create(ACCOUNT, raw_emails=[email()])
        assert client.get(task.task_id).status == "pending"
        assert [t.task_id for t in client.iter_tasks()] == [task.task_id]
    assert token_requests(faults) == 1
    assert len(faults.seen) == 4


def test_the_token_is_replaced_a_little_before_it_expires(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    clock = MonotonicClock()
    with client_for(deployment, faults, sleeps, clock) as client:
        client.create(ACCOUNT, raw_emails=[email()])
        clock.now += 3600 - 61
        deployment.clock.advance(dt.timedelta(seconds=3600 - 61))
        next(client.iter_tasks())
        assert token_requests(faults) == 1
        clock.now += 2  # within the last minute of the hour: replaced before the server refuses
        deployment.clock.advance(dt.timedelta(seconds=2))
        assert len(list(client.iter_tasks())) == 1
    assert token_requests(faults) == 2
    assert sleeps.waits == []


def test_a_token_the_server_calls_expired_is_replaced_once_and_the_request_sent_again(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    with client_for(deployment, faults, sleeps) as client:
        task = client.create(ACCOUNT, raw_emails=[email()])
        deployment.clock.advance(2 * dt.timedelta(hours=1))  # only the server's clock moves
        assert client.get(task.task_id).task_id == task.task_id
    assert token_requests(faults) == 2
    path = f"/data/deletion-requests/{task.task_id}"
    assert [status for seen, status in faults.answered if seen == path] == [403, 200]
    gets = [r for r in faults.seen if r.method == "GET"]
    assert len(gets) == 2
    assert gets[0].headers["authorization"] != gets[1].headers["authorization"]


def test_a_wrong_secret_is_an_authentication_error_asked_once(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    with (
        client_for(deployment, faults, sleeps, secret="not-the-secret") as client,  # noqa: S106 (a wrong one)
        pytest.raises(AuthenticationError) as raised,
    ):
        client.create(ACCOUNT, raw_emails=[email()])
    assert raised.value.code == "AUTHENTICATION_ERROR"
    assert raised.value.status == 403
    assert raised.value.message
    assert raised.value.request_id
    assert faults.paths() == ["/auth/oauth2/token"]


@pytest.mark.parametrize("fault", [lose_answer, bad_gateway], ids=["lost-answer", "502"])
def test_a_create_retried_after_its_answer_was_lost_makes_one_task(
    deployment: Deployment, faults: Faults, sleeps: Sleeps, fault: object
) -> None:
    faults.plan("POST", CREATE, fault, fault)  # type: ignore[arg-type]
    with client_for(deployment, faults, sleeps) as client:
        task = client.create(ACCOUNT, raw_emails=[email()])
        listed = list(client.iter_tasks(account_id=ACCOUNT))
    creates = [r for r in faults.seen if r.url.path == CREATE]
    assert len(creates) == 3
    keys = {r.headers["idempotency-key"] for r in creates}
    assert len(keys) == 1
    assert [t.task_id for t in listed] == [task.task_id]
    assert len(sleeps.waits) == 2


def test_connection_errors_are_retried_with_growing_jittered_waits(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    faults.plan("POST", CREATE, refuse, refuse, refuse)
    retry = Retry(attempts=4, base_delay=1.0, max_delay=3.0)
    with client_for(deployment, faults, sleeps, retry=retry) as client:
        client.create(ACCOUNT, raw_emails=[email()])
    first, second, third = sleeps.waits
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0
    assert 1.5 <= third <= 3.0  # capped at max_delay


def test_retries_end_with_a_typed_error(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    faults.plan("POST", CREATE, refuse, refuse, bad_gateway, bad_gateway)
    with client_for(deployment, faults, sleeps, retry=Retry(attempts=2)) as client:
        with pytest.raises(TransportError) as lost:
            client.create(ACCOUNT, raw_emails=[email()])
        assert "ConnectError" in str(lost.value)
        with pytest.raises(ServiceUnavailable) as failed:
            client.create(ACCOUNT, raw_emails=[email()])
        assert failed.value.status == 502
        assert failed.value.code == "BAD_GATEWAY"
        assert list(client.iter_tasks()) != []  # the 502s hid creates that happened
    assert len(sleeps.waits) == 2


def test_a_rate_limited_request_waits_for_retry_after_or_raises_when_it_is_too_long(
    tmp_path: Path, faults: Faults, sleeps: Sleeps
) -> None:
    with deployed(tmp_path, rate_limit="2/minute") as deployment:
        with client_for(deployment, faults, sleeps) as client:
            for _ in range(2):
                list(client.iter_tasks())
            with pytest.raises(TooManyRequests) as refused:
                list(client.iter_tasks())
            assert sleeps.waits == []  # about a minute: more than max_retry_after
            assert refused.value.retry_after is not None
            assert refused.value.retry_after > 30
        patient = Retry(attempts=3, max_retry_after=120)
        with (
            client_for(deployment, faults, sleeps, retry=patient) as client,
            pytest.raises(TooManyRequests),
        ):
            list(client.iter_tasks())
    assert len(sleeps.waits) == 2
    assert all(30 < wait <= 60 for wait in sleeps.waits)


def test_iter_tasks_follows_every_page_newest_first_with_filters(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    with client_for(deployment, faults, sleeps) as client:
        made = []
        for _ in range(7):
            made.append(client.create(ACCOUNT, raw_emails=[email()]).task_id)
            deployment.clock.advance(dt.timedelta(seconds=1))
        client.cancel(made[1])
        client.cancel(made[4])
        listed = [t.task_id for t in client.iter_tasks(account_id=ACCOUNT, page_size=3)]
        pages = faults.paths("GET").count("/data/deletion-requests")
        cancelled = [t.task_id for t in client.iter_tasks(status="cancelled", page_size=1)]
        pending = {t.status for t in client.iter_tasks(status="pending", page_size=2)}
    assert listed == made[::-1]
    assert pages == 3
    assert cancelled == [made[4], made[1]]
    assert pending == {"pending"}


def test_cancel_and_bulk_cancel(deployment: Deployment, faults: Faults, sleeps: Sleeps) -> None:
    with client_for(deployment, faults, sleeps) as client:
        one, two, three = (client.create(ACCOUNT, raw_emails=[email()]) for _ in range(3))
        client.cancel(one.task_id)
        client.cancel(one.task_id)  # again: the same success
        shown = client.get(one.task_id)
        assert shown.status == "cancelled"
        assert shown.cancelled_time is not None
        assert [entry.to_status for entry in shown.history][-1] == "cancelled"
        results = client.cancel_many([two.task_id, one.task_id, two.task_id, NO_SUCH_TASK])
        assert [(r.task_id, r.status) for r in results] == [
            (two.task_id, "cancelled"),
            (one.task_id, "already_cancelled"),
            (two.task_id, "already_cancelled"),
            (NO_SUCH_TASK, "not_found"),
        ]
        deployment.clock.advance(15 * DAY + dt.timedelta(minutes=1))
        with pytest.raises(DeadlineExceeded) as late:
            client.cancel(three.task_id)
        assert (late.value.code, late.value.status) == ("DEADLINE_EXCEEDED", 410)
        assert client.cancel_many([three.task_id])[0].status == "deadline_exceeded"
        assert client.cancel_many([]) == []


def test_bulk_cancel_sends_long_lists_in_requests_of_a_thousand(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(1001)]
    with client_for(deployment, faults, sleeps) as client:
        results = client.cancel_many(ids)
    assert [r.task_id for r in results] == ids
    assert {r.status for r in results} == {"not_found"}
    assert faults.paths("POST").count("/data/deletion-requests/cancellations") == 2


def test_errors_are_typed_by_the_envelopes_code(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    with client_for(deployment, faults, sleeps) as client:
        with pytest.raises(BadRequest) as bad:
            client.create(ACCOUNT, sha256_emails=["00" * 32])
        assert "sha256Emails[0]" in bad.value.message
        with pytest.raises(UnauthorizedAccount) as account:
            client.create(OTHER_ACCOUNT, raw_emails=[email()])
        assert account.value.code == "UNAUTHORIZED_ACCOUNT"
        with pytest.raises(NotFound) as missing:
            client.get(NO_SUCH_TASK)
        assert missing.value.status == 404
        with pytest.raises(BadRequest):
            client.get("not-a-uuid")
        with pytest.raises(NotFound):  # one path segment: never another route
            client.get("../../auth/oauth2/token")
        with pytest.raises(BadRequest):
            list(client.iter_tasks(status="finished"))
        with pytest.raises(ValueError, match="at least one"):
            client.create(ACCOUNT)
    for error in (bad, account, missing):
        assert isinstance(error.value, ApiError)
    assert sleeps.waits == []


def test_threads_sharing_a_client_share_one_token(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    with (
        client_for(deployment, faults, sleeps) as client,
        concurrent.futures.ThreadPoolExecutor(4) as pool,
    ):
        made = list(pool.map(lambda _: client.create(ACCOUNT, raw_emails=[email()]), range(8)))
    assert len({task.task_id for task in made}) == 8
    assert token_requests(faults) == 1


def test_a_create_takes_sha256_emails_alone_or_with_raw_ones(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    digest = base64.b64encode(hashlib.sha256(b"person@example.com").digest()).decode()
    with client_for(deployment, faults, sleeps) as client:
        hashed = client.create(ACCOUNT, sha256_emails=[digest])
        both = client.create(ACCOUNT, raw_emails=[email()], sha256_emails=[digest])
        assert hashed.task_id != both.task_id
        assert hashed.account_id == both.account_id == ACCOUNT
        with pytest.raises(TypeError, match="not one string"):
            client.create(ACCOUNT, raw_emails="person@example.com")
    bodies = [json.loads(r.content) for r in faults.seen if r.url.path == CREATE]
    assert bodies[0] == {"accountId": ACCOUNT, "sha256Emails": [digest]}
    assert set(bodies[1]) == {"accountId", "rawEmails", "sha256Emails"}


def test_a_task_carries_its_due_time_as_extended_and_its_outcome_once_completed(
    deployment: Deployment, faults: Faults, sleeps: Sleeps
) -> None:
    deployment.pull_destinations("crm", "warehouse")
    with client_for(deployment, faults, sleeps) as client:
        task = client.create(ACCOUNT, raw_emails=[email()])
        assert task.due_time == task.creation_time + 30 * DAY
        assert task.outcome is None
        deployment.extend(task.task_id, 14)
        assert client.get(task.task_id).due_time == task.creation_time + 44 * DAY
        deployment.action(task.task_id)
        deployment.report(task.task_id, "crm", "exempt", "a tax record")
        open_one = client.get(task.task_id)
        assert (open_one.status, open_one.completed_time, open_one.outcome) == (
            "actioned",
            None,
            None,
        )
        deployment.report(task.task_id, "warehouse", "not_found")
        done = client.get(task.task_id)
        assert done.completed_time is not None
        assert done.outcome == "not_found"  # nothing deleted; one found nothing
        assert done.raw["outcome"] == "not_found"
        (listed,) = client.iter_tasks()
        assert (listed.completed_time, listed.outcome) == (done.completed_time, None)
