"""Destinations end to end, with real servers: two push destinations (real HTTP receivers) and
one pull destination (a worker claiming over HTTP). A task is completed only once all three
have reported, through a SIGKILL of the server in the middle; and on PostgreSQL, with three
servers and two pull workers on one database, each job gets exactly one outcome."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import os
import signal
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from deletion_requests_http._signing import signed_headers
from deletion_requests_http.testing import (
    free_port,
    start_serve,
    stop_group,
    wait_healthy,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deletion_requests import DeletionService as Service
from deletion_requests import (
    DeletionTask,
    Destination,
    DestinationWork,
    JobState,
    Mode,
    Status,
    open_store,
)
from deletion_requests._access import digest_secret
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import hash_email, new_credential, new_signing_secret

from .test_handoff_server import wait_for

CRM_SECRET, MAIL_SECRET = new_signing_secret(), new_signing_secret()
NAMES = ("crm", "mail", "warehouse")
FAST = (
    "--advance-interval",
    "0.2",
    "--deliver-interval",
    "0.1",
    "--delivery-lease",
    "1",
    "--lease-interval",
    "0.5",
    "--no-console",
)


class AnsweringReceiver:
    """A push destination that verifies each signed job and answers 200 with its outcome in
    the body (`{"outcome": "deleted"}`); the job ids it was sent, repeats included."""

    def __init__(self, secret: str) -> None:
        self.received: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    Webhook(secret).verify(body, dict(self.headers.items()), json_parse=False)
                except WebhookVerificationError:
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append(orjson.loads(body)["jobId"])
                answer = b'{"outcome": "deleted"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jobs"

    def __enter__(self) -> AnsweringReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def add_destinations(store: str, crm_url: str, mail_url: str) -> str:
    """crm and mail (push) and warehouse (pull); warehouse's credential."""
    credential = new_credential()
    now = dt.datetime.now(dt.UTC)
    with open_store(store) as opened:
        work = DestinationWork(Service(opened, subscribers=[]))
        work.add(Destination("crm", Mode.PUSH, now, crm_url, CRM_SECRET))
        work.add(Destination("mail", Mode.PUSH, now, mail_url, MAIL_SECRET))
        digest = digest_secret(credential)
        work.add(Destination("warehouse", Mode.PULL, now, credential_digest=digest))
    return credential


def due_tasks(store: str, count: int) -> set[str]:
    """*count* pending tasks created 16 days ago, straight into the store: the servers'
    advance actions them, with their jobs."""
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=16)
    tasks = [
        DeletionTask(
            str(uuid.uuid4()),
            "acct-1",
            Status.PENDING,
            created,
            frozenset({hash_email(f"e2e{n}@example.com")}),
            created_by="app_test",
        )
        for n in range(count)
    ]
    with open_store(store) as opened:
        for task in tasks:
            opened.add(task)
    return {task.task_id for task in tasks}


def snapshot(store: str, task_ids: set[str]) -> dict[str, tuple[bool, list[Any]]]:
    """Each task's completion and jobs, as stored."""
    with open_store(store, create=False) as opened:
        work = DestinationWork(Service(opened, subscribers=[]))
        found = {}
        for task_id in task_ids:
            task = opened.get(task_id)
            assert task is not None
            found[task_id] = (task.completed_time is not None, work.jobs(task_id))
        return found


def check_completed_only_when_all_reported(store: str, task_ids: set[str]) -> int:
    """Every task is completed exactly when each of its three jobs has an outcome, and no
    earlier than the last of them; the number completed."""
    completed = 0
    with open_store(store, create=False) as opened:
        work = DestinationWork(Service(opened, subscribers=[]))
        for task_id in task_ids:
            task = opened.get(task_id)
            assert task is not None
            jobs = work.jobs(task_id)
            if task.status is not Status.ACTIONED:
                assert jobs == []
                continue
            assert [j.destination for j in jobs] == list(NAMES)
            final = all(j.outcome is not None for j in jobs)
            assert (task.completed_time is not None) == final, (task_id, jobs)
            if final:
                assert task.completed_time is not None
                assert task.completed_time >= max(j.outcome_time for j in jobs if j.outcome_time)
                completed += 1
    return completed


