"""What a server that speaks the HTTP API needs beyond what an embedding service does.

The JSON form of tasks (`task_to_api` and its byte-writing siblings) and the names it carries
(`EVENTS`, `CALLBACK`, `BREAKER`, `summary`); the ids, secrets and hashes a request or a
message is keyed by; the limits and checks a request is held to before a use case runs; the
senders a delivery round takes for callbacks and push jobs; and `PreparedCreate`, the checked
create that a server batching its writes stores itself.
"""

from ._callbacks import CallbackSender, check_callback_url
from ._codec import (
    summaries_to_api_json,
    task_detail_to_api,
    task_to_api,
    task_to_api_json,
    tasks_to_api_json,
)
from ._creating import PreparedCreate
from ._decisions import check_reason
from ._destination_push import JobSender
from ._destination_work import MAX_CLAIM
from ._destinations import BREAKER, MAX_REASON, NAME_PATTERN, REPORTED_WORDS, summary
from ._due_dates import days_left_to_extend
from ._handoff import SignatureInvalid, message_id
from ._identifiers import MAX_IDENTIFIERS, hash_email
from ._ids import new_hex_id, new_task_uuid
from ._operator_accounts import verify_password
from ._outcome_reports import MAX_BATCH
from ._secrets import new_credential, new_signing_secret
from ._service import MAX_BULK
from ._task import CALLBACK, EVENTS
from ._task_jobs import task_outcome

__all__ = [
    "BREAKER",
    "CALLBACK",
    "EVENTS",
    "MAX_BATCH",
    "MAX_BULK",
    "MAX_CLAIM",
    "MAX_IDENTIFIERS",
    "MAX_REASON",
    "NAME_PATTERN",
    "REPORTED_WORDS",
    "CallbackSender",
    "JobSender",
    "PreparedCreate",
    "SignatureInvalid",
    "check_callback_url",
    "check_reason",
    "days_left_to_extend",
    "hash_email",
    "message_id",
    "new_credential",
    "new_hex_id",
    "new_signing_secret",
    "new_task_uuid",
    "summaries_to_api_json",
    "summary",
    "task_detail_to_api",
    "task_outcome",
    "task_to_api",
    "task_to_api_json",
    "tasks_to_api_json",
    "verify_password",
]
