"""Status callbacks: the app that created a task hears, at a URL an operator registered for
it, of every change of the task the app can see: `ready`, `actioned`, `cancelled` (by anyone)
and `completed`, and `deadline_extended` when an operator makes it due later.

A callback owed is an outbox entry (`callback.<event>`) written with the change that owes it,
so it is delivered at least once, like a hand-off; its delivery is recorded in the history.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Protocol
from urllib.parse import urlsplit

import attrs
import orjson

from ._clock import as_utc
from ._codec import task_detail_to_api
from ._errors import InvalidRequest
from ._task import CALLBACK, DeletionTask, noted
from ._text import check_text

CLIENT_EVENTS = ("ready", "actioned", "deadline_extended", "cancelled", "completed")


class CallbackSender(Protocol):
    """Sends one status callback to an app: POSTs *body* to `callback.url`, signed with
    `callback.secret` as message *event_id*. Raises (`DeliveryFailed` names the detail) when
    the app did not take it."""

    name: str

    def send(self, callback: Callback, event_id: str, body: bytes) -> None: ...


"""The changes an app hears of, in the order they happen."""


def _utc(moment: dt.datetime) -> dt.datetime:
    return as_utc(moment, "time")


@attrs.frozen
class Callback:
    """Where an app's status callbacks go, and the Standard Webhooks secret (`whsec_...`) that
    signs them. The secret is kept as it is (it must sign), and shown to the operator once."""

    url: str
    secret: str = attrs.field(repr=False)
    set_time: dt.datetime = attrs.field(converter=_utc)


def check_callback_url(url: str, allow_http: bool = False) -> str:
    """A callback URL: https, or http to a loopback host when *allow_http* (for tests on one
    machine), without control characters (`check_text`). `InvalidRequest` naming the problem
    otherwise."""
    check_text(url, "a callback URL")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidRequest("a callback URL must be an absolute https:// URL") from None
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host and allow_http:
        if host == "localhost" or _loopback(host):
            return url
        raise InvalidRequest("http:// callbacks are for loopback hosts only; use https://")
    if parts.scheme == "http":
        raise InvalidRequest(
            "a callback URL must be https:// (--allow-http-callbacks permits http:// to "
            "loopback, for tests)"
        )
    raise InvalidRequest("a callback URL must be an absolute https:// URL")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def entry(event: str) -> str:
    """The outbox entry of a callback of *event*."""
    return f"{CALLBACK}.{event}"


def owed_entries(task: DeletionTask) -> list[str]:
    """The callbacks *task* owes, in the order their events happened."""
    return [entry(event) for event in CLIENT_EVENTS if entry(event) in task.outbox]


def client_events(old: DeletionTask, new: DeletionTask) -> list[str]:
    """The changes from *old* to *new* that the task's app can see, in order."""
    events = []
    if old.ready_time is None and new.ready_time is not None:
        events.append("ready")
    if old.actioned_time is None and new.actioned_time is not None:
        events.append("actioned")
    if new.due_time != old.due_time:
        events.append("deadline_extended")
    if old.cancelled_time is None and new.cancelled_time is not None:
        events.append("cancelled")
    if old.completed_time is None and new.completed_time is not None:
        events.append("completed")
    return events


def owe(old: DeletionTask, new: DeletionTask) -> DeletionTask:
    """*new* with the callbacks owed for the changes since *old* in its outbox."""
    events = client_events(old, new)
    if not events:
        return new
    return attrs.evolve(new, outbox=new.outbox | {entry(event) for event in events})


def event_id(task: DeletionTask, event: str) -> str:
    """The id of the callback of *event* for *task*: the same on every attempt. Each event
    happens once to a task, but for `deadline_extended`, which is told once a due time (an
    extension not yet told when another is made is told with the latest)."""
    if event == "deadline_extended":
        return f"{event}_{task.task_id}_{int(task.due_time.timestamp())}"
    return f"{event}_{task.task_id}"


def callback_body(task: DeletionTask, event: str, outcome: str | None) -> bytes:
    """What the app receives: the event's type and id, and the task as the API shows it to the
    app now (`GET /data/deletion-requests/{taskId}`), with its one-word *outcome* (None until
    it is completed)."""
    shown = task_detail_to_api(task)
    shown["outcome"] = outcome
    return orjson.dumps({"eventType": event, "eventId": event_id(task, event), "task": shown})


def delivered(task: DeletionTask, event: str, at: dt.datetime, by: str) -> DeletionTask:
    """The callback of *event* was taken: it leaves the outbox."""
    return noted(
        task, "callback.delivered", at, by, detail=event, outbox=task.outbox - {entry(event)}
    )


def failed(task: DeletionTask, event: str, at: dt.datetime, by: str, detail: str) -> DeletionTask:
    """An attempt failed; the callback stays owed (and backs off)."""
    return noted(task, "callback.failed", at, by, detail=f"{event}: {detail}"[:200])


def dropped(task: DeletionTask, event: str, at: dt.datetime, reason: str) -> DeletionTask:
    """The callback cannot go (the app has no callback URL any more, or is revoked): it leaves
    the outbox unsent, and the history says why."""
    return noted(
        task,
        "callback.dropped",
        at,
        "system",
        detail=f"{event}: {reason}",
        outbox=task.outbox - {entry(event)},
    )
