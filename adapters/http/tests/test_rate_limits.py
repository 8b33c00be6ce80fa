"""Rate limits: per app on the data endpoints, per AppId and per address on the token
endpoint; 429 in the envelope with the RateLimit headers; shared through Redis by servers."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from click.testing import CliRunner
from deletion_requests_http import TokenIssuer, create_app
from deletion_requests_http._cli import main
from deletion_requests_http._limits import RateLimits
from deletion_requests_http.testing import serving
from starlette.testclient import TestClient

from deletion_requests import AccessAdmin, DeletionService, ManualClock, MemoryStore, Policy

from .conftest import KEY, T0, XDIST_WORKER, basic

REDIS = os.environ.get(
    "DELETION_REQUESTS_TEST_REDIS", f"redis://127.0.0.1:6379/{13 + XDIST_WORKER}"
)
"""Database 13 (14 for the second xdist worker) is this suite's own: it is flushed before each
test that uses it."""
TASKS = "/data/deletion-requests"
TOKEN = "/auth/oauth2/token"  # noqa: S105 (a path)
FORM = {"grant_type": "client_credentials"}


class Limited:
    def __init__(self, data: str | None, token: str | None) -> None:
        clock = ManualClock(T0)
        self.store = MemoryStore()
        admin = AccessAdmin(self.store, clock)
        admin.allow_account("acct-a")
        (a, self.secret_a), (b, secret_b) = (admin.create_app(["acct-a"]) for _ in range(2))
        self.app_a = a.app_id
        self.a, self.b = basic(a.app_id, self.secret_a), basic(b.app_id, secret_b)
        self.limits = RateLimits.open(data, token)
        service = DeletionService(self.store, clock, Policy())
        app = create_app(service, TokenIssuer(KEY, clock), limits=self.limits)
        self.client = TestClient(app)


def test_an_app_gets_its_limit_with_headers_then_429_in_the_envelope() -> None:
    site = Limited("3/minute", None)
    remaining = []
    for _ in range(3):
        answer = site.client.get(TASKS, headers=site.a)
        assert answer.status_code == 200
        assert answer.headers["ratelimit-limit"] == "3"
        assert 0 < int(answer.headers["ratelimit-reset"]) <= 60
        remaining.append(answer.headers["ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    refused = site.client.get(TASKS, headers=site.a)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["error"]) == (429, "TOO_MANY_REQUESTS")
    assert "at most 3 per minute" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    # Another app has its own allowance; a refused request changed nothing.
    assert site.client.get(TASKS, headers=site.b).status_code == 200
    assert site.limits is not None
    assert site.limits.refused == 1


def test_limit_headers_ride_on_errors_after_the_count() -> None:
    site = Limited("5/minute", None)
    missing = site.client.get(f"{TASKS}/3bc2e8b0-88ee-400c-8696-44897bc95cd3", headers=site.a)
    assert missing.status_code == 404
    assert missing.headers["ratelimit-remaining"] == "4"
    created = site.client.post(
        f"{TASKS}/emails", json={"accountId": "acct-a", "rawEmails": ["a@b.c"]}, headers=site.a
    )
    assert created.status_code == 202
    assert created.headers["ratelimit-remaining"] == "3"


def test_token_requests_are_limited_per_app_id_before_the_secret_is_checked() -> None:
    site = Limited(None, "2/minute")
    wrong = basic(site.app_a, "guess")
    assert site.client.post(TOKEN, data=FORM, headers=wrong).status_code == 403
    assert site.client.post(TOKEN, data=FORM, headers=site.a).status_code == 200
    # A guesser's third try is refused without a look at the secret, and so is the owner's.
    for headers in (wrong, site.a):
        refused = site.client.post(TOKEN, data=FORM, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["error"] == "TOO_MANY_REQUESTS"
    # The data endpoints have no limit here.
    for _ in range(5):
        assert site.client.get(TASKS, headers=site.a).status_code == 200


def test_token_requests_are_limited_per_client_address() -> None:
    site = Limited(None, "3/minute")
    statuses = [
        site.client.post(TOKEN, data=FORM, headers=basic(f"app_{i}", "x")).status_code
        for i in range(5)
    ]
    assert statuses == [403, 403, 403, 429, 429]  # five AppIds, one address


def test_two_thousand_wrong_secrets_are_mostly_refused_unchecked() -> None:
    site = Limited(None, "60/minute")
    wrong = basic(site.app_a, "guess")
    statuses = [site.client.post(TOKEN, data=FORM, headers=wrong).status_code for _ in range(2000)]
    assert statuses.count(403) == 60
    assert statuses.count(429) == 1940


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "lots"], "--rate-limit 'lots' is not a rate limit"),
        (["--token-rate-limit", "5 per fortnight"], "is not a rate limit"),
        (["--rate-limit-store", "redis://127.0.0.1:1/0"], "does not answer"),
        (["--rate-limit-store", "carrier-pigeon://x"], "--rate-limit-store"),
    ],
)
def test_serve_refuses_bad_limits_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--store", f"sqlite:///{tmp_path}/x.db", "--port", "1", *args]
    )
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis, its database (`REDIS`) flushed. Without a server: a skip, with the
    reason, except in CI (CI=true), where it fails."""
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS}: {exc}")
    yield REDIS
    client.flushdb()
    client.close()


def test_two_servers_on_one_redis_admit_no_more_than_the_limit_together(
    tmp_path: Path, redis_url: str
) -> None:
    store = f"sqlite:///{tmp_path}/shared.db"
    runner = CliRunner()
    runner.invoke(main, ["accounts", "allow", "acct-1", "--store", store], catch_exceptions=False)
    made = runner.invoke(
        main, ["apps", "create", "--account", "acct-1", "--json", "--store", store]
    )
    created = json.loads(made.output)
    headers = basic(created["appId"], created["appSecret"])
    limit = ("--rate-limit", "25/minute", "--rate-limit-store", redis_url)
    statuses: list[int] = []
    lock = threading.Lock()
    with (
        serving(store, tmp_path / "one.log", *limit, "--workers", "2") as one,
        serving(store, tmp_path / "two.log", *limit) as two,
    ):

        def fire(base: str) -> None:
            with httpx.Client(base_url=base, headers=headers) as client:
                for _ in range(20):
                    status = client.get(TASKS).status_code
                    with lock:
                        statuses.append(status)

        threads = [
            threading.Thread(target=fire, args=(base,))
            for base in (one.base_url, two.base_url, one.base_url, two.base_url)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(statuses) == 80
    assert statuses.count(200) == 25
    assert statuses.count(429) == 55
