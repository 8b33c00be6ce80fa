"""The console from the command line: `operators add|list|remove`, and `serve` with and without
the console, signed in through a real server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from deletion_requests_http._cli import main
from deletion_requests_http.testing import serving

from deletion_requests import open_store
from deletion_requests.wire import verify_password


def cli(*args: str, stdin: str | None = None, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result.output


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/console.db"


def test_operators_add_prints_a_password_once_and_keeps_only_its_hash(store_url: str) -> None:
    out = cli("operators", "add", "alice", "--store", store_url)
    password = re.search(r"Password: (\S+)", out)
    assert password
    assert "cannot be shown again" in out
    with open_store(store_url, create=False) as store:
        alice = store.get_operator("alice")
        assert alice is not None
        assert verify_password(password.group(1), alice.password_hash)
        assert password.group(1) not in alice.password_hash
    listing = cli("operators", "list", "--store", store_url)
    assert "alice" in listing
    assert password.group(1) not in listing


def test_operators_add_reads_a_password_from_stdin(store_url: str) -> None:
    out = cli(
        "operators",
        "add",
        "bob",
        "--password-stdin",
        "--store",
        store_url,
        stdin="correct horse battery\n",
    )
    assert "Password" not in out
    with open_store(store_url, create=False) as store:
        bob = store.get_operator("bob")
        assert bob is not None
        assert verify_password("correct horse battery", bob.password_hash)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["operators", "add", "bad name"], None, "an operator's name is"),
        (["operators", "add", "carol", "--password-stdin"], "short\n", "12 to 1024 characters"),
        (["operators", "remove", "nobody"], None, "no operator nobody"),
    ],
)
def test_operators_refusals_are_one_line(
    store_url: str, args: list[str], stdin: str | None, message: str
) -> None:
    cli("accounts", "allow", "acct-1", "--store", store_url)  # the store exists
    out = cli(*args, "--store", store_url, stdin=stdin, ok=False)
    assert message in out
    assert "Traceback" not in out


def test_a_name_is_taken_once_and_removal_frees_it(store_url: str) -> None:
    cli("operators", "add", "alice", "--store", store_url)
    assert "already an operator named alice" in cli(
        "operators", "add", "alice", "--store", store_url, ok=False
    )
    assert json.loads(cli("operators", "list", "--json", "--store", store_url))[0]["name"] == (
        "alice"
    )
    assert "removed operator alice" in cli("operators", "remove", "alice", "--store", store_url)
    assert json.loads(cli("operators", "list", "--json", "--store", store_url)) == []
    cli("operators", "add", "alice", "--store", store_url)


def test_serve_has_the_console_unless_told_not_to(store_url: str, tmp_path: Path) -> None:
    cli(
        "operators",
        "add",
        "alice",
        "--password-stdin",
        "--store",
        store_url,
        stdin="correct horse battery\n",
    )
    with (
        serving(store_url, tmp_path / "on.log") as running,
        httpx.Client(base_url=running.base_url) as browser,
    ):
        page = browser.get("/console/sign-in")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        signed = browser.post(
            "/console/sign-in",
            data={"csrf": token.group(1), "name": "alice", "password": "correct horse battery"},
        )
        assert signed.status_code == 303
        queue = browser.get("/console/")
        assert queue.status_code == 200
        assert "Review queue" in queue.text
        assert "script" not in queue.headers["content-security-policy"].replace(
            "default-src 'none'", ""
        )
    with serving(store_url, tmp_path / "off.log", "--no-console") as running:
        answer = httpx.get(f"{running.base_url}/console/")
        assert answer.status_code == 404
        assert answer.json()["error"]["error"] == "NOT_FOUND"


def test_serve_says_when_no_operator_can_sign_in(store_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(store_url, log):
        pass
    assert "deletion-requests operators add NAME" in log.read_text()


def test_log_format_text_makes_every_server_line_text(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELETION_REQUESTS_LOG_FORMAT", "text")
    log = tmp_path / "text.log"
    with serving(store_url, log) as running:
        httpx.get(f"{running.base_url}/healthz")
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    starts = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) \S+ \[")
    records = [line for line in lines if starts.match(line)]
    assert any("_granian" in line for line in records)
    assert any("deletion_requests.http.access" in line for line in records)
    assert not any(line.startswith("{") for line in lines)
