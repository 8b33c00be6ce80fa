"""The console's destination forms: add (push or pull), one destination's page, rotate and
remove, each a POST with the CSRF token by a signed-in operator. A secret or credential is
shown once, on the answer to its POST only, sent `no-store`, and never logged."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re

import pytest

from deletion_requests import Destination, DestinationWork, Mode, Policy
from deletion_requests.wire import new_signing_secret

from .conftest import T0
from .test_console_http import Site

SHOWN = re.compile(r'<code class="secret" id="secret">([^<]+)</code>')


@pytest.fixture
def site() -> Site:
    """crm (push) owes one job; archive (push) has none."""
    made = Site()
    work = DestinationWork(made.service)
    work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example/", new_signing_secret()))
    made.create()
    made.clock.advance(Policy().cancel_period)
    work.advance_due()
    work.add(Destination("archive", Mode.PUSH, T0, "https://ar.example/", new_signing_secret()))
    made.sign_in()
    return made


def shown_once(answer_text: str) -> str:
    found = SHOWN.search(answer_text)
    assert found, answer_text
    return found.group(1)


def session_text(site: Site) -> str:
    """What the session cookie holds, decoded (it is signed, not encrypted)."""
    cookie = site.client.cookies["deletion_requests_console"]
    return base64.b64decode(cookie.split(".")[0] + "==").decode()


def add(site: Site, **fields: str) -> tuple[int, str, dict[str, str]]:
    form = {"csrf": site.csrf("/console/destinations"), "mode": "push"} | fields
    answer = site.client.post("/console/destinations", data=form)
    return answer.status_code, answer.text, dict(answer.headers)


def test_adding_a_push_destination_shows_its_new_secret_once_and_never_logs_it(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, text, headers = add(
        site,
        name="email",
        webhook_url="https://mail.example/jobs",
        accounts="acct-a, acct-b",
        waits_for="crm",
    )
    assert status == 200, text
    assert headers["cache-control"] == "no-store"
    secret = shown_once(text)
    assert secret.startswith("whsec_")
    made = site.store.get_destination("email")
    assert made is not None
    assert (made.mode, made.webhook_url, made.secret) == (
        Mode.PUSH,
        "https://mail.example/jobs",
        secret,
    )
    assert (made.accounts, made.waits_for) == (frozenset({"acct-a", "acct-b"}), {"crm"})
    assert "operator alice added push destination email" in caplog.text
    assert secret not in caplog.text
    assert '"operator": "alice"' in session_text(site)  # the decoding works
    assert secret not in session_text(site)
    assert secret not in site.client.get("/console/destinations/email").text  # once


def test_adding_a_pull_destination_shows_a_credential_that_claims_its_jobs(site: Site) -> None:
    status, text, headers = add(site, name="backups", mode="pull")
    assert status == 200, text
    assert headers["cache-control"] == "no-store"
    credential = shown_once(text)
    made = site.store.get_destination("backups")
    assert made is not None
    assert made.mode is Mode.PULL
    assert made.credential_digest != credential
    assert made.verify(credential)
    assert "Authorization: Bearer" in text
    claim = site.client.post(
        "/destinations/backups/jobs/claim",
        json={"limit": 10},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert claim.status_code == 200, claim.text


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"name": "email", "mode": "pull", "waits_for": "crm ghost"}, 400, "unknown destination"),
        ({"name": "email", "webhook_url": "mail.example/jobs"}, 400, "absolute https://"),
        ({"name": "email", "webhook_url": "https://u:pw@mail.example/"}, 400, "password"),
        ({"name": "email"}, 400, "needs a webhook URL"),
        ({"name": "email", "mode": "pull", "webhook_url": "https://x.example/"}, 400, "pull"),
        ({"name": "email", "mode": "fax"}, 400, "push or pull"),
        ({"name": "email", "mode": "pull", "accounts": "acct-a acct/b"}, 400, "account served"),
        ({"name": "crm", "webhook_url": "https://crm2.example/"}, 409, "exists"),
        ({"name": "  ", "mode": "pull"}, 400, "must be 1 to 63"),
        ({"name": "Email Team", "mode": "pull"}, 400, "must be 1 to 63"),
    ],
)
def test_a_bad_add_says_why_on_the_page_and_adds_nothing(
    site: Site, fields: dict[str, str], status: int, says: str
) -> None:
    before = site.store.list_destinations()
    got, text, _ = add(site, **fields)
    assert got == status, text
    alert = re.search(r'<p class="error" role="alert" id="add-error">(.*?)</p>', text, re.DOTALL)
    assert alert, text
    assert says in alert.group(1).replace("&#39;", "'")
    assert 'class="secret"' not in text
    assert site.store.list_destinations() == before
    if fields["name"].strip():
        assert f'value="{fields["name"]}"' in text  # what was typed stays in the form


def test_the_destination_page_shows_its_settings_health_and_forms(site: Site) -> None:
    site.clock.advance(dt.timedelta(minutes=20))
    DestinationWork(site.service).create("email", Mode.PULL, accounts=["acct-a"], waits_for=["crm"])
    crm = site.client.get("/console/destinations/crm")
    assert crm.status_code == 200
    text = crm.text
    assert "<code>https://crm.example/</code>" in text
    assert re.search(r"<dt>Waited for by</dt><dd>email</dd>", text)
    assert re.search(r"<dt>Owed</dt><dd>1</dd>", text)
    assert "waiting 20 min" in text
    for action in ("pause", "rotate", "remove"):
        assert f'action="/console/destinations/crm/{action}"' in text
    assert "secret" in text
    assert "whsec_" not in text.replace("<code>whsec_</code>", "")  # no secret on the page
    email = site.client.get("/console/destinations/email").text
    assert re.search(r"<dt>Accounts served</dt><dd>acct-a</dd>", email)
    assert "Rotate the credential" in email
    assert site.client.get("/console/destinations/nobody").status_code == 404


def test_rotating_shows_the_new_credential_once_and_the_old_one_stops(site: Site) -> None:
    _, text, _ = add(site, name="backups", mode="pull")
    old = shown_once(text)
    csrf = site.csrf("/console/destinations/backups")
    rotated = site.client.post(
        "/console/destinations/backups/rotate", data={"csrf": csrf, "confirm": "yes"}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = shown_once(rotated.text)
    assert new != old
    assert "no longer works" in rotated.text
    backups = site.store.get_destination("backups")
    assert backups is not None
    assert backups.verify(new)
    assert not backups.verify(old)
    claim = site.client.post(
        "/destinations/backups/jobs/claim",
        json={"limit": 1},
        headers={"Authorization": f"Bearer {old}"},
    )
    assert claim.status_code == 403


def by_of(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    """Who the use case's log records of *event* name."""
    return [r.by for r in caplog.records if getattr(r, "event", None) == event]  # type: ignore[attr-defined]