class Reporter:
    """What the mail system and the warehouse do: report outcomes to a server, over HTTP."""

    def __init__(self, credential: str) -> None:
        self.pull = {"Authorization": f"Bearer {credential}"}
        self.pulled: list[str] = []
        self.reported_mail: set[str] = set()

    def pull_some(self, base: str, limit: int) -> int:
        """One claim of up to *limit* warehouse jobs, each then reported `deleted`."""
        claim = httpx.post(
            f"{base}/destinations/warehouse/jobs/claim",
            json={"limit": limit},
            headers=self.pull,
            timeout=30,
        )
        assert claim.status_code == 200, claim.text
        jobs = claim.json()["data"]
        for job in jobs:
            assert job["identifiers"], job
            answer = httpx.post(
                f"{base}/destinations/warehouse/jobs/{job['jobId']}/outcome",
                json={"outcome": "deleted"},
                headers=self.pull,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            assert not answer.json()["data"]["repeated"]
            self.pulled.append(job["jobId"])
        return len(jobs)

    def report_mail(self, base: str, received: list[dict[str, Any]]) -> None:
        """Report `not_found` for each mail job received and not yet reported, signed with
        mail's own secret (repeats of a delivery are dropped by job id)."""
        for body in list(received):
            if body["jobId"] in self.reported_mail:
                continue
            document = orjson.dumps({"outcome": "not_found"})
            headers = signed_headers(
                MAIL_SECRET, f"msg_{uuid.uuid4().hex}", document, dt.datetime.now(dt.UTC)
            )
            answer = httpx.post(
                f"{base}/data/deletion-requests/{body['taskId']}/destinations/mail/outcome",
                content=document,
                headers={**headers, "Content-Type": "application/json"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            self.reported_mail.add(body["jobId"])


@contextlib.contextmanager
def started(store: str, ports: list[int], log: Path) -> Iterator[Callable[[], None]]:
    """`serve` on each of *ports*, started together, until the block ends (each stopped with
    its process group, even when the test fails); yields a function that SIGKILLs them, each
    with its whole group at once."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            processes.append(start_serve(store, port, log.with_suffix(f".{port}.log"), *FAST))
        for port, process in zip(ports, processes, strict=True):
            base = f"http://127.0.0.1:{port}"
            assert wait_healthy(base, 120, lambda p=process: p.poll() is None), log.name  # type: ignore[misc]

        def kill() -> None:
            for process in processes:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

        yield kill
    finally:
        for process in processes:
            stop_group(process)


def test_three_destinations_complete_a_task_through_a_sigkill_of_the_server(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path}/e2e.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with AnsweringReceiver(CRM_SECRET) as crm, WebhookReceiver(MAIL_SECRET) as mail:
        reporter = Reporter(add_destinations(store, crm.url, mail.url))
        task_ids = due_tasks(store, 12)
        mail.delay = 0.3  # a slow system: its jobs are still being pushed when the kill lands
        with started(store, [port], tmp_path / "first.log") as kill:
            wait_for(lambda: len(mail.received) >= 3)
            mail.hold = True  # the next push waits in the receiver: the kill lands mid-push
            answered = len(mail.received)
            wait_for(lambda: len(mail.received) > answered)
            wait_for(lambda: len(set(crm.received)) == 12)
            assert reporter.pull_some(base, 5) == 5
            reporter.report_mail(base, mail.received[:answered])
            assert check_completed_only_when_all_reported(store, task_ids) <= 5
            kill()
            # what the receiver took before the kill, and what it had answered 2xx
            held = {b["jobId"] for b in mail.received} - {b["jobId"] for b in mail.acknowledged}
        mail.release()
        in_flight = snapshot(store, task_ids)
        mail.delay = 0
        assert check_completed_only_when_all_reported(store, task_ids) < 12
        with started(store, [port], tmp_path / "second.log"):
            # every mail job answered 2xx, the one held at the kill included: sent again
            wait_for(lambda: len({b["jobId"] for b in mail.acknowledged}) == 12)
            reporter.report_mail(base, mail.acknowledged)
            # crm and mail have reported every task; the warehouse has not: none of the
            # tasks whose warehouse job is open is completed
            assert check_completed_only_when_all_reported(store, task_ids) == 5
            while reporter.pull_some(base, 4):
                pass
    assert check_completed_only_when_all_reported(store, task_ids) == 12
    assert sorted(reporter.pulled) == sorted(set(reporter.pulled))
    assert len(reporter.pulled) == 12
    final = snapshot(store, task_ids)
    outcomes = Counter(
        (j.destination, j.outcome.kind.value)
        for _, jobs in final.values()
        for j in jobs
        if j.outcome
    )
    assert outcomes == {
        ("crm", "deleted"): 12,
        ("mail", "not_found"): 12,
        ("warehouse", "deleted"): 12,
    }
    # the kill landed mid-push: a mail job the receiver held unanswered was, at the kill, still
    # leased to the dead server or owed again after its attempt timed out, never delivered;
    # the second server sent it again
    unanswered = [
        j
        for _, jobs in in_flight.values()
        for j in jobs
        if j.destination == "mail"
        and j.job_id in held
        and j.state in (JobState.CLAIMED, JobState.OWED)
    ]
    assert unanswered


def test_three_servers_and_two_pull_workers_on_postgresql_give_each_job_one_outcome(
    postgres_url: str, tmp_path: Path
) -> None:
    count = 12
    with (
        AnsweringReceiver(CRM_SECRET) as crm,
        WebhookReceiver(MAIL_SECRET) as mail,
        contextlib.ExitStack() as stack,
    ):
        reporter = Reporter(add_destinations(postgres_url, crm.url, mail.url))
        ports = [free_port() for _ in range(3)]
        stack.enter_context(started(postgres_url, ports, tmp_path / "s.log"))
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        task_ids = due_tasks(postgres_url, count)
        wait_for(lambda: len({b["jobId"] for b in mail.received}) == count, timeout=60)
        reporter.report_mail(bases[2], mail.received)
        pulled: list[list[str]] = [[], []]
        errors: list[BaseException] = []

        def work(n: int) -> None:
            mine = Reporter(reporter.pull["Authorization"].removeprefix("Bearer "))
            base = bases[n]
            try:
                while mine.pull_some(base, 3):
                    pass
            except BaseException as exc:  # noqa: BLE001 (the test asserts none)
                errors.append(exc)
            pulled[n] = mine.pulled

        workers = [threading.Thread(target=work, args=(n,)) for n in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert errors == []
        wait_for(lambda: len(set(crm.received)) == count)
        assert set(pulled[0]).isdisjoint(pulled[1])
        assert len(pulled[0]) + len(pulled[1]) == count
        wait_for(lambda: check_completed_only_when_all_reported(postgres_url, task_ids) == count)
    schema = postgres_url.rpartition("schema=")[2]
    with psycopg.connect(postgres_url.rpartition("?")[0]) as conn:
        conn.execute(
            psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema))
        )
        rows = conn.execute(
            "SELECT destination, count(*), count(outcome), count(DISTINCT task_id) "
            "FROM jobs GROUP BY destination ORDER BY destination"
        ).fetchall()
        completions = conn.execute(
            "SELECT count(*), count(DISTINCT task) FROM task_history WHERE event = 'completed'"
        ).fetchone()
    assert rows == [(name, count, count, count) for name in NAMES]
    assert completions == (count, count)
