"""What a store author needs beyond the ports: the values stores hold and answer with, the record
codec, the reference semantics of every query, and the group-commit helper.

A store implements `deletion_requests.Store` (or the ports it offers) and proves it with
`deletion_requests.testing`; the reference functions here say, by scanning tasks, what each
indexed answer must equal, and a store may answer with them directly.
"""

from ._access import Account, App, apps_from_grants
from ._codec import task_from_record, task_to_record
from ._errors import DuplicateTask, IdempotencyKeyConflict
from ._lease import FileLease
from ._open import redacted_url
from ._ports import (
    Awaiting,
    Backlog,
    Cursor,
    TaskQuery,
    backlog_of,
    counted_status,
    day_counts,
    owed_since,
    replaces,
    status_counts,
)
from ._task import Transition

__all__ = [
    "Account",
    "App",
    "Awaiting",
    "Backlog",
    "Cursor",
    "DuplicateTask",
    "FileLease",
    "IdempotencyKeyConflict",
    "TaskQuery",
    "Transition",
    "apps_from_grants",
    "backlog_of",
    "counted_status",
    "day_counts",
    "owed_since",
    "redacted_url",
    "replaces",
    "status_counts",
    "task_from_record",
    "task_to_record",
]
