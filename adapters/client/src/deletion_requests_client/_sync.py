"""The blocking client."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from . import _protocol as p
from ._callbacks import callback_verifier, verify_callback
from ._errors import TransportError
from ._models import CallbackEvent, CancelResult, Task


class Client:
    """A client app's connection to the deletion-requests API, as AppId and AppSecret.

    It exchanges them for a bearer token (OAuth2 client credentials), keeps the token and
    replaces it a little before it expires, or at once when the server refuses it as invalid
    (then the request is sent once more). Every request is tried again after a connection
    error, a timeout, a 5xx or a 429, by *retry* (waits go through *sleep*); a create carries
    an `Idempotency-Key` that its retries repeat, so a retried create makes one task. Errors
    are raised as `ApiError` subclasses named for the envelope's code, or `TransportError`.

    *transport* is handed to `httpx.Client` (a test's, or a proxy's); *clock* is the
    monotonic clock the token's lifetime is measured by; *callback_secret* (`whsec_...`) is
    what `verify_callback` checks with. Safe to share between threads. Close it, or use it
    as a context manager."""

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: str,
        *,
        timeout: float = 10.0,
        retry: p.Retry | None = None,
        transport: httpx.BaseTransport | None = None,
        callback_secret: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = p.default_jitter,
    ) -> None:
        self._verifier = None if callback_secret is None else callback_verifier(callback_secret)
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, transport=transport, follow_redirects=False
        )
        self._credentials = httpx.BasicAuth(app_id, app_secret)
        self._retry = retry or p.Retry()
        self._sleep, self._clock, self._jitter = sleep, clock, jitter
        self._tokens = p.TokenCache()
        self._lock = threading.Lock()

    def create(
        self,
        account_id: str,
        *,
        raw_emails: Iterable[str] = (),
        sha256_emails: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> Task:
        """A new deletion request for *account_id* (202 on the server), or the task an earlier
        request with the same *idempotency_key* made. Without a key, a new random one, kept
        for this call's retries. `raw_emails` are sent as given (the server normalises and
        hashes them); `sha256_emails` are base64 SHA-256 digests."""
        body = p.create_body(account_id, raw_emails, sha256_emails)
        key = idempotency_key or str(uuid.uuid4())
        answer = self._call("POST", p.CREATE_PATH, json=body, headers={"Idempotency-Key": key})
        return p.task_of(answer)

    def get(self, task_id: str) -> Task:
        """The task with its history; `NotFound` for no such task of this app."""
        return p.task_of(self._call("GET", p.task_path(task_id)))

    def iter_tasks(
        self, *, account_id: str | None = None, status: str | None = None, page_size: int = 100
    ) -> Iterator[Task]:
        """This app's tasks, newest first, page after page (keyset paging: none repeated or
        skipped while new ones arrive), filtered by account and by status (`pending`,
        `ready`, `actioned`, `cancelled`). Each page is fetched when the one before is used."""
        url: str | None = p.TASKS_PATH
        params: Mapping[str, str] | None = p.list_params(account_id, status, page_size)
        while url is not None:
            tasks, url = p.page_of(self._call("GET", url, params=params))
            params = None  # the next link is followed unchanged
            yield from tasks

    def cancel(self, task_id: str) -> None:
        """Cancel the task (again on a cancelled one: the same success). `DeadlineExceeded`
        once it is past `ready`, `NotFound` for no such task of this app."""
        p.check(self._call("DELETE", p.task_path(task_id)))

    def cancel_many(self, task_ids: Sequence[str]) -> list[CancelResult]:
        """Cancel each task as `cancel` would, in requests of up to 1,000 ids: one result per
        id, in order. A retried request reports what it cancelled the first time as
        `already_cancelled`."""
        results: list[CancelResult] = []
        for chunk in p.chunks(task_ids):
            answer = self._call("POST", p.CANCELLATIONS_PATH, json={"taskIds": chunk})
            results.extend(p.cancel_results(answer))
        return results

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """A status callback's event, verified with the client's *callback_secret* (see
        `deletion_requests_client.verify_callback`)."""
        if self._verifier is None:
            raise ValueError("verify_callback needs the client made with callback_secret=")
        return verify_callback(headers, body, secret=self._verifier)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, url: str, **options: Any) -> httpx.Response:
        """The answer to a data request, as the app, checked: a success, or its error raised.
        A token the server refuses is replaced and the request sent once more."""
        extra: dict[str, str] = options.pop("headers", {})
        token = self._token()

        def send() -> httpx.Response:
            headers = {**extra, **p.bearer(token)}
            return self._http.request(method, url, headers=headers, **options)

        answer = self._attempts(send)
        if p.refused_token(answer):
            with self._lock:
                self._tokens.drop(token)
            token = self._token()
            answer = self._attempts(send)
        return p.check(answer)

    def _token(self) -> str:
        with self._lock:
            token = self._tokens.current(self._clock())
            if token is not None:
                return token
            asked_at = self._clock()
            answer = self._attempts(
                lambda: self._http.post(p.TOKEN_PATH, data=p.token_form(), auth=self._credentials)
            )
            return self._tokens.keep(answer, asked_at)

    def _attempts(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """*send*'s last answer, tried again by the retry policy."""
        tried = 0
        while True:
            tried += 1
            try:
                answer = send()
            except p.TRANSIENT_ERRORS as exc:
                wait = self._retry.delay(tried, None, self._jitter)
                if wait is None:
                    raise TransportError(f"no answer after {tried} tries: {exc!r}") from exc
            else:
                wait = self._retry.delay(tried, p.retry_after(answer), self._jitter)
                if not p.retried(answer) or wait is None:
                    return answer
                answer.close()
            self._sleep(wait)
