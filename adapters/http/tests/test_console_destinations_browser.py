"""Managing destinations on the console in Debian's Chromium: add one by push and one by
pull, see each secret once (sent `no-store`), a refused add, one destination's page, a
rotation that stops the old credential, and a removal refused while jobs are owed; axe-core
on every page, at desktop and phone width. Screenshots go to `test-artifacts/console/`."""

from __future__ import annotations

import re

import httpx
import pytest

from deletion_requests import DestinationWork, Policy

from .conftest import Deployment, keep_screenshot, later, sign_in

sync_api = pytest.importorskip("playwright.sync_api")

AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def _page(browser: sync_api.Browser, deployment: Deployment, width: int) -> sync_api.Page:
    context = browser.new_context(
        base_url=deployment.base_url, viewport={"width": width, "height": 844}
    )
    page = context.new_page()
    sign_in(page)
    return page


def _checked(page: sync_api.Page, name: str) -> None:
    """axe-core finds nothing, the page does not scroll sideways, and it is kept."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    results = axe.run(page, options=AXE_RULES)
    assert results.violations_count == 0, (page.url, results.generate_report())
    assert page.evaluate(FITS), page.url
    width = page.viewport_size["width"] if page.viewport_size else 0
    keep_screenshot(page, f"destinations-{width}px-{name}")


def _add(
    page: sync_api.Page, name: str, url: str | None = None, waits_for: str = ""
) -> sync_api.Response:
    """Fill and send the add form; the answer to its POST."""
    page.goto("/console/destinations")
    form = page.locator("form.add-destination")
    form.get_by_label("Name").fill(name)
    if url is None:
        form.get_by_label("Pull: it claims its jobs").check()
    else:
        form.get_by_label("Webhook URL (push only)").fill(url)
    form.get_by_label("Destinations it waits for (optional)").fill(waits_for)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name="Add the destination").click()
    return answer.value


def _shown(page: sync_api.Page) -> str:
    return page.locator("code.secret").inner_text().strip()


def _claim(deployment: Deployment, name: str, credential: str) -> int:
    answer = httpx.post(
        f"{deployment.base_url}/destinations/{name}/jobs/claim",
        json={"limit": 10},
        headers={"Authorization": f"Bearer {credential}"},
        timeout=10,
    )
    return answer.status_code


def test_add_show_rotate_and_remove_destinations_in_a_browser(
    browser: sync_api.Browser, deployment: Deployment
) -> None:
    page = _page(browser, deployment, 1280)
    posted = _add(page, "warehouse", "https://warehouse.example/jobs")
    assert (posted.status, posted.headers["cache-control"]) == (200, "no-store")
    sync_api.expect(page.get_by_role("heading", name="warehouse is added")).to_be_visible()
    secret = _shown(page)
    assert secret.startswith("whsec_")
    assert secret not in page.url
    _checked(page, "secret-push")

    posted = _add(page, "backups", None, "warehouse")
    assert posted.headers["cache-control"] == "no-store"
    credential = _shown(page)
    assert _claim(deployment, "backups", credential) == 200
    _checked(page, "secret-pull")

    posted = _add(page, "backups", None)  # taken
    assert posted.status == 409
    sync_api.expect(page.get_by_role("alert")).to_contain_text("exists")
    sync_api.expect(page.get_by_label("Name")).to_have_value("backups")
    _checked(page, "add-refused")

    page.goto("/console/destinations")
    page.get_by_role("link", name="backups").click()
    sync_api.expect(page.get_by_role("heading", name=re.compile("^backups"))).to_be_visible()
    sync_api.expect(page.locator(".facts").first).to_contain_text("warehouse")
    _checked(page, "show-pull")
    page.get_by_label("Yes, make a new credential").check()
    page.get_by_role("button", name="Rotate the credential").click()
    sync_api.expect(page.get_by_text("The old credential no longer works.")).to_be_visible()
    rotated = _shown(page)
    assert rotated != credential
    assert _claim(deployment, "backups", credential) == 403
    assert _claim(deployment, "backups", rotated) == 200

    task_id = deployment.create()
    later(page, deployment, Policy().cancel_period)
    DestinationWork(deployment.server.service).advance_due()
    page.goto("/console/destinations/warehouse")
    page.get_by_label("Yes, remove warehouse").check()
    page.get_by_role("button", name="Remove warehouse").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("is waited for by backups")
    page.goto("/console/destinations/backups")
    page.get_by_label("Yes, remove backups").check()
    page.get_by_role("button", name="Remove backups").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text(
        "still has 1 job(s) without an outcome"
    )
    assert [j.destination for j in DestinationWork(deployment.server.service).jobs(task_id)] == [
        "backups",
        "warehouse",
    ]
    _checked(page, "remove-refused")

    _add(page, "scratch", "https://scratch.example/")
    page.get_by_role("link", name="Go to scratch").click()
    page.get_by_label("Yes, remove scratch").check()
    page.get_by_role("button", name="Remove scratch").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("scratch is removed")
    sync_api.expect(page.get_by_role("link", name="scratch")).to_have_count(0)
    _checked(page, "list")
    page.context.close()


def test_on_a_phone_the_add_form_and_a_shown_secret_fit(
    browser: sync_api.Browser, deployment: Deployment
) -> None:
    page = _page(browser, deployment, 390)
    page.goto("/console/destinations")
    _checked(page, "list")
    _add(page, "phone-pull", None)
    assert _shown(page).startswith("drd_")
    _checked(page, "secret")
    page.get_by_role("link", name="Go to phone-pull").click()
    _checked(page, "show")
    page.context.close()
