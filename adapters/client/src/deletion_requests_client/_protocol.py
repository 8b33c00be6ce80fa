"""What the sync and async clients share, with no I/O of its own: the retry policy, the token
cache, and how requests are written and answers read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import random
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from ._errors import ApiError, error_from
from ._models import CancelResult, Task

TOKEN_PATH = "/auth/oauth2/token"  # noqa: S105 (a path, not a secret)
TASKS_PATH = "/data/deletion-requests"
CREATE_PATH = "/data/deletion-requests/emails"
CANCELLATIONS_PATH = "/data/deletion-requests/cancellations"
BULK_CANCEL_LIMIT = 1000
"""The most ids one bulk-cancel request may carry; `cancel_many` sends longer lists in
requests of this many."""

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.NetworkError,
    httpx.TimeoutException,
    httpx.RemoteProtocolError,
)
"""Failures after which the request may or may not have reached the server: retried (every
request the client makes is safe to repeat; a create carries its `Idempotency-Key`)."""


@dataclasses.dataclass(frozen=True)
class Retry:
    """When and how long to wait before trying a request again.

    A request is tried at most *attempts* times in all, again after a connection error, a
    timeout, a 5xx or a 429. Before try n+1 the client waits a random time between half and
    all of `min(max_delay, base_delay * 2**(n-1))` seconds, or the answer's `Retry-After`
    when that is longer. A `Retry-After` over *max_retry_after* is not waited for: the error is
    raised at once (`TooManyRequests.retry_after` says how long the server asked for).
    `Retry(attempts=1)` never retries."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts is at least 1 (1: no retries)")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("Retry delays are not negative")

    def delay(
        self, tried: int, retry_after: float | None, jitter: Callable[[], float]
    ) -> float | None:
        """Seconds to wait after *tried* failed tries, or None: do not try again."""
        if tried >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (tried - 1))
        wait = backoff * (0.5 + jitter() / 2)
        return max(wait, retry_after or 0.0)


def default_jitter() -> float:
    """A number in [0, 1) that spreads retries out; not a secret."""
    return random.random()  # noqa: S311 (spreads retries, not a secret)


@dataclasses.dataclass
class TokenCache:
    """One bearer token and when, by the client's monotonic clock, it should be replaced: a
    little before it expires (a tenth of its life, at most 60 seconds), counted from when the
    token was asked for. Callers hold a lock around `current`/`keep`."""

    token: str | None = None
    replace_at: float = 0.0

    def current(self, now: float) -> str | None:
        return self.token if self.token is not None and now < self.replace_at else None

    def keep(self, answer: httpx.Response, asked_at: float) -> str:
        """The token from a token endpoint's answer (a typed error for an error answer)."""
        document = json_of(check(answer))
        token, lifetime = document.get("access_token"), document.get("expires_in")
        if not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise ApiError(
                "BAD_TOKEN_RESPONSE",
                answer.status_code,
                "the token endpoint's answer has no access_token and expires_in",
                answer.headers.get("x-request-id"),
            )
        self.token = token
        self.replace_at = asked_at + lifetime - min(60.0, lifetime / 10)
        return token

    def drop(self, token: str) -> None:
        """Forget *token* (the server refused it), unless another has replaced it already."""
        if self.token == token:
            self.token = None


_INVALID_TOKEN = re.compile(r'error\s*=\s*"?invalid_token"?', re.IGNORECASE)


def refused_token(answer: httpx.Response) -> bool:
    """Whether the server refused the bearer token itself (expired, or signed with a key it no
    longer has), so that a new token may succeed: `WWW-Authenticate: Bearer
    error="invalid_token"` when the answer has that header, else a 403
    `AUTHENTICATION_ERROR`."""
    challenge = answer.headers.get("www-authenticate")
    if challenge is not None:
        return challenge.lower().startswith("bearer") and bool(_INVALID_TOKEN.search(challenge))
    if answer.status_code != 403:
        return False
    envelope = _json_or_none(answer)
    error = envelope.get("error") if isinstance(envelope, dict) else None
    return isinstance(error, dict) and error.get("error") == "AUTHENTICATION_ERROR"


