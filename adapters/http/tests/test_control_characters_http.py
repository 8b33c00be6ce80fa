"""A control character in free text is a 400 naming the field, and changes nothing, at every
endpoint family: a pull destination's outcome, a push destination's outcome, a client's create
(its Idempotency-Key), the console's forms. On PostgreSQL too, whose text cannot hold NUL: the
request is refused before the store is asked, not answered 503 for the client to retry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deletion_requests_http._bootstrap import Application
from deletion_requests_http.testing import bootstrapped
from starlette.testclient import TestClient

from deletion_requests import Destination, DestinationWork, ManualClock, Mode, Policy
from deletion_requests._access import digest_secret
from deletion_requests.wire import new_credential, new_signing_secret

from .conftest import EMAILS, KEY, T0, assert_error, basic
from .test_console_http import Site
from .test_destinations_http import pull_headers, push_outcome

CREDENTIAL, CRM_SECRET = new_credential(), new_signing_secret()


class Served:
    """An application on *url* with a pull (warehouse) and a push (crm) destination, and one
    task actioned, so that each owes a job for it."""

    def __init__(self, url: str) -> None:
        self.clock = ManualClock(T0)
        self.application: Application = bootstrapped(url, clock=self.clock, signing_key=KEY)
        self.application.admin.allow_account("acct-a")
        app, secret = self.application.admin.create_app(["acct-a"])
        self.a = basic(app.app_id, secret)
        self.client = TestClient(self.application.http(), raise_server_exceptions=False)
        self.work = DestinationWork(self.application.service)
        digest = digest_secret(CREDENTIAL)
        self.work.add(Destination("warehouse", Mode.PULL, T0, credential_digest=digest))
        self.work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example/", CRM_SECRET))
        answer = self.client.post(
            EMAILS, json={"accountId": "acct-a", "rawEmails": ["p@example.com"]}, headers=self.a
        )
        assert answer.status_code == 202, answer.text
        self.task_id: str = answer.json()["taskId"]
        self.clock.advance(Policy().cancel_period)
        self.work.advance_due()

    def outcomes(self) -> dict[str, object]:
        return {job.destination: job.outcome for job in self.work.jobs(self.task_id)}


@pytest.fixture(params=["memory", "postgresql"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("postgres_url")
    made = Served(url)
    try:
        with made.client:
            yield made
    finally:
        made.application.close()


def test_a_pull_outcome_with_a_nul_in_its_reason_is_400_and_changes_nothing(
    served: Served,
) -> None:
    claim = served.client.post(
        "/destinations/warehouse/jobs/claim", json={"limit": 10}, headers=pull_headers(CREDENTIAL)
    )
    assert claim.status_code == 200, claim.text
    (job,) = claim.json()["data"]
    path = f"/destinations/warehouse/jobs/{job['jobId']}/outcome"
    for reason in ("tax\u0000law", "tax\u001b[31mlaw", "tax\u0085law"):
        answer = served.client.post(
            path,
            json={"outcome": "exempt", "reason": reason},
            headers=pull_headers(CREDENTIAL),
        )
        assert_error(answer, 400, "BAD_REQUEST", "reason must not hold control characters")
        assert served.outcomes() == {"crm": None, "warehouse": None}
    answer = served.client.post(
        path, json={"outcome": "exempt", "reason": "tax law"}, headers=pull_headers(CREDENTIAL)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["reason"] == "tax law"


def test_a_push_outcome_with_a_nul_in_its_reason_is_400_and_changes_nothing(
    served: Served,
) -> None:
    document = {"outcome": "exempt", "reason": "kept\u0000"}
    answer = push_outcome(served, served.task_id, "crm", CRM_SECRET, document)  # type: ignore[arg-type]
    assert_error(answer, 400, "BAD_REQUEST", "reason must not hold control characters")
    assert served.outcomes() == {"crm": None, "warehouse": None}


def test_a_create_whose_idempotency_key_holds_a_control_character_is_400(
    served: Served,
) -> None:
    body = {"accountId": "acct-a", "rawEmails": ["q@example.com"]}
    answer = served.client.post(
        EMAILS, json=body, headers={**served.a, "Idempotency-Key": "order\x011"}
    )
    assert_error(answer, 400, "BAD_REQUEST", "Idempotency-Key must not hold control characters")
    listed = served.client.get("/data/deletion-requests", headers=served.a)
    assert [task["taskId"] for task in listed.json()] == [served.task_id]


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    with made.client:
        made.sign_in()
        yield made


def test_the_consoles_forms_refuse_a_control_character_and_change_nothing(site: Site) -> None:
    task_id = site.create()
    before = site.store.get(task_id)
    token = site.csrf(f"/console/tasks/{task_id}")
    for decision, extra in (("hold", {}), ("cancel", {}), ("extend", {"days": "3"})):
        answer = site.client.post(
            f"/console/tasks/{task_id}/{decision}",
            data={"csrf": token, "reason": "legal\x00hold", **extra},
        )
        assert answer.status_code == 400, answer.text
        assert "a reason must not hold control characters" in answer.text
    assert site.store.get(task_id) == before
    form = {
        "csrf": site.csrf("/console/destinations"),
        "mode": "push",
        "name": "crm",
        "webhook_url": "https://crm.example/\x00",
    }
    added = site.client.post("/console/destinations", data=form)
    assert added.status_code == 400, added.text
    assert "a webhook URL must not hold control characters" in added.text
    assert DestinationWork(site.service).store.list_destinations() == []
