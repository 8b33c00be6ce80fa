"""The client as people install it: its wheel alone in a fresh virtual environment, talking to
a server of this checkout; the sdist carrying only its package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from deletion_requests_http.testing import bootstrapped, serving_app

UV = shutil.which("uv")
HERE = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(UV is None, reason="uv is not on PATH (pip install uv)")


def run(*args: str | Path, cwd: Path = HERE) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(UV or "uv", "build", "--package", "deletion-requests-client", "--out-dir", out)
    return out


def test_the_wheel_needs_no_server_package(built: Path) -> None:
    (wheel,) = built.glob("*.whl")
    with zipfile.ZipFile(wheel) as opened:
        names = opened.namelist()
        metadata = opened.read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)", metadata, re.MULTILINE)
    assert sorted(requires) == ["httpx", "standardwebhooks"]
    assert "deletion_requests_client/py.typed" in names
    assert {name.split("/")[0] for name in names} == {
        "deletion_requests_client",
        next(n.split("/")[0] for n in names if ".dist-info/" in n),
    }


def test_the_sdist_carries_only_the_package(built: Path) -> None:
    (sdist,) = built.glob("*.tar.gz")
    with tarfile.open(sdist) as opened:
        names = [name.split("/", 1)[1] for name in opened.getnames() if "/" in name]
    tops = {name.split("/")[0] for name in names}
    assert tops - {".gitignore"} == {"src", "README.md", "pyproject.toml", "PKG-INFO"}, tops
    assert all(n.startswith("src/deletion_requests_client") for n in names if "/" in n)


def test_the_installed_wheel_alone_talks_to_a_server(built: Path, tmp_path: Path) -> None:
    (wheel,) = built.glob("*.whl")
    venv = tmp_path / "venv"
    run(UV or "uv", "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV or "uv", "pip", "install", "--quiet", "--python", python, wheel)
    server = bootstrapped(f"sqlite:///{tmp_path}/installed.db")
    server.admin.allow_account("acct-1")
    app, secret = server.admin.create_app(["acct-1"])
    script = (
        "import sys, importlib.util\n"
        "from deletion_requests_client import Client\n"
        "assert importlib.util.find_spec('deletion_requests') is None\n"
        "with Client(sys.argv[1], sys.argv[2], sys.argv[3]) as client:\n"
        "    task = client.create('acct-1', raw_emails=['someone@example.com'])\n"
        "    print(client.get(task.task_id).status)\n"
    )
    with serving_app(server.http()) as base_url:
        printed = run(python, "-c", script, base_url, app.app_id, secret, cwd=tmp_path)
    assert printed.strip() == "pending"
    server.close()
