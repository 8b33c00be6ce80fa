"""Adding a destination through `DestinationWork.create`: the one path of the CLI and the
console, so both refuse the same things and make the same secrets."""

from __future__ import annotations

import datetime as dt

import pytest

from deletion_requests import (
    DeletionService,
    DestinationConflict,
    DestinationWork,
    InvalidRequest,
    ManualClock,
    MemoryStore,
    Mode,
)
from deletion_requests._destination_setup import check_webhook_url
from deletion_requests.wire import new_signing_secret

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def work() -> DestinationWork:
    return DestinationWork(DeletionService(MemoryStore(), ManualClock(T0)))


def test_a_push_destination_gets_a_new_whsec_secret_shown_once(work: DestinationWork) -> None:
    made, shown = work.create("crm", Mode.PUSH, "https://crm.example/jobs")
    assert shown is not None
    assert shown.startswith("whsec_")
    assert made.secret == shown
    assert work.get("crm") == made
    assert (made.created_time, made.accounts, made.waits_for) == (T0, None, frozenset())


def test_a_push_destination_given_a_secret_keeps_it_and_shows_nothing(
    work: DestinationWork,
) -> None:
    given = new_signing_secret()
    made, shown = work.create("crm", Mode.PUSH, "https://crm.example/", secret=given)
    assert (made.secret, shown) == (given, None)


def test_a_pull_destination_keeps_only_the_digest_of_its_credential(
    work: DestinationWork,
) -> None:
    work.create("warehouse", Mode.PUSH, "https://wh.example/")
    made, shown = work.create("backups", Mode.PULL, None, ["acct-a"], ["warehouse"])
    assert shown is not None
    assert shown.startswith("drd_")
    assert made.secret is None
    assert shown not in repr(made)
    assert made.verify(shown)
    assert (made.accounts, made.waits_for) == (frozenset({"acct-a"}), frozenset({"warehouse"}))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("crm.example/jobs", "absolute https://"),
        ("ftp://crm.example/", "absolute https://"),
        ("https://", "absolute https://"),
        ("https://crm.example:port/", "absolute https://"),
        ("https://crm example/", "absolute https://"),
        ("https://user:pw@crm.example/", "user name or password"),
    ],
)
def test_a_bad_webhook_url_is_refused_and_nothing_is_added(
    work: DestinationWork, url: str, says: str
) -> None:
    with pytest.raises(InvalidRequest, match=says):
        work.create("crm", Mode.PUSH, url)
    assert work.store.list_destinations() == []


def test_loopback_http_and_https_urls_are_webhook_urls() -> None:
    for url in ("http://127.0.0.1:8080/jobs", "https://crm.example/jobs?x=1"):
        assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("mode", "url", "secret", "says"),
    [
        (Mode.PUSH, None, None, "needs a webhook URL"),
        (Mode.PUSH, "", None, "needs a webhook URL"),
        (Mode.PULL, "https://x.example/", None, "has no webhook URL"),
        (Mode.PULL, None, "whsec_x", "has no whsec_ secret"),
    ],
)
def test_a_mode_and_settings_that_disagree_are_refused(
    work: DestinationWork, mode: Mode, url: str | None, secret: str | None, says: str
) -> None:
    with pytest.raises(InvalidRequest, match=says):
        work.create("crm", mode, url, secret=secret)
    assert work.store.list_destinations() == []


def test_a_blank_or_bad_name_an_unknown_wait_and_a_taken_name_are_refused(
    work: DestinationWork,
) -> None:
    for name in ("", "Bad Name"):
        with pytest.raises(InvalidRequest, match="must be 1 to 63"):
            work.create(name, Mode.PULL)
    with pytest.raises(InvalidRequest, match="an account served must be 1 to 128"):
        work.create("crm", Mode.PULL, accounts=["acct/a"])
    with pytest.raises(InvalidRequest, match=r"unknown destination.*ghost"):
        work.create("crm", Mode.PULL, waits_for=["ghost"])
    first, _ = work.create("crm", Mode.PULL)
    with pytest.raises(DestinationConflict, match="exists"):
        work.create("crm", Mode.PUSH, "https://crm.example/")
    assert work.store.list_destinations() == [first]
