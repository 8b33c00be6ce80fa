"""deletion-requests: data-subject deletion requests held through a fixed, auditable lifecycle.

This module holds what a service that embeds the library uses. What a store author needs (the
record codec, the query types, the reference semantics of the queries) is in
`deletion_requests.stores`, and the contract suites are in `deletion_requests.testing`.
"""

from ._access import Caller
from ._breaker import Breaker
from ._callbacks import Callback, CallbackSender, check_callback_url, new_signing_secret
from ._clock import Clock, ManualClock, SystemClock
from ._codec import task_detail_to_api, task_to_api, task_to_api_json, tasks_to_api_json
from ._creating import PreparedCreate
from ._destination_push import JobSender
from ._destination_work import DestinationWork
from ._destinations import (
    BREAKER,
    Destination,
    DestinationConflict,
    Job,
    JobState,
    Mode,
    Outcome,
    OutcomeConflict,
    OutcomeKind,
    UnknownDestination,
    UnknownJob,
    new_credential,
    summary,
)
from ._destinations import DEFAULT as DEFAULT_DESTINATION
from ._errors import (
    AuthenticationFailed,
    DeadlineExceeded,
    DecisionRefused,
    DeletionRequestError,
    InvalidRequest,
    NotActioned,
    StoreError,
    TaskNotFound,
    UnauthorizedAccount,
)
from ._events import LifecycleEvent
from ._handoff import CallableSink, DeliveryFailed, SignatureInvalid, Sink, message_id
from ._identifiers import MAX_IDENTIFIERS, hash_email
from ._ids import new_hex_id, new_task_uuid
from ._lanes import Lanes
from ._memory import MemoryStore
from ._open import UnknownStore, open_store
from ._operator_accounts import Operator, verify_password
from ._operators import Operators, check_reason
from ._policy import Policy
from ._port_destinations import Destinations, Recorded
from ._ports import (
    AccessRecords,
    BackgroundLease,
    DayCount,
    OperatorRecords,
    Outbox,
    Reports,
    ServerSettings,
    Store,
    TaskRecords,
)
from ._service import MAX_BULK, AccessAdmin, DeletionService
from ._status import Status
from ._task import CALLBACK, EVENTS, HANDOFF, REVIEW, DeletionTask

__all__ = [
    "BREAKER",
    "CALLBACK",
    "DEFAULT_DESTINATION",
    "EVENTS",
    "HANDOFF",
    "MAX_BULK",
    "MAX_IDENTIFIERS",
    "REVIEW",
    "AccessAdmin",
    "AccessRecords",
    "AuthenticationFailed",
    "BackgroundLease",
    "Breaker",
    "CallableSink",
    "Callback",
    "CallbackSender",
    "Caller",
    "Clock",
    "DayCount",
    "DeadlineExceeded",
    "DecisionRefused",
    "DeletionRequestError",
    "DeletionService",
    "DeletionTask",
    "DeliveryFailed",
    "Destination",
    "DestinationConflict",
    "DestinationWork",
    "Destinations",
    "InvalidRequest",
    "Job",
    "JobSender",
    "JobState",
    "Lanes",
    "LifecycleEvent",
    "ManualClock",
    "MemoryStore",
    "Mode",
    "NotActioned",
    "Operator",
    "OperatorRecords",
    "Operators",
    "Outbox",
    "Outcome",
    "OutcomeConflict",
    "OutcomeKind",
    "Policy",
    "PreparedCreate",
    "Recorded",
    "Reports",
    "ServerSettings",
    "SignatureInvalid",
    "Sink",
    "Status",
    "Store",
    "StoreError",
    "SystemClock",
    "TaskNotFound",
    "TaskRecords",
    "UnauthorizedAccount",
    "UnknownDestination",
    "UnknownJob",
    "UnknownStore",
    "check_callback_url",
    "check_reason",
    "hash_email",
    "message_id",
    "new_credential",
    "new_hex_id",
    "new_signing_secret",
    "new_task_uuid",
    "open_store",
    "summary",
    "task_detail_to_api",
    "task_to_api",
    "task_to_api_json",
    "tasks_to_api_json",
    "verify_password",
]
