"""deletion-requests: data-subject deletion requests held through a fixed, auditable lifecycle.

This module holds what a service that embeds the library uses: the use cases, the parts they
are built from (store, clock, policy, sinks), the values they answer with, and their errors.
What a store author needs (the ports, the record codec, the query types, the reference
semantics of the queries) is in `deletion_requests.stores`; what a server that speaks the HTTP
API needs beyond this (the JSON form, ids and secrets, request limits and checks, the senders of
callbacks and jobs) is in `deletion_requests.wire`; the contract suites are in
`deletion_requests.testing`.
"""

from ._access import Caller
from ._breaker import Breaker
from ._client_requests import Page
from ._clock import Clock, ManualClock, SystemClock
from ._destination_work import Claimed, DestinationWork
from ._destinations import (
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
)
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
from ._handoff import CallableSink, DeliveryFailed, Sink
from ._memory import MemoryStore
from ._open import UnknownStore, open_store
from ._operators import Operators
from ._policy import MAX_PERIOD, Policy
from ._port_destinations import Recorded
from ._ports import Store
from ._service import AccessAdmin, DeletionService
from ._status import Status
from ._summary import TaskSummary
from ._task import HANDOFF, REVIEW, DeletionTask

__all__ = [
    "HANDOFF",
    "MAX_PERIOD",
    "REVIEW",
    "AccessAdmin",
    "AuthenticationFailed",
    "Breaker",
    "CallableSink",
    "Caller",
    "Claimed",
    "Clock",
    "DeadlineExceeded",
    "DecisionRefused",
    "DeletionRequestError",
    "DeletionService",
    "DeletionTask",
    "DeliveryFailed",
    "Destination",
    "DestinationConflict",
    "DestinationWork",
    "InvalidRequest",
    "Job",
    "JobState",
    "LifecycleEvent",
    "ManualClock",
    "MemoryStore",
    "Mode",
    "NotActioned",
    "Operators",
    "Outcome",
    "OutcomeConflict",
    "OutcomeKind",
    "Page",
    "Policy",
    "Recorded",
    "Sink",
    "Status",
    "Store",
    "StoreError",
    "SystemClock",
    "TaskNotFound",
    "TaskSummary",
    "UnauthorizedAccount",
    "UnknownDestination",
    "UnknownJob",
    "UnknownStore",
    "open_store",
]
