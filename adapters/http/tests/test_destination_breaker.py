"""A push destination's breaker over real HTTP: it opens after the failures in a row, the
review webhook is told, and the metrics show it by destination."""

from __future__ import annotations

import base64
import datetime as dt
from contextlib import closing

from deletion_requests_http._bootstrap import Application
from deletion_requests_http._destination_sender import CountedJobSender, after_push
from deletion_requests_http._metrics import exposition
from deletion_requests_http.testing import bootstrapped

from deletion_requests import (
    Breaker,
    Destination,
    DestinationWork,
    JobState,
    ManualClock,
    Mode,
    Policy,
)
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import new_signing_secret

from .conftest import KEY, T0
from .test_metrics import samples

SECRET = "whsec_" + base64.b64encode(b"a-shared-webhook-secret-for-tests").decode()
POLICY = Policy()
BREAKER = Breaker()


def sender(application: Application) -> CountedJobSender:
    """The job sender the application's delivery rounds use."""
    assert application.jobs is not None
    return application.jobs


def push_round(application: Application) -> None:
    """One round of push delivery, then what a server's round does after it (the breakers
    it opened counted and alerted)."""
    done = DestinationWork(application.service).push_round(sender(application))
    after_push(application.service, done.opened, application.alerts)


def test_a_failing_destination_pauses_itself_and_alerts_the_review_webhook() -> None:
    crm_secret = new_signing_secret()
    clock = ManualClock(T0)
    failing = [503] * (BREAKER.failures + 1)
    with (
        WebhookReceiver(crm_secret, statuses=failing) as crm,
        WebhookReceiver(SECRET) as review,
        closing(
            bootstrapped(
                clock=clock,
                signing_key=KEY,
                deliver=True,
                review_url=review.url,
                webhook_secret=SECRET,
            )
        ) as application,
    ):
        work = DestinationWork(application.service)
        work.add(Destination("crm", Mode.PUSH, T0, crm.url, crm_secret))
        application.admin.allow_account("acct-1")
        app, secret = application.admin.create_app(["acct-1"])
        caller = application.service.authenticate(app.app_id, secret)
        tasks = [
            application.service.create(caller, "acct-1", raw_emails=[f"p{i}@example.com"])
            for i in range(BREAKER.failures)
        ]
        clock.advance(POLICY.cancel_period)
        work.advance_due()
        # A round ends at the destination's first failure: one failure a round, rounds
        # spread over the breaker's window.
        step = BREAKER.window / BREAKER.failures
        for _ in range(BREAKER.failures):
            push_round(application)
            clock.advance(step)
        assert not work.get("crm").paused  # failures enough, but not for long enough
        push_round(application)
        crm_now = work.get("crm")
        assert crm_now.paused_by_breaker
        assert crm_now.failures == BREAKER.failures + 1
        assert len(crm.received) == BREAKER.failures + 1
        (alert,) = [r for r in review.received if r["type"] == "destination.breaker_opened"]
        assert alert["destination"] == "crm"
        assert alert["lastError"] == "HTTP 503"
        assert alert["failures"] == BREAKER.failures + 1
        assert review.ids[-1].startswith("breaker_crm_")
        owed = [j for t in tasks for j in work.jobs(t.task_id)]
        assert {j.state for j in owed} == {JobState.OWED}
        assert all(j.outcome is None for j in owed)

        body, _ = exposition(application.operators)
        found = samples(body.decode())
        crm_label = (("destination", "crm"),)
        assert found[("deletion_requests_destination_breaker_open", crm_label)] == 1
        assert found[("deletion_requests_destination_paused", (("by", "breaker"), *crm_label))]
        assert found[("deletion_requests_destination_failures_in_a_row", crm_label)] == 21
        owed_label = (*crm_label, ("state", "owed"))
        busy_label = (*crm_label, ("state", "in_progress"))
        assert found[("deletion_requests_destination_jobs", owed_label)] == BREAKER.failures
        assert found[("deletion_requests_destination_jobs", busy_label)] == 0
        assert found[("deletion_requests_destination_oldest_open_age_seconds", crm_label)] == (
            BREAKER.window.total_seconds()
        )
        failed = (*crm_label, ("outcome", "failed"))
        assert found[("deletion_requests_destination_push_attempts_total", failed)] >= 21
        assert found[("deletion_requests_destination_breaker_openings_total", crm_label)] >= 1

        work.set_paused("crm", False, "alice")
        clock.advance(dt.timedelta(hours=2))
        push_round(application)
        assert len(crm.acknowledged) == BREAKER.failures  # resumed: every job received
        body, _ = exposition(application.operators)
        found = samples(body.decode())
        assert found[("deletion_requests_destination_breaker_open", crm_label)] == 0


def test_outcomes_are_counted_by_destination_and_word() -> None:
    clock = ManualClock(T0)
    with closing(bootstrapped(clock=clock, signing_key=KEY)) as application:
        work = DestinationWork(application.service)
        work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example/", new_signing_secret()))
        application.admin.allow_account("acct-1")
        app, secret = application.admin.create_app(["acct-1"])
        caller = application.service.authenticate(app.app_id, secret)
        task = application.service.create(caller, "acct-1", raw_emails=["p@example.com"])
        clock.advance(POLICY.cancel_period)
        work.advance_due()
        work.skip(task.task_id, "crm", "the system was retired", "alice")
        found = samples(exposition(application.operators)[0].decode())
    crm_label = ("destination", "crm")
    outcomes = "deletion_requests_destination_outcomes"
    assert found[(outcomes, (crm_label, ("outcome", "failed")))] == 1
    assert found[(outcomes, (crm_label, ("outcome", "deleted")))] == 0
    assert found[("deletion_requests_destination_jobs", (crm_label, ("state", "owed")))] == 0
