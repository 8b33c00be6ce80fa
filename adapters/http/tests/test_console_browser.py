"""The console, and the API's docs page, in a real browser: Debian's Chromium driven by
Playwright, against the app served by Granian on a loopback port, with a `ManualClock` the
test moves.

Each test keeps a screenshot of the page it checked in `test-artifacts/console/`. The browser,
the server and the screenshots are the conftest's (`browser`, `deployment`, `keep_screenshot`):
off CI, the tests skip (with the reason) when Chromium is not installed; on CI they fail.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import DAY, PASSWORD, Deployment, keep_screenshot, later, sign_in

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(
    browser: sync_api.Browser,
    deployment: Deployment,
    request: pytest.FixtureRequest,
) -> Iterator[sync_api.Page]:
    """A new browser context signed in as alice; the page it ends on is kept as a screenshot."""
    context = browser.new_context(
        base_url=deployment.base_url, viewport={"width": 1280, "height": 900}
    )
    opened = context.new_page()
    sign_in(opened)
    yield opened
    keep_screenshot(opened, request.node.name)
    context.close()


def ready_section(page: sync_api.Page) -> sync_api.Locator:
    return page.get_by_role("region", name="Ready for review")


def test_a_task_reaches_the_ready_queue_at_thirteen_days(
    page: sync_api.Page, deployment: Deployment
) -> None:
    task_id = deployment.create()
    page.reload()
    sync_api.expect(ready_section(page).get_by_role("link", name=task_id)).to_have_count(0)
    sync_api.expect(
        page.get_by_role("region", name="Created today").get_by_role("link", name=task_id)
    ).to_be_visible()
    later(page, deployment, 13 * DAY)
    row = ready_section(page).get_by_role("row").filter(has_text=task_id)
    sync_api.expect(row).to_contain_text("in 2 d 0 h")
    sync_api.expect(row).to_contain_text("ready")


def test_a_hold_shows_its_reason_and_operator_and_the_api_still_says_ready(
    page: sync_api.Page, deployment: Deployment
) -> None:
    task_id = deployment.create()
    later(page, deployment, 13 * DAY)
    ready_section(page).get_by_role("link", name=task_id).click()
    page.get_by_label("Reason to hold").fill("Legal asked us to wait")
    page.get_by_role("button", name="Hold this task").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("The task is on hold.")
    history = page.get_by_role("region", name="History")
    held = history.get_by_role("row").filter(has_text="held")
    sync_api.expect(held).to_contain_text("operator:alice")
    sync_api.expect(held).to_contain_text("Legal asked us to wait")
    seen = deployment.api_task(task_id)
    assert seen["status"] == "ready"
    assert seen["heldTime"] == deployment.clock.now().isoformat()
    assert "Legal" not in json.dumps(seen)  # clients see the hold, not the operator's reason
    page.goto("/console/")
    held_row = (
        page.get_by_role("region", name="On hold").get_by_role("row").filter(has_text=task_id)
    )
    sync_api.expect(held_row).to_contain_text("operator:alice: Legal asked us to wait")


def test_extend_a_due_date_and_the_api_shows_it(
    page: sync_api.Page, deployment: Deployment
) -> None:
    task_id = deployment.create()
    created = dt.datetime.fromisoformat(str(deployment.api_task(task_id)["creationTime"]))
    later(page, deployment, 20 * DAY)
    page.goto(f"/console/tasks/{task_id}")
    due = page.get_by_role("region", name="Due date")
    due.get_by_label("Days to extend by (at most 45)").fill("14")
    due.get_by_label("Reason to extend", exact=False).fill("The CRM export runs weekly")
    due.get_by_role("button", name="Extend the due date").click()
    sync_api.expect(page.get_by_role("status")).to_have_text(
        "The due date is extended; the app is told."
    )
    sync_api.expect(page.get_by_role("region", name="Due date")).to_contain_text("at most 31")
    extended = page.get_by_role("region", name="History").get_by_role("row").last
    sync_api.expect(extended).to_contain_text("deadline_extended")
    sync_api.expect(extended).to_contain_text("The CRM export runs weekly")
    seen = deployment.api_task(task_id)
    assert seen["dueTime"] == (created + 44 * DAY).isoformat()
    assert "CRM" not in json.dumps(seen)


def test_release_one_then_cancel_another_with_a_reason(
    page: sync_api.Page, deployment: Deployment
) -> None:
    first, second = deployment.create(), deployment.create()
    later(page, deployment, 13 * DAY)
    page.goto(f"/console/tasks/{first}")
    page.get_by_label("Reason to hold").fill("checking with the account")
    page.get_by_role("button", name="Hold this task").click()
    page.get_by_label("Reason to release (optional)").fill("account confirmed")
    page.get_by_role("button", name="Release this task").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("The hold is released.")
    released = (
        page.get_by_role("region", name="History").get_by_role("row").filter(has_text="released")
    )
    sync_api.expect(released).to_contain_text("account confirmed")
    assert deployment.api_task(first)["heldTime"] is None
    page.goto(f"/console/tasks/{second}")
    page.get_by_label("Reason to cancel").fill("duplicate of another request")
    page.get_by_role("button", name="Cancel this task").click()
    sync_api.expect(page.get_by_role("heading", name="Cancel task")).to_be_visible()
    assert deployment.api_task(second)["status"] == "ready"  # nothing happens before the yes
    page.get_by_role("button", name="Yes, cancel this task").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("The task is cancelled.")
    sync_api.expect(page.get_by_text("The lifecycle allows no decision")).to_be_visible()
    cancelled = (
        page.get_by_role("region", name="History")
        .get_by_role("row")
        .filter(has_text="ready → cancelled")
    )
    sync_api.expect(cancelled).to_contain_text("operator:alice")
    sync_api.expect(cancelled).to_contain_text("duplicate of another request")
    assert deployment.api_task(second)["status"] == "cancelled"


def test_find_a_task_by_email(page: sync_api.Page, deployment: Deployment) -> None:
    email = f"find-{uuid.uuid4().hex[:8]}@example.com"
    task_id = deployment.create(email)
    page.get_by_role("link", name="Find").click()
    page.get_by_label("Task id, email address, or base64 SHA-256").fill(email.upper())
    page.get_by_role("button", name="Find").click()
    sync_api.expect(
        page.get_by_role("heading", name="1 task for that email address")
    ).to_be_visible()
    sync_api.expect(page.get_by_role("link", name=task_id)).to_be_visible()
    assert email not in page.content().lower()


def test_download_the_export(page: sync_api.Page, deployment: Deployment) -> None:
    task_id = deployment.create()
    page.get_by_role("link", name="Export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    saved = download.value.path()
    lines = Path(saved).read_text().splitlines()
    assert download.value.suggested_filename.endswith(".csv")
    assert lines[0].startswith("taskId,accountId,status,creationTime")
    assert any(line.startswith(task_id) for line in lines[1:])
    page.get_by_label("JSON Lines").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    records = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert task_id in {record["taskId"] for record in records}
    assert all("identifiers" not in record for record in records)


def test_a_form_without_its_csrf_token_is_refused(
    page: sync_api.Page, deployment: Deployment
) -> None:
    task_id = deployment.create()
    page.goto(f"/console/tasks/{task_id}")
    form = page.locator("form.decision.hold")
    form.locator("input[name=csrf]").evaluate("input => input.remove()")
    page.get_by_label("Reason to hold").fill("should not be recorded")
    with page.expect_response(f"**/console/tasks/{task_id}/hold") as answer:
        page.get_by_role("button", name="Hold this task").click()
    assert answer.value.status == 403
    sync_api.expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    assert deployment.api_task(task_id)["heldTime"] is None


def test_a_client_token_cannot_open_the_console(
    browser: sync_api.Browser, deployment: Deployment, page: sync_api.Page
) -> None:
    with deployment.api() as client:
        token = client.post("/auth/oauth2/token", data={"grant_type": "client_credentials"}).json()[
            "access_token"
        ]
    for credentials in (f"Bearer {token}", deployment.headers["Authorization"]):
        context = browser.new_context(
            base_url=deployment.base_url, extra_http_headers={"Authorization": credentials}
        )
        client_page = context.new_page()
        client_page.goto("/console/")
        assert "/console/sign-in" in client_page.url
        sync_api.expect(client_page.get_by_role("heading", name="Sign in")).to_be_visible()
        sync_api.expect(client_page.get_by_text("Review queue")).to_have_count(0)
        keep_screenshot(client_page, "client-token-refused")
        context.close()
    page.goto("/console/")  # the operator's own session is untouched


def test_sign_out_ends_every_copy_of_the_session(
    page: sync_api.Page, browser: sync_api.Browser, deployment: Deployment
) -> None:
    copy = browser.new_context(base_url=deployment.base_url)
    copy.add_cookies(page.context.cookies())  # the cookie as it was before the sign-out
    page.get_by_role("button", name="Sign out").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/console/access")
    assert "/console/sign-in?next=/console/access" in page.url
    sync_api.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    copied = copy.new_page()
    copied.goto("/console/access")
    assert "/console/sign-in?next=/console/access" in copied.url
    copy.close()


def test_every_page_passes_axe_including_contrast(
    page: sync_api.Page, deployment: Deployment
) -> None:
    """axe-core's WCAG 2 A and AA rules (labels, contrast, landmarks, names) on every page,
    each with something in it."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    task_id = deployment.create("axe@example.com")
    later(page, deployment, 13 * DAY)
    deployment.create()
    pages = [
        "/console/",
        f"/console/tasks/{task_id}",
        "/console/find",
        "/console/access",
        "/console/export",
        "/console/trend",
        "/console/no-such-page",
        *(f"/console/lists/{kind}" for kind in ("ready", "pending", "cancelled", "overdue")),
    ]
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
    for path in pages:
        page.goto(path)
        results = axe.run(page, options=options)
        assert results.violations_count == 0, (path, results.generate_report())
    page.get_by_role("link", name="Find").click()
    page.get_by_label("Task id, email address, or base64 SHA-256").fill("axe@example.com")
    page.get_by_role("button", name="Find").click()
    assert axe.run(page, options=options).violations_count == 0
    page.goto(f"/console/tasks/{task_id}")
    page.get_by_label("Reason to cancel").fill("checked by axe")
    page.get_by_role("button", name="Cancel this task").click()  # the confirmation page
    assert axe.run(page, options=options).violations_count == 0
    page.get_by_role("button", name="Sign out").click()
    results = axe.run(page, options=options)  # the sign-in page
    assert results.violations_count == 0, results.generate_report()


