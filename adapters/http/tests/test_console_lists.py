"""The console's lists over plain HTTP: each count tile opens its tasks, paged with a cursor,
in either order and for one account; the completed and due-soon marks; cancel asks first."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape

import pytest

from deletion_requests import Caller

from .conftest import T0
from .test_console_http import Site

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
LINK = re.compile(r'href="/console/tasks/([0-9a-f-]{36})"')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">Next page</a>')


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    with made.client:
        yield made


def _listed(site: Site, path: str) -> tuple[list[str], int]:
    """The task ids of every page of the list at *path*, following its Next links, and how
    many pages there were."""
    seen: list[str] = []
    pages = 0
    while True:
        answer = site.client.get(path)
        assert answer.status_code == 200, answer.text
        pages += 1
        seen += LINK.findall(answer.text)
        found = NEXT.search(answer.text)
        if found is None:
            return seen, pages
        path = unescape(found.group(1))


def test_each_count_tile_links_to_its_list(site: Site) -> None:
    site.create()
    site.sign_in()
    queue = site.client.get("/console/").text
    for kind in ("pending", "ready", "actioned", "completed", "cancelled", "held", "overdue"):
        assert f'href="/console/lists/{kind}"' in queue
        assert site.client.get(f"/console/lists/{kind}").status_code == 200
    assert site.client.get("/console/lists/everything").status_code == 404


def test_a_list_pages_past_a_hundred_in_either_order_and_by_account(site: Site) -> None:
    site.admin.allow_account("acct-b")
    app, _ = site.admin.create_app(["acct-b"])
    made = []
    for _ in range(120):
        made.append(site.create())
        site.clock.advance(dt.timedelta(minutes=1))
    caller = Caller(app.app_id, frozenset({"acct-b"}))
    other = site.service.create(caller, "acct-b", raw_emails=["b@example.com"]).task_id
    site.sign_in()
    newest, pages = _listed(site, "/console/lists/pending?sort=newest")
    assert newest == [other, *made[::-1]]
    assert pages == 3
    soonest, _ = _listed(site, "/console/lists/pending?sort=due")
    assert soonest == [*made, other]
    only_b, _ = _listed(site, "/console/lists/pending?account=acct-b")
    assert only_b == [other]
    assert site.client.get("/console/lists/pending?cursor=nonsense").status_code == 400
    assert site.client.get("/console/lists/pending?sort=sideways").status_code == 400
    assert site.client.get("/console/lists/pending?account=a%20b").status_code == 400


def test_completed_has_its_own_badge_and_list(site: Site) -> None:
    done = site.create()
    site.clock.advance(HOUR)
    handed = site.create()
    site.clock.advance(16 * DAY)
    site.service.advance_due()
    site.service.complete(done, "deleter")
    site.sign_in()
    completed = site.client.get("/console/lists/completed").text
    assert LINK.findall(completed) == [done]
    assert 'class="badge completed"' in completed
    actioned = site.client.get("/console/lists/actioned?sort=due").text
    assert LINK.findall(actioned) == [done, handed]
    row = actioned[actioned.index(handed) :]
    assert 'class="badge actioned"' in row
    assert 'class="badge completed"' not in row
    assert 'class="badge completed"' in site.client.get(f"/console/tasks/{done}").text


def test_a_task_within_a_day_of_its_hand_off_is_marked_in_words(site: Site) -> None:
    soon = site.create()
    site.clock.advance(2 * DAY)
    later = site.create()
    site.clock.set(T0 + 15 * DAY - 5 * HOUR)  # *soon* hands off in 5 hours, *later* in 2 days
    site.sign_in()
    for path in ("/console/", "/console/lists/ready"):
        page = site.client.get(path).text
        rows = {task_id: _row(page, task_id) for task_id in (soon, later)}
        assert "due within 24 h" in rows[soon], path
        assert "due within 24 h" not in rows[later], path
    assert "due within 24 h" in site.client.get(f"/console/tasks/{soon}").text
    assert "due within 24 h" not in site.client.get(f"/console/tasks/{later}").text


def _row(page: str, task_id: str) -> str:
    start = page.index(f'href="/console/tasks/{task_id}"')
    return page[start : page.index("</tr>", start)]


def test_cancel_asks_for_confirmation_first(site: Site) -> None:
    task_id = site.create()
    site.sign_in()
    token = site.csrf(f"/console/tasks/{task_id}")
    path = f"/console/tasks/{task_id}/cancel"
    asked = site.client.post(path, data={"csrf": token, "reason": "asked  twice"})
    assert asked.status_code == 200
    assert "Cancel task" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert 'name="reason" value="asked twice"' in asked.text
    assert site.store.get(task_id).cancelled_time is None  # type: ignore[union-attr]
    blank = site.client.post(path, data={"csrf": token, "reason": " "})
    assert blank.status_code == 400
    assert "reason" in blank.text
    no_token = site.client.post(path, data={"reason": "x", "confirm": "yes"})
    assert no_token.status_code == 403
    assert site.store.get(task_id).cancelled_time is None  # type: ignore[union-attr]
    done = site.client.post(path, data={"csrf": token, "reason": "asked twice", "confirm": "yes"})
    assert done.status_code == 303
    task = site.store.get(task_id)
    assert task is not None
    assert task.cancelled_time == T0
    assert task.history[-1].detail == "asked twice"
    assert LINK.findall(site.client.get("/console/lists/cancelled").text) == [task_id]
