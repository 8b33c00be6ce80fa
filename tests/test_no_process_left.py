"""The session-end check of the root conftest.py: a run that leaves a process alive fails,
names it, and kills it; a run that leaves none passes. Under pytest-xdist too: a process left
by a worker fails the whole run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

LEAKS = """
import subprocess, sys

def test_starts_a_process_whose_parent_exits_at_once():
    code = "import os, time\\nif os.fork():\\n    os._exit(0)\\ntime.sleep(600)"
    subprocess.run([sys.executable, "-c", code], check=True)
"""

CLEAN = """
import subprocess, sys

def test_starts_a_process_and_waits_for_it():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def run_session(tmp_path: Path, test: str, *options: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT_CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(test)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["one-process", "xdist-workers"])
def test_a_session_that_leaves_an_orphan_alive_fails_and_kills_it(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    result = run_session(tmp_path, LEAKS, *options)
    assert result.returncode == 1, result.stdout
    assert "still alive (killed now)" in result.stdout
    leaked = [line for line in result.stdout.splitlines() if "time.sleep(600)" in line]
    assert leaked, result.stdout
    pid = int(leaked[0].split(":")[0])
    assert not Path(f"/proc/{pid}/cmdline").exists() or (
        Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    )


def test_a_session_that_leaves_nothing_passes(tmp_path: Path) -> None:
    result = run_session(tmp_path, CLEAN)
    assert result.returncode == 0, result.stdout
    assert "still alive" not in result.stdout