def retry_after(answer: httpx.Response) -> float | None:
    """The answer's `Retry-After` in seconds (delay-seconds or an HTTP date), if it has one."""
    value = answer.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # delay-seconds are ASCII digits only
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def retried(answer: httpx.Response) -> bool:
    return answer.status_code in RETRIED_STATUSES


def check(answer: httpx.Response) -> httpx.Response:
    """*answer* when it is a success; else its typed error, raised."""
    if answer.is_success:
        return answer
    raise error_from(
        answer.status_code,
        _json_or_none(answer),
        answer.headers.get("x-request-id"),
        retry_after(answer),
    )


def json_of(answer: httpx.Response) -> dict[str, Any]:
    document = _json_or_none(answer)
    if not isinstance(document, dict):
        raise ApiError(
            "BAD_RESPONSE",
            answer.status_code,
            "the server's answer is not the JSON object expected",
            answer.headers.get("x-request-id"),
        )
    return document


def _json_or_none(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_body(
    account_id: str, raw_emails: Iterable[str], sha256_emails: Iterable[str]
) -> dict[str, Any]:
    """The create request's body: only the lists that hold something."""
    if isinstance(raw_emails, str) or isinstance(sha256_emails, str):
        raise TypeError("raw_emails and sha256_emails are lists of strings, not one string")
    body: dict[str, Any] = {"accountId": account_id}
    raw, hashed = list(raw_emails), list(sha256_emails)
    if raw:
        body["rawEmails"] = raw
    if hashed:
        body["sha256Emails"] = hashed
    if not raw and not hashed:
        raise ValueError("a deletion request needs at least one raw or sha256 email")
    return body


def task_path(task_id: str) -> str:
    """One task's path, *task_id* quoted as one segment: a value with `/`, `?` or `..` is
    refused by the server (a bad task id, or no route), never sent to another route."""
    return f"{TASKS_PATH}/{urllib.parse.quote(task_id, safe='')}"


def list_params(account_id: str | None, status: str | None, page_size: int) -> dict[str, str]:
    params = {"limit": str(page_size)}
    if account_id is not None:
        params["accountId"] = account_id
    if status is not None:
        params["status"] = status
    return params


def page_of(answer: httpx.Response) -> tuple[list[Task], str | None]:
    """One listing page's tasks and the next page's URL (from `Link: <...>; rel="next"`)."""
    document = _json_or_none(check(answer))
    if not isinstance(document, list):
        raise ApiError(
            "BAD_RESPONSE",
            answer.status_code,
            "the listing's answer is not a JSON array",
            answer.headers.get("x-request-id"),
        )
    following = answer.links.get("next", {}).get("url")
    return [_task(item, answer) for item in document], following


def task_of(answer: httpx.Response) -> Task:
    return _task(json_of(check(answer)), answer)


def _task(document: Any, answer: httpx.Response) -> Task:
    """The task *document* of *answer* describes; an `ApiError` (`BAD_RESPONSE`) when it is
    not a task object, as for any answer that is not the JSON expected."""
    try:
        if not isinstance(document, dict):
            raise ValueError(f"a task is a JSON object, not {type(document).__name__}")
        return Task.from_api(document)
    except ValueError as exc:
        raise ApiError(
            "BAD_RESPONSE",
            answer.status_code,
            f"the server's answer is not a task: {exc}",
            answer.headers.get("x-request-id"),
        ) from None


def chunks(task_ids: Sequence[str]) -> list[list[str]]:
    if isinstance(task_ids, str):
        raise TypeError("task_ids is a list of task ids, not one string")
    ids = list(task_ids)
    return [ids[i : i + BULK_CANCEL_LIMIT] for i in range(0, len(ids), BULK_CANCEL_LIMIT)]


def cancel_results(answer: httpx.Response) -> list[CancelResult]:
    results = json_of(check(answer)).get("results")
    if not isinstance(results, list):
        raise ApiError(
            "BAD_RESPONSE",
            answer.status_code,
            "the bulk cancel answer has no results list",
            answer.headers.get("x-request-id"),
        )
    return [CancelResult(str(item["taskId"]), str(item["status"])) for item in results]


def token_form() -> Mapping[str, str]:
    return {"grant_type": "client_credentials"}
