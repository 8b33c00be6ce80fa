"""The console's sessions on the service's clock, ending everywhere at once, and the brake on
failed sign-ins (its waits are counted, never slept)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Awaitable, Iterator

import httpx
import pytest
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http.console import Console, ConsoleSettings, SignInBrake
from starlette.testclient import TestClient

from deletion_requests import DeletionService, Policy
from deletion_requests._operator_accounts import spend_a_check

from .conftest import KEY
from .test_console_http import PASSWORD, Site

COOKIE = "deletion_requests_console"


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    with made.client:
        yield made


def copy_of_cookie(site: Site) -> dict[str, str]:
    """The session cookie as another browser (or a thief) would send it."""
    value = site.client.cookies.get(COOKIE)
    assert value
    return {"cookie": f"{COOKIE}={value}"}


def opens(client: TestClient, headers: dict[str, str] | None = None) -> bool:
    answer = client.get("/console/", headers=headers)
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


def sign_out(site: Site) -> None:
    answer = site.client.post("/console/sign-out", data={"csrf": site.csrf("/console/")})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"


def test_an_idle_session_ends_on_the_services_clock(site: Site) -> None:
    site.sign_in()
    for _ in range(4):  # busy: every request starts the idle timeout again
        site.clock.advance(dt.timedelta(minutes=25))
        assert opens(site.client)
    site.clock.advance(dt.timedelta(minutes=30))
    assert not opens(site.client)


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(site: Site) -> None:
    site.sign_in()
    for _ in range(35):
        site.clock.advance(dt.timedelta(minutes=20))
        assert opens(site.client)
    site.clock.advance(dt.timedelta(minutes=20))  # 12 h since sign-in
    assert not opens(site.client)


def test_sign_out_ends_every_copy_of_the_cookie(site: Site) -> None:
    site.sign_in()
    copy = copy_of_cookie(site)
    with TestClient(site.app, follow_redirects=False) as thief:
        assert opens(thief, copy)
        sign_out(site)
        assert not opens(site.client)
        assert not opens(thief, copy)
    site.sign_in()  # a new session opens again
    assert opens(site.client)


def test_an_idle_timeout_ends_every_copy_for_good(site: Site) -> None:
    site.sign_in()
    copy = copy_of_cookie(site)
    signed_in = site.clock.now()
    site.clock.advance(dt.timedelta(minutes=31))
    assert not opens(site.client)
    site.clock.set(signed_in + dt.timedelta(minutes=1))  # even back within the timeout
    with TestClient(site.app, follow_redirects=False) as thief:
        assert not opens(thief, copy)


def test_removing_an_operator_ends_every_copy_even_after_they_are_added_again(
    site: Site,
) -> None:
    site.sign_in()
    copy = copy_of_cookie(site)
    site.admin.remove_operator("alice")
    assert not opens(site.client)
    site.admin.add_operator("alice", PASSWORD)
    with TestClient(site.app, follow_redirects=False) as thief:
        assert not opens(thief, copy)


def test_sign_out_in_one_process_ends_the_session_in_another_on_the_same_store(
    site: Site,
) -> None:
    service = DeletionService(site.store, site.clock, Policy(), subscribers=[])
    pages = Console(service, site.admin, ConsoleSettings()).app()
    other = create_app(service, TokenIssuer(KEY, site.clock), console=pages)
    site.sign_in()
    copy = copy_of_cookie(site)
    with TestClient(other, follow_redirects=False) as peer:
        assert opens(peer, copy)
        sign_out(site)
        assert not opens(peer, copy)


def test_failed_sign_ins_are_logged_with_the_name_and_slowed(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "deletion_requests.console")
    token = site.csrf()
    for _ in range(5):
        answer = site.client.post(
            "/console/sign-in", data={"csrf": token, "name": "alice", "password": "wrong guess"}
        )
        assert answer.status_code == 401
        assert "do not match" in answer.text
    failures = [r for r in caplog.records if "sign-in failed" in r.getMessage()]
    assert len(failures) == 5
    assert all("'alice'" in r.getMessage() for r in failures)
    assert all("wrong guess" not in r.getMessage() for r in caplog.records)
    assert site.waits == [0.5, 1.0]  # the 4th and 5th waited before their checks
    # The next attempt for that name, from anywhere, waits before it is checked.
    assert site.console.brake.delay("alice", "198.51.100.7") == 2.0
    site.sign_in()
    assert site.waits == [0.5, 1.0, 2.0]
    assert site.console.brake.delay("alice", "198.51.100.7") == 0.0


def test_the_brake_waits_before_each_check_doubling_up_to_its_ceiling() -> None:
    events: list[tuple[str, float]] = []

    async def wait(seconds: float) -> None:
        events.append(("wait", seconds))

    def wrong() -> None:
        events.append(("check", 0))

    brake = SignInBrake(base=0.5, ceiling=8.0, free=3, sleep=wait)

    async def attempts() -> None:
        for _ in range(9):
            assert await brake.check("bob", "192.0.2.1", wrong) is None

    asyncio.run(attempts())
    waits = [seconds for kind, seconds in events if kind == "wait"]
    assert waits == [0.5, 1, 2, 4, 8, 8]
    assert events[3:5] == [("wait", 0.5), ("check", 0)]  # the wait comes first
    assert brake.delay("carol", "192.0.2.1") == 8  # the address is braked too
    assert brake.delay("bob", "192.0.2.2") == 8  # and the name, from anywhere
    assert brake.delay("carol", "192.0.2.2") == 0


def test_twenty_parallel_wrong_guesses_for_one_name_wait_forty_seconds_or_more() -> None:
    site = Site()

    async def guesses() -> list[int]:
        transport = httpx.ASGITransport(app=site.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/console/sign-in")
            token = page.text.split('name="csrf" value="')[1].split('"')[0]
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/console/sign-in",
                        data={"csrf": token, "name": "alice", "password": f"guess {n}"},
                    )
                    for n in range(20)
                )
            )
        return [answer.status_code for answer in answers]

    assert asyncio.run(guesses()) == [401] * 20
    # Taking turns, the guesses wait one after another: these waits add up end to end.
    assert len(site.waits) == 17
    assert sum(site.waits) >= 40


def test_password_checks_run_at_most_checks_at_once() -> None:
    running, most, lock = 0, 0, threading.Lock()

    async def no_wait(seconds: float) -> None:
        pass

    def check() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        spend_a_check("wrong")  # one scrypt, as a wrong password costs
        with lock:
            running -= 1

    brake = SignInBrake(checks=2, sleep=no_wait)

    async def attempts() -> None:
        await asyncio.gather(*(brake.check(f"name-{n}", f"192.0.2.{n}", check) for n in range(8)))

    asyncio.run(attempts())
    assert 1 <= most <= 2


def test_an_attempt_that_would_queue_behind_too_many_is_refused_unchecked() -> None:
    released = asyncio.Event()
    checked: list[str] = []

    async def wait_for_release(seconds: float) -> None:
        await released.wait()

    brake = SignInBrake(free=0, queue=2, sleep=wait_for_release)  # every attempt waits
    site = Site(brake=brake)

    async def attempts() -> list[int]:
        transport = httpx.ASGITransport(app=site.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/console/sign-in")
            token = page.text.split('name="csrf" value="')[1].split('"')[0]

            def guess() -> Awaitable[httpx.Response]:
                form = {"csrf": token, "name": "alice", "password": "wrong guess"}
                return client.post("/console/sign-in", data=form)

            waiting = [asyncio.ensure_future(guess()) for _ in range(2)]
            for _ in range(1000):  # let both reach the brake
                if brake.waiting("name:alice") == 2:
                    break
                await asyncio.sleep(0)
            assert brake.waiting("name:alice") == 2
            refused = await guess()
            checked.append(refused.text)
            released.set()
            return [refused.status_code, *[(await w).status_code for w in waiting]]

    assert asyncio.run(attempts()) == [429, 401, 401]
    assert "Too many sign-ins" in checked[0]
    assert site.console.brake.failures("name:alice") == 2  # the refused one was not a guess
