"""The distributions as people install them: wheels built from this checkout, installed into
fresh virtual environments with the extras, serving and running the README's example."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest
from deletion_requests_http.testing import serving

ROOT = Path(__file__).resolve().parent.parent
UV = shutil.which("uv")

pytestmark = pytest.mark.skipif(UV is None, reason="uv is not on PATH (pip install uv)")


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(UV or "uv", "build", "--all-packages", "--wheel", "--out-dir", out)
    found = {}
    for wheel in out.glob("*.whl"):
        name = wheel.name.split("-")[0].replace("_", "-")
        found[name] = wheel
    assert set(found) == {
        "deletion-requests",
        "deletion-requests-http",
        "deletion-requests-sqlite",
        "deletion-requests-postgres",
        "deletion-requests-jsonfiles",
        "deletion-requests-client",
    }, found
    return found


PACKAGES = {
    "deletion-requests": "src/deletion_requests/",
    "deletion-requests-http": "src/deletion_requests_http/",
    "deletion-requests-sqlite": "src/deletion_requests_sqlite/",
    "deletion-requests-postgres": "src/deletion_requests_postgres/",
    "deletion-requests-jsonfiles": "src/deletion_requests_jsonfiles/",
    "deletion-requests-client": "src/deletion_requests_client/",
}
# What hatchling writes into every sdist beside the package.
SDIST_FILES = {"PKG-INFO", "pyproject.toml", "README.md", ".gitignore", "LICENSE", "CHANGELOG.md"}


@pytest.fixture(scope="module")
def sdists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sdist")
    run(UV or "uv", "build", "--all-packages", "--sdist", "--out-dir", out)
    return {sdist.name.rsplit("-", 1)[0].replace("_", "-"): sdist for sdist in out.glob("*.tar.gz")}


def test_each_sdist_carries_only_its_own_package(sdists: dict[str, Path]) -> None:
    assert set(sdists) == set(PACKAGES)
    for name, sdist in sdists.items():
        with tarfile.open(sdist) as archive:
            files = [m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()]
        strays = [f for f in files if f not in SDIST_FILES and not f.startswith(PACKAGES[name])]
        assert not strays, f"{name}'s sdist carries {strays[:10]}"
        assert any(f.endswith("/__init__.py") for f in files), name


def test_the_all_extra_is_production_only(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["deletion-requests"]) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith("METADATA"))
        text = wheel.read(metadata).decode()
    requires = re.findall(r"^Requires-Dist: (.+)$", text, re.MULTILINE)
    in_all = {r.split(";")[0].strip() for r in requires if "extra == 'all'" in r}
    assert in_all == {
        "deletion-requests-http",
        "deletion-requests-sqlite",
        "deletion-requests-postgres",
        "deletion-requests-jsonfiles",
    }, in_all
    testing = {r.split(">")[0] for r in requires if "extra == 'testing'" in r}
    assert {"pytest", "hypothesis"} <= testing


def test_one_http_client_library_for_the_product_and_the_tests() -> None:
    lock = (ROOT / "uv.lock").read_text()
    assert 'name = "httpx"' in lock
    assert 'name = "httpx2"' not in lock
    sources = [
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("adapters/*/tests/*.py"),
        *ROOT.glob("benchmarks/*.py"),
    ]
    users = [
        p.name for p in sources if re.search(r"^\s*(import|from) httpx2\b", p.read_text(), re.M)
    ]
    assert not users


def venv(directory: Path) -> Path:
    run(UV or "uv", "venv", "--quiet", "--python", sys.executable, directory)
    return directory / "bin" / "python"


def install(python: Path, *requirements: str | Path) -> None:
    run(UV or "uv", "pip", "install", "--quiet", "--python", python, *requirements)


def test_the_core_wheel_declares_every_extra(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["deletion-requests"]) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith("METADATA"))
        text = wheel.read(metadata).decode()
    extras = set(re.findall(r"^Provides-Extra: (\S+)$", text, re.MULTILINE))
    assert extras == {"http", "sqlite", "postgres", "jsonfiles", "testing", "all"}
    assert "License-Expression: Apache-2.0" in text
    assert "Project-URL: Changelog" in text


def test_http_and_sqlite_extras_serve_and_run_the_readme_example(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = venv(tmp_path / "venv")
    install(
        python,
        f"{wheels['deletion-requests']}[http,sqlite]",
        wheels["deletion-requests-http"],
        wheels["deletion-requests-sqlite"],
    )
    # The README's library example, as written.
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## The library in ten lines\n\n```python\n(.*?)```", readme, re.DOTALL)
    assert example
    run(python, "-c", example.group(1), cwd=tmp_path)
    # The installed command serves, with the console.
    store = f"sqlite:///{tmp_path}/served.db"
    cli = tmp_path / "venv" / "bin" / "deletion-requests"
    run(cli, "accounts", "allow", "acct-1", "--store", store)
    with serving(store, tmp_path / "serve.log", python=str(python)) as running:
        assert httpx.get(f"{running.base_url}/healthz").status_code == 200
        assert httpx.get(f"{running.base_url}/console/sign-in").status_code == 200
    # Nothing from this checkout leaked in: the package comes from the venv.
    where = run(
        python, "-c", "import deletion_requests_http; print(deletion_requests_http.__file__)"
    )
    assert str(tmp_path / "venv") in where


def test_the_testing_extra_brings_what_the_contract_suite_needs(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = venv(tmp_path / "venv")
    install(python, wheels["deletion-requests"])
    missing = subprocess.run(
        [str(python), "-c", "from deletion_requests.testing import StoreContract"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0
    assert "No module named 'pytest'" in missing.stderr
    install(python, f"{wheels['deletion-requests']}[testing]")
    run(python, "-c", "from deletion_requests.testing import StoreContract")