def test_sign_in_and_hold_from_the_keyboard_alone(
    browser: sync_api.Browser, deployment: Deployment
) -> None:
    task_id = deployment.create()
    context = browser.new_context(base_url=deployment.base_url)
    keyboard_page = context.new_page()
    keyboard_page.goto(f"/console/tasks/{task_id}")
    tab_to(keyboard_page, "name")
    keyboard_page.keyboard.type("alice")
    keyboard_page.keyboard.press("Tab")
    keyboard_page.keyboard.type(PASSWORD)
    keyboard_page.keyboard.press("Enter")
    sync_api.expect(keyboard_page.get_by_role("heading", name=f"Task {task_id}")).to_be_visible()
    tab_to(keyboard_page, "reason-hold")
    keyboard_page.keyboard.type("reached by keyboard")
    keyboard_page.keyboard.press("Enter")
    sync_api.expect(keyboard_page.get_by_role("status")).to_have_text("The task is on hold.")
    keep_screenshot(keyboard_page, "keyboard-hold")
    context.close()
    assert deployment.api_task(task_id)["heldTime"] is not None


def tab_to(page: sync_api.Page, element_id: str) -> None:
    """Press Tab until the element with *element_id* has the focus."""
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached #{element_id}")


def test_the_api_docs_page_loads_nothing_from_elsewhere_and_authorizes(
    browser: sync_api.Browser, deployment: Deployment
) -> None:
    context = browser.new_context(base_url=deployment.base_url)
    elsewhere: list[str] = []

    def only_here(route: sync_api.Route) -> None:
        if route.request.url.startswith(deployment.base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    docs = context.new_page()
    docs.goto("/docs")
    sync_api.expect(docs.locator(".info .title")).to_contain_text("deletion-requests")
    sync_api.expect(docs.get_by_text("/data/deletion-requests/emails")).to_be_visible()
    docs.get_by_role("button", name="Authorize").first.click()
    docs.get_by_label("client_id:").fill(deployment.app_id)
    docs.get_by_label("client_secret:").fill(deployment.secret)
    with docs.expect_response("**/auth/oauth2/token") as token:
        docs.get_by_role("button", name="Apply given OAuth2 credentials").click()
    assert token.value.status == 200
    sync_api.expect(docs.get_by_role("button", name="Remove authorization").first).to_be_visible()
    keep_screenshot(docs, "api-docs-authorized")
    context.close()
    assert elsewhere == []
