"""The task page's table of destinations, and its Retry and Skip forms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from deletion_requests import (
    Destination,
    DestinationWork,
    JobState,
    Mode,
    Outcome,
    OutcomeKind,
)
from deletion_requests.wire import new_signing_secret

from .conftest import T0
from .test_console_http import Site

SECRET = new_signing_secret()
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    work = DestinationWork(made.service)
    for name in ("crm", "erp"):
        work.add(Destination(name, Mode.PUSH, T0, f"https://{name}.example", SECRET))
    with made.client:
        yield made


def actioned(site: Site) -> str:
    task_id = site.create()
    site.clock.advance(site.service.policy.cancel_period)
    site.service.advance_due()
    now = site.clock.now()
    (crm,) = site.store.claim_jobs("crm", "server", now, now + MINUTE, 10)
    site.store.mark_attempt_failed(crm.job_id, "server", "HTTP 503", now + 60 * MINUTE)
    return task_id


def test_the_task_page_shows_each_destinations_job_with_retry_and_skip(site: Site) -> None:
    task_id = actioned(site)
    site.sign_in()
    page = site.client.get(f"/console/tasks/{task_id}").text
    table = page[page.index('id="destinations-heading"') : page.index('id="history-heading"')]
    row = table[table.index('id="job-crm"') : table.index('id="job-erp"')]
    assert '<th scope="row">crm</th>' in row
    assert "<td>owed</td>" in row
    assert "<td>1</td>" in row
    assert "HTTP 503" in row
    assert f'action="/console/tasks/{task_id}/destinations/crm/retry"' in row
    assert f'action="/console/tasks/{task_id}/destinations/crm/skip"' in row


def test_retry_and_skip_go_through_the_use_cases_as_the_operator(site: Site) -> None:
    task_id = actioned(site)
    site.sign_in()
    token = site.csrf(f"/console/tasks/{task_id}")
    retry = site.client.post(
        f"/console/tasks/{task_id}/destinations/crm/retry",
        data={"csrf": token, "reason": "the CRM is back"},
    )
    assert retry.status_code == 303
    crm, erp = site.service.jobs(task_id)
    assert (crm.state, crm.lease_until, crm.attempts) == (JobState.OWED, None, 1)
    skip = site.client.post(
        f"/console/tasks/{task_id}/destinations/erp/skip",
        data={"csrf": token, "reason": "retired"},
    )
    assert skip.status_code == 303
    crm, erp = site.service.jobs(task_id)
    assert erp.outcome is not None
    assert (erp.outcome.kind, erp.outcome.reason) == (OutcomeKind.FAILED, "retired")
    task = site.store.get(task_id)
    assert task is not None
    decided = [(h.event, h.by, h.detail) for h in task.history if h.by.startswith("operator:")]
    assert decided == [
        ("destination.retried", "operator:alice", "crm: the CRM is back"),
        ("destination.skipped", "operator:alice", "erp: retired"),
    ]
    page = site.client.get(f"/console/tasks/{task_id}").text
    erp_row = page[page.index('id="job-erp"') :]
    assert "failed: retired" in erp_row[: erp_row.index("</tr>")]
    assert "destinations/erp/skip" not in page


def test_bad_job_decisions_are_refused_with_a_page_and_change_nothing(site: Site) -> None:
    task_id = actioned(site)
    site.sign_in()
    token = site.csrf(f"/console/tasks/{task_id}")
    base = f"/console/tasks/{task_id}/destinations"
    site.client.post(f"{base}/erp/skip", data={"csrf": token, "reason": "retired"})
    before = (site.store.get(task_id), site.service.jobs(task_id))
    cases = [
        (f"{base}/erp/skip", {"csrf": token, "reason": "again"}, 409, "cannot be skipped"),
        (f"{base}/erp/retry", {"csrf": token, "reason": "again"}, 409, "cannot be retried"),
        (f"{base}/crm/retry", {"csrf": token, "reason": " "}, 400, "reason"),
        (f"{base}/nope/retry", {"csrf": token, "reason": "r"}, 404, "no destination"),
        (f"{base}/crm/approve", {"csrf": token, "reason": "r"}, 404, "Not found"),
        (f"{base}/crm/retry", {"csrf": "wrong", "reason": "r"}, 403, ""),
        (
            "/console/tasks/019ca8a0-3e80-70e9-bdc5-2a6a851b59a9/destinations/crm/retry",
            {"csrf": token, "reason": "r"},
            404,
            "",
        ),
    ]
    for path, data, status, says in cases:
        answer = site.client.post(path, data=data)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert says in answer.text
    assert (site.store.get(task_id), site.service.jobs(task_id)) == before
    site.client.post("/console/sign-out", data={"csrf": token})
    stranger = site.client.post(f"{base}/crm/retry", data={"csrf": token, "reason": "r"})
    assert stranger.status_code == 303
    assert stranger.headers["location"].startswith("/console/sign-in")
    assert (site.store.get(task_id), site.service.jobs(task_id)) == before


def test_a_job_still_open_past_the_tasks_due_time_is_flagged_late_and_the_task_overdue(
    site: Site,
) -> None:
    task_id = actioned(site)
    site.sign_in()

    def rows() -> dict[str, str]:
        page = site.client.get(f"/console/tasks/{task_id}").text
        table = page[page.index('id="destinations-heading"') : page.index('id="history-heading"')]
        return {
            "crm": table[table.index('id="job-crm"') : table.index('id="job-erp"')],
            "erp": table[table.index('id="job-erp"') :],
        }

    def status() -> str:
        page = site.client.get(f"/console/tasks/{task_id}").text
        return page[page.index("<dt>Status</dt>") : page.index("<dt>Account</dt>")]

    assert not any('class="late"' in row for row in rows().values())  # not yet due
    assert "badge overdue" not in status()
    task = site.store.get(task_id)
    assert task is not None
    site.clock.set(task.due_time)
    DestinationWork(site.service).report_for_task(task_id, "erp", Outcome(OutcomeKind.DELETED))
    site.sign_in()  # the session ended with the days gone by
    late = rows()
    assert 'class="late"' in late["crm"]  # no outcome at its due time
    assert 'class="late"' not in late["erp"]  # reported: not late, whatever the time
    assert "badge overdue" in status()