def test_rotating_a_push_destination_gives_it_a_new_secret(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "deletion_requests.destinations")
    before = site.store.get_destination("crm")
    assert before is not None
    csrf = site.csrf("/console/destinations/crm")
    rotated = site.client.post(
        "/console/destinations/crm/rotate", data={"csrf": csrf, "confirm": "yes"}
    )
    assert rotated.status_code == 200
    after = site.store.get_destination("crm")
    assert after is not None
    assert after.secret == shown_once(rotated.text) != before.secret
    assert by_of(caplog, "destination.rotated") == ["operator:alice"]
    assert after.secret not in caplog.text


def test_rotate_or_remove_without_the_box_ticked_changes_nothing(site: Site) -> None:
    before = site.store.get_destination("archive")
    csrf = site.csrf("/console/destinations/archive")
    for action in ("rotate", "remove"):
        answer = site.client.post(f"/console/destinations/archive/{action}", data={"csrf": csrf})
        assert answer.status_code == 400
        assert "tick the box to confirm" in answer.text
        assert 'class="secret"' not in answer.text
    assert site.store.get_destination("archive") == before


def refused_removal(site: Site, name: str) -> str:
    """The alert of a confirmed removal of destination *name* that the console refuses with
    409, having checked that the destination is kept."""
    csrf = site.csrf(f"/console/destinations/{name}")
    refused = site.client.post(
        f"/console/destinations/{name}/remove", data={"csrf": csrf, "confirm": "yes"}
    )
    assert refused.status_code == 409
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', refused.text, re.DOTALL)
    assert alert, refused.text
    assert site.store.get_destination(name) is not None
    return alert.group(1)


def test_removing_a_destination_that_owes_jobs_is_refused_with_what_to_do(site: Site) -> None:
    assert "still has 1 job(s) without an outcome; pause it" in refused_removal(site, "crm")


def test_removing_a_destination_others_wait_for_is_refused_naming_them(site: Site) -> None:
    DestinationWork(site.service).create("backups", Mode.PULL, waits_for=["archive"])
    alert = refused_removal(site, "archive")
    assert "is waited for by backups" in alert
    assert "remove backups first" in alert


def test_removing_a_destination_that_owes_nothing_removes_it(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "deletion_requests.console")
    caplog.set_level(logging.INFO, "deletion_requests.destinations")
    csrf = site.csrf("/console/destinations/archive")
    removed = site.client.post(
        "/console/destinations/archive/remove", data={"csrf": csrf, "confirm": "yes"}
    )
    assert removed.status_code == 303
    assert removed.headers["location"] == "/console/destinations"
    assert site.store.get_destination("archive") is None
    assert "archive is removed" in site.client.get("/console/destinations").text
    assert "operator alice removed destination archive" in caplog.text
    assert by_of(caplog, "destination.removed") == ["operator:alice"]
    gone = site.client.post(
        "/console/destinations/archive/remove", data={"csrf": csrf, "confirm": "yes"}
    )
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/console/destinations", {"name": "email", "mode": "pull"}),
        ("/console/destinations/crm/rotate", {"confirm": "yes"}),
        ("/console/destinations/archive/remove", {"confirm": "yes"}),
    ],
)
def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    site: Site, path: str, fields: dict[str, str]
) -> None:
    before = site.store.list_destinations()
    for token in (None, "forged"):
        data = fields if token is None else fields | {"csrf": token}
        answer = site.client.post(path, data=data)
        assert answer.status_code == 403
        assert "security token" in answer.text
    assert site.store.list_destinations() == before


def test_pausing_from_the_destination_page_comes_back_to_it(site: Site) -> None:
    csrf = site.csrf("/console/destinations/crm")
    paused = site.client.post(
        "/console/destinations/crm/pause", data={"csrf": csrf, "back": "destination"}
    )
    assert paused.status_code == 303
    assert paused.headers["location"] == "/console/destinations/crm"
    page = site.client.get("/console/destinations/crm").text
    assert "paused by an operator" in page
    assert "paused by operator:alice" in page
