"""The `{task_id:task_id}` path convertor: one path segment that is not the name of a sibling
route.

`/data/deletion-requests/emails` and `/cancellations` take POST only. Without this convertor a
GET or DELETE on them would match `/data/deletion-requests/{task_id}` in full, and answer 400
"taskId must be a UUID", where Starlette's router answers 405 with `Allow` for a path that only
routes with other methods match. Any other segment is still a task id, which the handlers check
(400 naming taskId when it is not a UUID)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

SIBLINGS = ("emails", "cancellations")


class TaskIdConvertor(Convertor[str]):
    regex = f"(?!(?:{'|'.join(SIBLINGS)})$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("task_id", TaskIdConvertor())
TASK_ID = "{task_id:task_id}"
"""The path segment of a task id in a route."""
