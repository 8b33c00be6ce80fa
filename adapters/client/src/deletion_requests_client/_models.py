"""The API's objects as frozen values, read from its JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, get_args

Outcome = Literal["deleted", "not_found", "exempt"]
"""A completed task's one-word outcome: `deleted` if any destination deleted the data, else
`not_found` if any found nothing, else `exempt` (kept for a reason the law allows)."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One entry of a task's history: a change of status or an event (`created`,
    `transition`, `held`, `callback.delivered`, ...)."""

    from_status: str | None
    to_status: str | None
    at: dt.datetime
    by: str | None
    event: str | None
    detail: str | None


@dataclasses.dataclass(frozen=True)
class Task:
    """A deletion task as the API shows it. `history`, `purged_time` and `created_by` are
    only in the answer for one task (`get`, a callback); a listing and a create's answer leave
    `history` empty and the other two None. `raw` is the JSON object as received; a field an
    older server does not send is None (`overdue` False)."""

    task_id: str
    status: str
    deletion_type: str
    account_id: str
    creation_time: dt.datetime
    ready_time: dt.datetime | None
    actioned_time: dt.datetime | None
    cancelled_time: dt.datetime | None
    completed_time: dt.datetime | None
    held_time: dt.datetime | None
    overdue: bool
    due_time: dt.datetime | None
    """When the deletion is due: creation plus 30 days, later when an operator extended it
    (None from a server that does not say)."""
    outcome: Outcome | None
    """The one-word outcome, once the task is completed (`get`, a `completed` callback);
    None before, in a listing and a create's answer, and from a server that does not say."""
    purged_time: dt.datetime | None
    created_by: str | None
    history: tuple[HistoryEntry, ...]
    raw: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_api(cls, document: Mapping[str, Any]) -> Task:
        """The task from its JSON object; `ValueError` when a required field is missing or
        not of its type."""
        try:
            return cls(
                task_id=str(document["taskId"]),
                status=str(document["status"]),
                deletion_type=str(document.get("deletionType", "")),
                account_id=str(document["accountId"]),
                creation_time=_time(document["creationTime"]),
                ready_time=_optional_time(document.get("readyTime")),
                actioned_time=_optional_time(document.get("actionedTime")),
                cancelled_time=_optional_time(document.get("cancelledTime")),
                completed_time=_optional_time(document.get("completedTime")),
                held_time=_optional_time(document.get("heldTime")),
                overdue=bool(document.get("overdue", False)),
                due_time=_optional_time(document.get("dueTime")),
                outcome=_outcome(document.get("outcome")),
                purged_time=_optional_time(document.get("purgedTime")),
                created_by=_optional_str(document.get("createdBy")),
                history=tuple(_entry(entry) for entry in document.get("history") or ()),
                raw=document,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a task object: {exc!r}") from None


@dataclasses.dataclass(frozen=True)
class CancelResult:
    """One id's outcome in a bulk cancel: `cancelled`, `already_cancelled`,
    `deadline_exceeded` or `not_found`."""

    task_id: str
    status: str


@dataclasses.dataclass(frozen=True)
class CallbackEvent:
    """A verified status callback: `event_type` (`ready`, `actioned`, `deadline_extended`,
    `cancelled`, `completed`; a newer server may send others), `event_id` (the same on every
    delivery of one event: deduplicate by it) and the task as it stood when the callback was
    sent: after `deadline_extended`, `task.due_time` is the new due time; after `completed`,
    `task.outcome` says what was done."""

    event_type: str
    event_id: str
    task: Task


def _time(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"a time is a string, not {type(value).__name__}")
    return dt.datetime.fromisoformat(value)


def _optional_time(value: Any) -> dt.datetime | None:
    return None if value is None else _time(value)


def _outcome(value: Any) -> Outcome | None:
    if value is None:
        return None
    for outcome in OUTCOMES:
        if value == outcome:
            return outcome
    raise ValueError(f"outcome {value!r} is not one of {', '.join(OUTCOMES)}, or null")


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _entry(entry: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        from_status=_optional_str(entry.get("from")),
        to_status=_optional_str(entry.get("to")),
        at=_time(entry["at"]),
        by=_optional_str(entry.get("by")),
        event=_optional_str(entry.get("event")),
        detail=_optional_str(entry.get("detail")),
    )
