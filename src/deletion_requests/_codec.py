"""Converting tasks at the edges: to the API's JSON objects, and to storage records and back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import OrjsonConverter, make_converter

from ._clock import as_utc
from ._status import Status
from ._summary import TaskSummary
from ._task import DeletionTask, Transition

DELETION_TYPE = "emailsDeletion"


@attrs.frozen
class TransitionView:
    source: Status
    dest: Status
    at: dt.datetime
    by: str
    event: str
    detail: str | None


@attrs.frozen
class TaskView:
    """A task as the API shows it; the field order is the spec's."""

    task_id: str
    status: Status
    deletion_type: str
    creation_time: dt.datetime
    account_id: str
    ready_time: dt.datetime | None
    actioned_time: dt.datetime | None
    cancelled_time: dt.datetime | None
    completed_time: dt.datetime | None
    overdue: bool
    held_time: dt.datetime | None
    due_time: dt.datetime


@attrs.frozen
class TaskDetailView(TaskView):
    """A single task, with its history."""

    purged_time: dt.datetime | None
    created_by: str
    history: tuple[TransitionView, ...]


def _scalars(converter: OrjsonConverter) -> None:
    converter.register_unstructure_hook(Status, lambda status: status.value)
    converter.register_unstructure_hook(dt.datetime, lambda moment: moment.isoformat())
    converter.register_structure_hook(
        dt.datetime, lambda value, _: as_utc(dt.datetime.fromisoformat(value), "time")
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _api_converter() -> OrjsonConverter:
    converter = make_converter()
    _scalars(converter)
    converter.register_unstructure_hook(
        TransitionView,
        make_dict_unstructure_fn(
            TransitionView, converter, source=override(rename="from"), dest=override(rename="to")
        ),
    )
    for view in (TaskView, TaskDetailView):
        renames: dict[str, Any] = {
            f.name: override(rename=_camel(f.name)) for f in attrs.fields(view)
        }
        converter.register_unstructure_hook(
            view, make_dict_unstructure_fn(view, converter, **renames)
        )
    return converter


def _record_converter() -> OrjsonConverter:
    converter = make_converter()
    _scalars(converter)
    converter.register_unstructure_hook(frozenset, sorted)
    for cls in (Transition, DeletionTask):
        converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter))
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter))
    return converter


api_converter = _api_converter()
record_converter = _record_converter()


def _api_object(task: DeletionTask) -> dict[str, Any]:
    """The view's fields by their API names, in `TaskView`'s order, with the task's own
    datetimes and status: orjson writes it as is (`task_to_api_json`), and the converter's
    views are built from its values (`_view_fields`)."""
    return {
        "taskId": task.task_id,
        "status": task.status,
        "deletionType": DELETION_TYPE,
        "creationTime": task.creation_time,
        "accountId": task.account_id,
        "readyTime": task.ready_time,
        "actionedTime": task.actioned_time,
        "cancelledTime": task.cancelled_time,
        "completedTime": task.completed_time,
        "overdue": task.overdue,
        "heldTime": task.held_time,
        "dueTime": task.due_time,
    }


_VIEW_NAMES = tuple(field.name for field in attrs.fields(TaskView))


def _view_fields(task: DeletionTask) -> dict[str, Any]:
    """`_api_object`'s values by `TaskView`'s field names, for the converter's views."""
    return dict(zip(_VIEW_NAMES, _api_object(task).values(), strict=True))


def task_to_api(task: DeletionTask) -> dict[str, Any]:
    """The API's task object: `taskId`, `status`, `deletionType`, times, `accountId`, and the
    hand-off's `completedTime`, `dueTime` and `overdue` (handed off, past `dueTime` and not
    completed; pass a task caught up with the clock)."""
    result: dict[str, Any] = api_converter.unstructure(TaskView(**_view_fields(task)))
    return result


def task_to_api_json(task: DeletionTask) -> bytes:
    """`task_to_api(task)` as JSON: the same bytes as `orjson.dumps(task_to_api(task))`,
    written from the task's fields without the converter, for the answers that carry tasks at
    volume (a create's 202, a page of a listing). orjson writes the task's datetimes and its
    status itself, as the converter's hooks do (`isoformat()`, the value); a property test holds
    the two to the same bytes."""
    return orjson.dumps(_api_object(task))


def tasks_to_api_json(tasks: Iterable[DeletionTask]) -> bytes:
    """A JSON array of `task_to_api_json` objects."""
    return orjson.dumps([_api_object(task) for task in tasks])


def _summary_object(summary: TaskSummary) -> dict[str, Any]:
    """`_api_object` of a summary, its fields unpacked at once."""
    task_id, account_id, status, created, ready, actioned, cancelled, completed, _, held, due = (
        summary
    )
    return {
        "taskId": task_id,
        "status": status,
        "deletionType": DELETION_TYPE,
        "creationTime": created,
        "accountId": account_id,
        "readyTime": ready,
        "actionedTime": actioned,
        "cancelledTime": cancelled,
        "completedTime": completed,
        "overdue": summary.overdue,
        "heldTime": held,
        "dueTime": due,
    }


def summaries_to_api_json(summaries: Iterable[TaskSummary]) -> bytes:
    """`tasks_to_api_json` of the tasks *summaries* are the `TaskSummary.of`: the same
    bytes (`StoreContract` holds a page of them to the page of the whole tasks)."""
    return orjson.dumps([_summary_object(summary) for summary in summaries])


OPERATOR_PREFIX = "operator:"


def task_detail_to_api(task: DeletionTask, for_operators: bool = False) -> dict[str, Any]:
    """The task object with `purgedTime`, `createdBy` and `history` (`from`, `to`, `at`, `by`,
    `event`, `detail`). Who among the operators decided, and why, is for operators only: a
    client app sees such an entry's `by` as `operator` and no `detail`."""
    history = tuple(
        TransitionView(t.source, t.dest, t.at, t.by, t.event, t.detail or None)
        if for_operators or not t.by.startswith(OPERATOR_PREFIX)
        else TransitionView(t.source, t.dest, t.at, "operator", t.event, None)
        for t in task.history
    )
    view = TaskDetailView(
        **_view_fields(task),
        purged_time=task.purged_time,
        created_by=task.created_by,
        history=history,
    )
    result: dict[str, Any] = api_converter.unstructure(view)
    return result


def task_to_record(task: DeletionTask) -> dict[str, Any]:
    """A JSON-ready storage record of every field of the task."""
    result: dict[str, Any] = record_converter.unstructure(task)
    return result


def task_from_record(record: dict[str, Any]) -> DeletionTask:
    """The task a `task_to_record` record describes; raises on a malformed record."""
    return record_converter.structure(record, DeletionTask)
