"""Push delivery over real HTTP: signed jobs, 2xx received, failures owed again with backoff."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator

import pytest
from deletion_requests_http._destination_sender import HttpJobSender

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    Destination,
    DestinationWork,
    JobState,
    ManualClock,
    MemoryStore,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
)
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import new_signing_secret

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
POLICY = Policy()


def actioned(work: DestinationWork, clock: ManualClock, store: MemoryStore) -> str:
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-a")
    app, secret = admin.create_app(["acct-a"])
    caller = work.service.authenticate(app.app_id, secret)
    task = work.service.create(caller, "acct-a", raw_emails=["person@example.com"])
    clock.advance(POLICY.cancel_period)
    work.service.advance_due()
    return task.task_id


@pytest.fixture
def sender() -> Iterator[HttpJobSender]:
    sending = HttpJobSender(timeout=5)
    yield sending
    sending.close()


def test_a_job_is_pushed_signed_and_a_failure_is_owed_again(sender: HttpJobSender) -> None:
    secret = new_signing_secret()
    clock = ManualClock(T0)
    store = MemoryStore()
    work = DestinationWork(DeletionService(store, clock))
    with WebhookReceiver(secret, statuses=[503]) as receiver:
        work.add(Destination("crm", Mode.PUSH, T0, receiver.url, secret))
        task_id = actioned(work, clock, store)
        first = work.push_round(sender)
        assert (first.delivered, first.failed) == (0, 1)
        (job,) = work.jobs(task_id)
        assert (job.state, job.attempts, job.last_error) == (JobState.OWED, 1, "HTTP 503")
        assert work.push_round(sender).delivered == 0  # backing off
        clock.advance(dt.timedelta(minutes=5))
        assert work.push_round(sender).delivered == 1
        (job,) = work.jobs(task_id)
        assert (job.state, job.attempts) == (JobState.DELIVERED, 2)
        body = receiver.acknowledged[0]
        assert body["taskId"] == task_id
        assert body["destination"] == "crm"
        assert len(body["identifiers"]) == 1
        assert body["dueTime"] == (T0 + dt.timedelta(days=30)).isoformat()
        assert receiver.ids[0] == receiver.ids[1] == f"job_{job.job_id}"


class _Answering(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"outcome": "not_found"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_outcome_in_the_2xx_body_completes_the_job(sender: HttpJobSender) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clock = ManualClock(T0)
        store = MemoryStore()
        work = DestinationWork(DeletionService(store, clock))
        url = f"http://127.0.0.1:{server.server_address[1]}/jobs"
        work.add(Destination("crm", Mode.PUSH, T0, url, new_signing_secret()))
        task_id = actioned(work, clock, store)
        assert work.push_round(sender).reported == 1
        (job,) = work.jobs(task_id)
        assert job.outcome is not None
        assert job.outcome.kind is OutcomeKind.NOT_FOUND
        assert store.get(task_id).completed_time is not None  # type: ignore[union-attr]
    finally:
        server.shutdown()
        server.server_close()


def test_a_paused_push_destination_is_sent_nothing(sender: HttpJobSender) -> None:
    secret = new_signing_secret()
    clock = ManualClock(T0)
    store = MemoryStore()
    work = DestinationWork(DeletionService(store, clock))
    with WebhookReceiver(secret) as receiver:
        work.add(Destination("crm", Mode.PUSH, T0, receiver.url, secret, paused=True))
        actioned(work, clock, store)
        assert work.push_round(sender).delivered == 0
        assert receiver.received == []


def test_an_answer_s_reason_is_trimmed_before_it_is_checked() -> None:
    from deletion_requests_http._destination_sender import _outcome_in

    answer = b'{"outcome": "exempt", "reason": "legal hold\\r\\n"}'
    assert _outcome_in("crm", answer) == Outcome(OutcomeKind.EXEMPT, "legal hold")
    assert _outcome_in("crm", b'{"outcome": "deleted", "reason": "\\n"}') == Outcome(
        OutcomeKind.DELETED
    )
    assert _outcome_in("crm", b'{"outcome": "exempt", "reason": "a\\u0000b"}') is None
