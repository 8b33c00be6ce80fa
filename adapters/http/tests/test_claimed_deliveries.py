"""Several servers delivering one PostgreSQL store's outbox: each message is leased to one
server before it is sent, so the deleter gets each once, and a server killed with SIGKILL
leaves its messages to the others once its leases run out."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from deletion_requests_http.testing import RunningServer, serving

from deletion_requests import (
    HANDOFF,
    DeletionService,
    DeletionTask,
    ManualClock,
    Policy,
    Status,
    open_store,
)
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import hash_email

SECRET = "whsec_" + base64.b64encode(b"a-shared-webhook-secret-for-tests").decode()
OWED = 1000


def owed_handoffs(store_url: str, count: int, created_by: str = "app_test") -> set[str]:
    """*count* tasks of acct-1 by *created_by*, created 16 days ago and moved to actioned (by
    an advance that sees the apps' callbacks as they are now): each owes its hand-off (and a
    review alert, and callbacks when its app has a callback URL). Their ids."""
    now = dt.datetime.now(dt.UTC)
    created = now - dt.timedelta(days=16)
    with open_store(store_url) as store:
        tasks = [
            DeletionTask(
                task_id=str(uuid.uuid4()),
                account_id="acct-1",
                status=Status.PENDING,
                creation_time=created,
                identifiers=frozenset({hash_email(f"{i}@example.com")}),
                created_by=created_by,
            )
            for i in range(count)
        ]
        for task in tasks:
            store.add(task)
        service = DeletionService(store, ManualClock(now), Policy(), subscribers=[])
        while service.advance_due():
            pass
        assert store.backlog(HANDOFF).count == count
    return {task.task_id for task in tasks}


def options(receiver: WebhookReceiver, lease: str = "120") -> tuple[str, ...]:
    return (
        "--handoff-url",
        receiver.url,
        "--webhook-secret",
        SECRET,
        "--deliver-interval",
        "0.1",
        "--delivery-lease",
        lease,
        "--no-console",
    )


def backlog(store_url: str) -> int:
    with open_store(store_url, create=False) as store:
        return store.backlog(HANDOFF).count


def wait_until_delivered(store_url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while backlog(store_url):
        assert time.monotonic() < deadline, f"{backlog(store_url)} still owed"
        time.sleep(0.2)


def kill_tree(pid: int) -> None:
    """SIGKILL *pid* and every process under it (a server and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    doomed, queue = [], [pid]
    while queue:
        current = queue.pop()
        doomed.append(current)
        queue.extend(children.get(current, []))
    for victim in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


@contextlib.contextmanager
def servers(
    store_url: str, directory: Path, receiver: WebhookReceiver, lease: str = "120"
) -> Iterator[list[RunningServer]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                serving(store_url, directory / f"s{i}.log", *options(receiver, lease))
            )
            for i in range(3)
        ]


def review_alerts(directory: Path) -> Counter[str]:
    """The review alerts the servers logged (no review URL: they go to the log), by task."""
    alerts: Counter[str] = Counter()
    for log in directory.glob("s*.log"):
        for line in log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                message = json.loads(line).get("message", "")
                if message.startswith("review alert: "):
                    alerts[json.loads(message.removeprefix("review alert: "))["taskId"]] += 1
    return alerts


def test_three_servers_deliver_a_thousand_messages_once_each(
    postgres_url: str, tmp_path: Path
) -> None:
    expected = owed_handoffs(postgres_url, OWED)
    with WebhookReceiver(SECRET) as receiver, servers(postgres_url, tmp_path, receiver):
        wait_until_delivered(postgres_url)
        time.sleep(1)  # more rounds: nothing is sent again
    sent = Counter(body["taskId"] for body in receiver.received)
    assert set(sent) == expected  # none missing
    assert [task for task, n in sent.items() if n > 1] == []  # none twice
    assert receiver.refused == 0
    alerts = review_alerts(tmp_path)
    assert set(alerts) == expected
    assert max(alerts.values()) == 1


def test_a_server_killed_mid_round_leaves_only_its_message_in_flight_to_repeat(
    postgres_url: str, tmp_path: Path
) -> None:
    expected = owed_handoffs(postgres_url, OWED)
    with WebhookReceiver(SECRET) as receiver:
        receiver.delay = 0.01  # a slow deleter: rounds take a while
        with servers(postgres_url, tmp_path, receiver, lease="2") as running:
            deadline = time.monotonic() + 60
            while len(receiver.received) < OWED // 4:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            kill_tree(running[0].process.pid)
            running[0].process.wait(10)
            wait_until_delivered(postgres_url)
            time.sleep(1)
    sent = Counter(body["taskId"] for body in receiver.received)
    assert set(sent) == expected  # every message delivered
    repeated = [task for task, n in sent.items() if n > 1]
    # The killed server sends one message at a time: at most that one was sent and never
    # recorded, and goes again once its lease runs out. Those it had leased and not yet
    # sent wait for their leases, and go once.
    assert len(repeated) <= 1, repeated
    assert all(sent[task] == 2 for task in repeated)
