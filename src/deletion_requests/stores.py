"""What a store author needs: the ports, the values stores hold and answer with, the record
codec, the reference semantics of every query, and the file lease.

A store implements `deletion_requests.Store` (every port here over one backend) or the ports it
offers, and proves it with `deletion_requests.testing`; the reference functions here say, by
scanning tasks, what each indexed answer must equal, and a store may answer with them directly.
"""

from ._access import Account, App, apps_from_grants
from ._callbacks import Callback
from ._codec import task_from_record, task_to_record
from ._destination_setup import check_waits_for
from ._destinations import DEFAULT as DEFAULT_DESTINATION
from ._destinations import (
    JobCounts,
    apply_outcome,
    attempt_failed,
    delivered,
    job_id_for,
    jobs_for,
    open_jobs_message,
    waited_for_message,
)
from ._errors import DuplicateTask, IdempotencyKeyConflict
from ._job_changes import changed_job
from ._job_counts import count_jobs, counts_from_groups
from ._lease import FileLease
from ._open import redacted_url
from ._operator_accounts import Operator
from ._outcome_batch import Batch, apply_reports, check_written
from ._port_destinations import Complete, Destinations, Report, TaskChange
from ._ports import (
    AccessRecords,
    Awaiting,
    BackgroundLease,
    Backlog,
    Cursor,
    DayCount,
    LoopReads,
    OperatorRecords,
    Outbox,
    Reports,
    ServerSettings,
    TaskQuery,
    TaskRecords,
    backlog_of,
    counted_status,
    day_counts,
    owed_since,
    replaces,
    status_counts,
)
from ._probe import DiskProbe
from ._task import Transition

__all__ = [
    "DEFAULT_DESTINATION",
    "AccessRecords",
    "Account",
    "App",
    "Awaiting",
    "BackgroundLease",
    "Backlog",
    "Batch",
    "Callback",
    "Complete",
    "Cursor",
    "DayCount",
    "Destinations",
    "DiskProbe",
    "DuplicateTask",
    "FileLease",
    "IdempotencyKeyConflict",
    "JobCounts",
    "LoopReads",
    "Operator",
    "OperatorRecords",
    "Outbox",
    "Report",
    "Reports",
    "ServerSettings",
    "TaskChange",
    "TaskQuery",
    "TaskRecords",
    "Transition",
    "apply_outcome",
    "apply_reports",
    "apps_from_grants",
    "attempt_failed",
    "backlog_of",
    "changed_job",
    "check_waits_for",
    "check_written",
    "count_jobs",
    "counted_status",
    "counts_from_groups",
    "day_counts",
    "delivered",
    "job_id_for",
    "jobs_for",
    "open_jobs_message",
    "owed_since",
    "redacted_url",
    "replaces",
    "status_counts",
    "task_from_record",
    "task_to_record",
    "waited_for_message",
]
