"""The console on a phone (390 px wide) and on a desktop (1280 px), in Debian's Chromium: no
page scrolls sideways, wide tables scroll inside their own focusable box, the trend's labels
stay readable, and axe-core stays clean at phone width. Every page is kept as a screenshot in
`test-artifacts/console/`, named by width."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from deletion_requests_http.testing import serving_app

from deletion_requests import Destination, DestinationWork, Mode
from deletion_requests.stores import Destinations
from deletion_requests.wire import BREAKER, new_signing_secret

from .conftest import DAY, Deployment, keep_screenshot, sign_in

sync_api = pytest.importorskip("playwright.sync_api")

HOUR = dt.timedelta(hours=1)
WIDTHS = (390, 1280)
SECRET = new_signing_secret()
AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


class Seeded:
    """A deployment holding a task in each state the console marks: completed, overdue,
    cancelled, held, ready within a day of its hand-off, and pending."""

    def __init__(self, directory: Path) -> None:
        self.deployment = Deployment(directory)
        self.directory = directory
        self.ids: dict[str, str] = {}

    def seed(self) -> None:
        made, ids = self.deployment, self.ids
        service, operators = made.server.service, made.server.operators
        ids["completed"], ids["overdue"], ids["cancelled"] = (made.create() for _ in range(3))
        operators.cancel(ids["cancelled"], "alice", "a duplicate request")
        made.clock.advance(15 * DAY + HOUR)
        service.advance_due()
        service.complete(ids["completed"], "deleter")
        made.clock.advance(16 * DAY)
        service.maintain()
        ids["ready"], ids["held"] = made.create(), made.create()
        operators.hold(ids["held"], "alice", "the account asked us to wait")
        made.clock.advance(15 * DAY - 5 * HOUR)
        ids["pending"] = made.create()
        self.seed_destinations()

    def seed_destinations(self) -> None:
        """An active destination, one an operator paused and one its breaker paused (added
        after the tasks above were actioned, so that they keep no jobs)."""
        server, now = self.deployment.server, self.deployment.clock.now()
        work = DestinationWork(server.service)
        for name in ("warehouse", "crm", "email-platform-with-a-long-name"):
            work.add(Destination(name, Mode.PUSH, now, f"https://{name}.example/", SECRET))
        work.set_paused("crm", True, "alice")
        assert isinstance(server.store, Destinations)
        server.store.change_destination(
            "email-platform-with-a-long-name",
            lambda d: attrs.evolve(
                d,
                paused=True,
                changed_by=BREAKER,
                changed_time=now,
                failures=20,
                failing_since=now - HOUR,
                last_error="ConnectTimeout",
            ),
        )

    def paths(self) -> dict[str, str]:
        """Every page worth a look, by name."""
        lists = ("pending", "ready", "actioned", "completed", "cancelled", "held", "overdue")
        return {
            "queue": "/console/",
            **{f"task-{state}": f"/console/tasks/{tid}" for state, tid in self.ids.items()},
            **{f"list-{kind}": f"/console/lists/{kind}" for kind in lists},
            "find": "/console/find",
            "access": "/console/access",
            "export": "/console/export",
            "trend": "/console/trend",
            "destinations": "/console/destinations",
            "destination": "/console/destinations/email-platform-with-a-long-name",
            "not-found": "/console/no-such-page",
        }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    made = Seeded(tmp_path_factory.mktemp("layout"))
    made.deployment.server.admin.allow_account("acct-with-a-rather-long-name-for-a-phone")
    made.deployment.server.admin.create_app(["acct-1", "acct-with-a-rather-long-name-for-a-phone"])
    with serving_app(made.deployment.app) as base_url:
        made.deployment.base_url = base_url
        made.seed()
        yield made
    made.deployment.server.close()


def _open(browser: sync_api.Browser, seeded: Seeded, width: int) -> sync_api.Page:
    context = browser.new_context(
        base_url=seeded.deployment.base_url, viewport={"width": width, "height": 844}
    )
    page = context.new_page()
    sign_in(page)
    return page


def _shot(page: sync_api.Page, width: int, name: str) -> None:
    keep_screenshot(page, f"{width}px-{name}")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(browser: sync_api.Browser, seeded: Seeded, width: int) -> None:
    page = _open(browser, seeded, width)
    wide = []
    for name, path in seeded.paths().items():
        page.goto(path)
        _shot(page, width, name)
        if not page.evaluate(FITS):
            wide.append((path, page.evaluate("document.documentElement.scrollWidth")))
    page.goto(f"/console/tasks/{seeded.ids['ready']}")
    page.get_by_label("Reason to cancel").fill("checking the confirmation page")
    page.get_by_role("button", name="Cancel this task").click()
    sync_api.expect(page.get_by_role("heading", name="Cancel task")).to_be_visible()
    _shot(page, width, "confirm-cancel")
    if not page.evaluate(FITS):
        wide.append(("confirm-cancel", page.evaluate("document.documentElement.scrollWidth")))
    page.get_by_role("button", name="Sign out").click()
    _shot(page, width, "sign-in")
    if not page.evaluate(FITS):
        wide.append(("sign-in", page.evaluate("document.documentElement.scrollWidth")))
    page.context.close()
    assert wide == [], f"pages wider than {width} px"


def test_on_a_phone_wide_tables_scroll_in_their_box_by_keyboard_too(
    browser: sync_api.Browser, seeded: Seeded
) -> None:
    page = _open(browser, seeded, 390)
    box = page.get_by_role("region", name="Table of ready tasks")
    sync_api.expect(box).to_be_visible()
    assert box.evaluate("box => box.scrollWidth > box.clientWidth")  # it scrolls, not the page
    box.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('[aria-label=\"Table of ready tasks\"]').scrollLeft > 0"
    )
    countdown = box.get_by_role("row").filter(has_text=seeded.ids["ready"])
    sync_api.expect(countdown).to_contain_text("due within 24 h")
    page.context.close()


def test_on_a_phone_the_trend_labels_are_at_least_eleven_pixels(
    browser: sync_api.Browser, seeded: Seeded
) -> None:
    page = _open(browser, seeded, 390)
    page.goto("/console/trend")
    heights = page.eval_on_selector_all(
        ".trend text", "texts => texts.map(t => t.getBoundingClientRect().height)"
    )
    assert heights
    assert min(heights) >= 11, heights
    legend = page.get_by_role("list", name="Legend")
    for label in ("Created", "Cancelled", "Actioned", "Completed", "Overdue"):
        sync_api.expect(legend).to_contain_text(label)
    assert page.evaluate(FITS)
    page.context.close()


def test_every_page_passes_axe_on_a_phone(browser: sync_api.Browser, seeded: Seeded) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    page = _open(browser, seeded, 390)
    for path in seeded.paths().values():
        page.goto(path)
        results = axe.run(page, options=AXE_RULES)
        assert results.violations_count == 0, (path, results.generate_report())
    page.context.close()
