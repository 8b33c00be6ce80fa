"""The console's destinations page: each destination's health, pause and resume by an
operator (CSRF as every form), and the queue page's destinations tile."""

from __future__ import annotations

import datetime as dt
import re

import attrs
import pytest
from starlette.testclient import TestClient

from deletion_requests import Destination, DestinationWork, Mode, Policy
from deletion_requests.wire import BREAKER, new_signing_secret

from .conftest import T0
from .test_console_http import Site

POLICY = Policy()


@pytest.fixture
def site() -> Site:
    made = Site()
    work = DestinationWork(made.service)
    work.add(Destination("crm", Mode.PUSH, T0, "https://crm.example/", new_signing_secret()))
    work.add(Destination("warehouse", Mode.PUSH, T0, "https://wh.example/", new_signing_secret()))
    made.create()
    made.clock.advance(POLICY.cancel_period)
    work.advance_due()
    made.clock.advance(dt.timedelta(hours=3))
    made.store.change_destination(
        "crm",
        lambda d: attrs.evolve(
            d,
            paused=True,
            changed_by=BREAKER,
            changed_time=made.clock.now(),
            failures=20,
            failing_since=made.clock.now() - dt.timedelta(minutes=10),
            last_error="HTTP 503",
        ),
    )
    made.sign_in()
    return made


def rows(page: str) -> dict[str, str]:
    """Each destination's table row, by name."""
    return {
        name: row
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.DOTALL)
        if (name := next(iter(re.findall(r"<strong>([a-z-]+)</strong>", row)), None))
    }


def test_the_page_shows_each_destinations_health(site: Site) -> None:
    page = site.client.get("/console/destinations")
    assert page.status_code == 200
    found = rows(page.text)
    assert set(found) == {"crm", "warehouse"}
    crm, warehouse = found["crm"], found["warehouse"]
    assert "paused by its breaker" in crm
    assert "HTTP 503" in crm
    assert "20 in a row" in crm
    assert "Resume" in crm
    assert "active" in warehouse
    assert "Pause" in warehouse
    assert re.findall(r"<td>(\d+)</td>", warehouse) == ["1", "0", "0"]  # owed, busy, failed
    assert "3 h 0 min" in warehouse  # the oldest open job's age


def test_pause_and_resume_are_the_operators_and_resume_closes_the_breaker(site: Site) -> None:
    csrf = site.csrf("/console/destinations")
    paused = site.client.post("/console/destinations/warehouse/pause", data={"csrf": csrf})
    assert paused.status_code == 303
    assert paused.headers["location"] == "/console/destinations"
    warehouse = site.store.get_destination("warehouse")
    assert warehouse is not None
    assert (warehouse.paused, warehouse.changed_by) == (True, "operator:alice")
    assert (
        "paused by an operator" in rows(site.client.get("/console/destinations").text)["warehouse"]
    )
    resumed = site.client.post("/console/destinations/crm/resume", data={"csrf": csrf})
    assert resumed.status_code == 303
    crm = site.store.get_destination("crm")
    assert crm is not None
    assert (crm.paused, crm.failures, crm.changed_by) == (False, 0, "operator:alice")
    assert "crm is resumed" in site.client.get("/console/destinations").text


def test_a_form_without_its_token_or_for_no_destination_changes_nothing(site: Site) -> None:
    refused = site.client.post("/console/destinations/warehouse/pause", data={})
    assert refused.status_code == 403
    assert not site.store.get_destination("warehouse").paused  # type: ignore[union-attr]
    csrf = site.csrf("/console/destinations")
    unknown = site.client.post("/console/destinations/nobody/pause", data={"csrf": csrf})
    assert unknown.status_code == 404
    assert "no destination named" in unknown.text
    other = site.client.post("/console/destinations/crm/delete", data={"csrf": csrf})
    assert other.status_code == 404
    assert site.store.get_destination("crm").paused_by_breaker  # type: ignore[union-attr]


def test_the_queue_tile_shows_a_failing_destination_at_a_glance(site: Site) -> None:
    queue = site.client.get("/console/")
    tile = re.search(r'<li class="count destinations failing">(.*?)</li>', queue.text, re.DOTALL)
    assert tile, queue.text
    assert 'href="/console/destinations"' in tile.group(1)
    assert '1<span class="of"> of 2</span>' in tile.group(1)
    assert "1 paused by breaker" in tile.group(1)


def test_a_stranger_is_sent_to_sign_in(site: Site) -> None:
    stranger = TestClient(site.app, follow_redirects=False)
    assert "/console/sign-in" in stranger.get("/console/destinations").headers["location"]
