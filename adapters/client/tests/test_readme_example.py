"""The root README's client example, as written, against a real server: only the port and the
app's credentials (the environment the walk-through exports) are the test's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deletion_requests_http.testing import bootstrapped, serving_app

README = Path(__file__).resolve().parents[3] / "README.md"
ACCOUNT = "2456192011195196284677"


def example() -> str:
    section = README.read_text().split("## A Python client", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```py\n(.*?)```", section, re.DOTALL)
    assert found, "README.md's client section has no ```py block"
    return found.group(1)


def test_the_readme_client_example_runs_against_a_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = bootstrapped(f"sqlite:///{tmp_path}/readme.db")
    server.admin.allow_account(ACCOUNT)
    app, secret = server.admin.create_app([ACCOUNT])
    monkeypatch.setenv("APP_ID", app.app_id)
    monkeypatch.setenv("APP_SECRET", secret)
    code = example()
    with serving_app(server.http()) as base_url:
        code = code.replace("http://127.0.0.1:8000", base_url)
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})  # noqa: S102
    printed = capsys.readouterr().out
    created = re.findall(r"^([0-9a-f-]{36}) \d{4}-", printed, re.MULTILINE)  # id and time
    assert len(created) == 1
    task = server.store.get(created[0])
    assert task is not None
    assert task.status.value == "cancelled"
    server.close()
