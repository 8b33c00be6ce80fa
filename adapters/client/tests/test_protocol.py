"""The client's reading of answers, on answers built as the server (or a proxy) writes them."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
from deletion_requests_client import ApiError, Retry, ServiceUnavailable, TooManyRequests
from deletion_requests_client._errors import error_from
from deletion_requests_client._protocol import check, refused_token, retry_after

AUTH_ERROR = {"error": {"code": 403, "error": "AUTHENTICATION_ERROR", "message": "expired"}}


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_a_refused_token_is_told_by_the_header_when_there_is_one_else_by_the_envelope() -> None:
    invalid = 'Bearer realm="api", error="invalid_token", error_description="expired"'
    assert refused_token(answer(401, None, **{"WWW-Authenticate": invalid}))
    assert refused_token(answer(403, AUTH_ERROR, **{"WWW-Authenticate": invalid}))
    scope = 'Bearer error="insufficient_scope"'
    assert not refused_token(answer(403, AUTH_ERROR, **{"WWW-Authenticate": scope}))
    assert refused_token(answer(403, AUTH_ERROR))
    account = {"error": {"code": 403, "error": "UNAUTHORIZED_ACCOUNT", "message": "no"}}
    assert not refused_token(answer(403, account))
    assert not refused_token(answer(200, []))


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after(answer(429, None, **{"Retry-After": "7"})) == 7
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)
    waited = retry_after(answer(503, None, **{"Retry-After": soon}))
    assert waited is not None
    assert 15 <= waited <= 20
    assert retry_after(answer(503, None, **{"Retry-After": "soon"})) is None
    for digits in ("\u00b2", "\u0661\u0662"):  # digits to str.isdigit, not delay-seconds
        sent = httpx.Response(503, headers=[(b"Retry-After", digits.encode())])
        assert retry_after(sent) is None
    assert retry_after(answer(503)) is None


def test_the_backoff_is_bounded_and_stops_after_the_attempts() -> None:
    retry = Retry(attempts=5, base_delay=1, max_delay=4, max_retry_after=10)
    assert [retry.delay(n, None, lambda: 0.0) for n in (1, 2, 3, 4)] == [0.5, 1, 2, 2]
    assert [retry.delay(n, None, lambda: 0.999) for n in (1, 4)] == pytest.approx([1, 4], 0.01)
    assert retry.delay(5, None, lambda: 0.0) is None
    assert retry.delay(1, 9, lambda: 0.0) == 9
    assert retry.delay(1, 11, lambda: 0.0) is None
    with pytest.raises(ValueError, match="at least 1"):
        Retry(attempts=0)


def test_an_answer_without_the_envelope_is_typed_by_its_status() -> None:
    page = httpx.Response(503, text="<html>down</html>", headers={"Retry-After": "3"})
    with pytest.raises(ServiceUnavailable) as down:
        check(page)
    assert down.value.code == "SERVICE_UNAVAILABLE"
    limited = error_from(429, None, None, 3.0)
    assert isinstance(limited, TooManyRequests)
    assert limited.retry_after == 3.0
    odd = error_from(418, {"error": "teapot"}, "req-1", None)
    assert type(odd) is ApiError
    assert (odd.code, odd.status, odd.request_id) == ("IM_A_TEAPOT", 418, "req-1")


def test_a_task_carries_its_due_time_when_the_server_sends_one() -> None:
    from deletion_requests_client import Task

    document = {
        "taskId": "3bc2e8b0-88ee-400c-8696-44897bc95cd3",
        "status": "pending",
        "accountId": "acct-1",
        "creationTime": "2026-03-01T09:00:00+00:00",
        "dueTime": "2026-03-31T09:00:00+00:00",
    }
    assert Task.from_api(document).due_time is not None
    assert Task.from_api(document).due_time.isoformat() == "2026-03-31T09:00:00+00:00"  # type: ignore[union-attr]
    assert Task.from_api({k: v for k, v in document.items() if k != "dueTime"}).due_time is None


COMPLETED = {
    "taskId": "3bc2e8b0-88ee-400c-8696-44897bc95cd3",
    "status": "actioned",
    "accountId": "acct-1",
    "creationTime": "2026-03-01T09:00:00+00:00",
    "completedTime": "2026-03-20T17:45:00+00:00",
}


def test_a_tasks_outcome_is_one_of_the_three_words_or_none_from_a_server_that_does_not_say() -> (
    None
):
    from deletion_requests_client import Task

    for word in ("deleted", "not_found", "exempt"):
        assert Task.from_api({**COMPLETED, "outcome": word}).outcome == word
    assert Task.from_api({**COMPLETED, "outcome": None}).outcome is None
    assert Task.from_api(COMPLETED).outcome is None  # an older server's task
    with pytest.raises(ValueError, match="deleted, not_found, exempt"):
        Task.from_api({**COMPLETED, "outcome": "shredded"})


def test_an_answer_that_is_not_a_task_is_a_bad_response_error() -> None:
    from deletion_requests_client._protocol import page_of, task_of

    bad = answer(200, {**COMPLETED, "outcome": "shredded"}, **{"X-Request-Id": "req-7"})
    with pytest.raises(ApiError) as raised:
        task_of(bad)
    assert (raised.value.code, raised.value.request_id) == ("BAD_RESPONSE", "req-7")
    assert "shredded" in raised.value.message
    with pytest.raises(ApiError, match="BAD_RESPONSE"):
        page_of(answer(200, [COMPLETED, "not a task"]))
    assert task_of(answer(200, COMPLETED)).task_id == COMPLETED["taskId"]
