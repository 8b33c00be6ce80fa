"""deletion-requests: data-subject deletion requests held through a fixed, auditable lifecycle."""

from ._access import Account, App, Caller, apps_from_grants
from ._clock import Clock, ManualClock, SystemClock
from ._codec import (
    task_detail_to_api,
    task_from_record,
    task_to_api,
    task_to_api_json,
    task_to_record,
    tasks_to_api_json,
)
from ._errors import (
    AuthenticationFailed,
    DeadlineExceeded,
    DecisionRefused,
    DeletionRequestError,
    DuplicateTask,
    IdempotencyKeyConflict,
    InvalidRequest,
    NotActioned,
    StoreError,
    TaskNotFound,
    UnauthorizedAccount,
)
from ._events import LifecycleEvent, Subscriber, log_event
from ._group_commit import GroupCommit
from ._handoff import (
    SIGNATURE_HEADER,
    Backoff,
    CallableSink,
    DeliveryFailed,
    SignatureInvalid,
    Sink,
    sign,
    verify,
)
from ._identifiers import MAX_IDENTIFIERS, collect_identifiers, hash_email, normalise_email
from ._ids import new_hex_id, new_task_id, new_task_uuid
from ._lifecycle import catch_up, status_at
from ._memory import MemoryStore
from ._open import UnknownStore, open_store, redacted_url
from ._operator_accounts import (
    Operator,
    check_operator_name,
    hash_password,
    new_password,
    spend_a_check,
    verify_password,
)
from ._operators import Operators, operator_by
from ._policy import Policy
from ._ports import (
    AccessStore,
    Awaiting,
    DayCount,
    Store,
    TaskQuery,
    TaskStore,
    counted_status,
    day_counts,
    replaces,
)
from ._service import AccessAdmin, DeletionService, Deliveries, Page
from ._status import Status
from ._task import CREATED, EVENTS, HANDOFF, REVIEW, SYSTEM, TRANSITION, DeletionTask, Transition

__all__ = [
    "CREATED",
    "EVENTS",
    "HANDOFF",
    "MAX_IDENTIFIERS",
    "REVIEW",
    "SIGNATURE_HEADER",
    "SYSTEM",
    "TRANSITION",
    "AccessAdmin",
    "AccessStore",
    "Account",
    "App",
    "AuthenticationFailed",
    "Awaiting",
    "Backoff",
    "CallableSink",
    "Caller",
    "Clock",
    "DayCount",
    "DeadlineExceeded",
    "DecisionRefused",
    "DeletionRequestError",
    "DeletionService",
    "DeletionTask",
    "Deliveries",
    "DeliveryFailed",
    "DuplicateTask",
    "GroupCommit",
    "IdempotencyKeyConflict",
    "InvalidRequest",
    "LifecycleEvent",
    "ManualClock",
    "MemoryStore",
    "NotActioned",
    "Operator",
    "Operators",
    "Page",
    "Policy",
    "SignatureInvalid",
    "Sink",
    "Status",
    "Store",
    "StoreError",
    "Subscriber",
    "SystemClock",
    "TaskNotFound",
    "TaskQuery",
    "TaskStore",
    "Transition",
    "UnauthorizedAccount",
    "UnknownStore",
    "apps_from_grants",
    "catch_up",
    "check_operator_name",
    "collect_identifiers",
    "counted_status",
    "day_counts",
    "hash_email",
    "hash_password",
    "log_event",
    "new_hex_id",
    "new_password",
    "new_task_id",
    "new_task_uuid",
    "normalise_email",
    "open_store",
    "operator_by",
    "redacted_url",
    "replaces",
    "sign",
    "spend_a_check",
    "status_at",
    "task_detail_to_api",
    "task_from_record",
    "task_to_api",
    "task_to_api_json",
    "task_to_record",
    "tasks_to_api_json",
    "verify",
    "verify_password",
]
