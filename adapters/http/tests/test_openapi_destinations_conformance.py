"""schemathesis against the destinations' operations of /openapi.json on the in-process app,
every check enabled, each operation on its own: a pull destination `warehouse` (its credential
sent) and a push destination `crm`, with actioned tasks whose jobs they owe. No hook, and no
linked sequences: the task API's sequences (test_openapi_conformance) leave these operations
out."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import schemathesis
from deletion_requests_http import TokenIssuer, create_app
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import RejectedPositiveData

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    Destination,
    DestinationWork,
    ManualClock,
    MemoryStore,
    Mode,
    Policy,
)
from deletion_requests._access import digest_secret
from deletion_requests._destinations import job_id_for
from deletion_requests.wire import new_credential, new_signing_secret

from .conftest import KEY, is_rokt_missing_credentials

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ACCOUNT = "acct-a"
CREDENTIAL = new_credential()
clock = ManualClock(T0)
store = MemoryStore()
admin = AccessAdmin(store, clock)
admin.allow_account(ACCOUNT)
application, secret = admin.create_app([ACCOUNT])
service = DeletionService(store, clock, subscribers=[])
work = DestinationWork(service)
work.add(Destination("warehouse", Mode.PULL, T0, credential_digest=digest_secret(CREDENTIAL)))
work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example", new_signing_secret()))
caller = service.authenticate(application.app_id, secret)
TASKS = [
    service.create(caller, ACCOUNT, raw_emails=[f"p{i}@example.com"]).task_id for i in range(20)
]
clock.advance(Policy().cancel_period)
service.advance_due()
JOBS = [job_id_for(task_id, "warehouse") for task_id in TASKS]
DRAWN = 16
"""Generated requests draw from the first tasks and their jobs; the others are kept for
test_the_credential_reaches_the_destination_and_its_jobs."""
app = create_app(service, TokenIssuer(KEY, clock))
PULL_AUTH = {"Authorization": f"Bearer {CREDENTIAL}"}

# The pull operations are sent the destination's credential (schemathesis's auth for the
# document's destinationCredential scheme). Every check runs. Their settings say what these
# operations answer, no more:
# - a missing or wrong credential or signature is 403, as for the task API (see
#   test_openapi_conformance): the missing Authorization header schemathesis expects 401 for is
#   checked to be the document's 403 AUTHENTICATION_ERROR instead;
# - a schema-valid report may still be refused for the server's state: a job that is not the
#   destination's, or none (404), a different outcome for a final job (409), and a push
#   report, which generated requests cannot sign (403);
# - a batch naming one job twice is 400, which JSON Schema cannot say (items that differ in one
#   field): that one refusal of schema-valid data is checked to be that 400, and any other fails.
# Names, job ids and task ids are drawn from the real ones most of the time, so that generated
# claims and reports reach the destinations and their jobs.
CONFIG = SchemathesisConfig.from_str(
    f"""
[checks]
enabled = true
negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]
missing_required_header.expected-statuses = [400, 403, 415]
positive_data_acceptance.expected-statuses = ["2xx", 403, 404, 409]

[auth.openapi.destinationCredential]
bearer = "{CREDENTIAL}"

[dictionaries.destinations]
values = ["warehouse", "crm"]

[dictionaries.jobs]
values = {JOBS[:DRAWN]!r}

[dictionaries.tasks]
values = {TASKS[:DRAWN]!r}

[parameters]
"path.name" = {{ dictionary = "destinations", probability = 0.8 }}
"path.jobId" = {{ dictionary = "jobs", probability = 0.8 }}
"path.taskId" = {{ dictionary = "tasks", probability = 0.8 }}
"""
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG).include(
    tag="destinations"
)
TWICE = re.compile(r"^outcomes\[[0-9]+\]: job \S+ is reported twice")
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@schema.parametrize()
@SETTINGS
def test_each_destination_operation_conforms_to_its_schema(case: schemathesis.Case) -> None:
    response = case.call()
    try:
        case.validate_response(response)
    except FailureGroup as group:
        others = [
            f
            for f in group.exceptions
            if not is_rokt_missing_credentials(f, response) and not is_job_twice(f, response)
        ]
        if others:
            raise FailureGroup(others) from None


def is_job_twice(failure: Exception, response: Any) -> bool:
    """Whether *failure* is a schema-valid batch refused for naming one job twice."""
    return (
        isinstance(failure, RejectedPositiveData)
        and response.status_code == 400
        and TWICE.match(response.json()["error"]["message"]) is not None
    )


def test_the_four_operations_are_the_destinations() -> None:
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {
        "POST /destinations/{name}/jobs/claim",
        "POST /destinations/{name}/jobs/outcomes",
        "POST /destinations/{name}/jobs/{jobId}/outcome",
        "POST /data/deletion-requests/{taskId}/destinations/{name}/outcome",
    }


def test_the_credential_reaches_the_destination_and_its_jobs() -> None:
    """What the generated requests are sent with works: a claim and reports, one job and a
    batch, each answered 200 and checked by every check."""
    name = {"name": "warehouse"}
    for path, body, parameters in (
        ("/destinations/{name}/jobs/claim", {"limit": 5}, name),
        (
            "/destinations/{name}/jobs/{jobId}/outcome",
            {"outcome": "deleted"},
            {**name, "jobId": JOBS[-1]},
        ),
        (
            "/destinations/{name}/jobs/outcomes",
            {"outcomes": [{"jobId": JOBS[-2], "outcome": "exempt", "reason": "tax law"}]},
            name,
        ),
    ):
        case = schema[path]["POST"].Case(
            body=body, path_parameters=parameters, media_type="application/json"
        )
        response = case.call_and_validate(headers=PULL_AUTH)
        assert response.status_code == 200, response.text
