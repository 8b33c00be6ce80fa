"""Settings for every test in the workspace (the core's and the adapters'): the hypothesis
profiles, and a check at the end of the session that the suite left no process running.

Deadlines are off: stores that fsync take longer on a busy machine than hypothesis's 200 ms
default, and a timing is not what these tests check.

Every process the suite starts must be gone when it ends: a server is stopped with its whole
process group, even when its test fails. At the end of the session, any process still alive
below the test runner (its children, theirs, and orphans of theirs: the runner is their
subreaper) is listed, killed, and fails the run.
The standard library's `multiprocessing.resource_tracker`, which lives as long as the
interpreter that started it, is not counted. Under pytest-xdist each worker checks what it
started, and the run fails in the controller when any worker found something left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

GRACE = 10.0
"""Seconds the session's end waits for processes that are exiting already."""


def _status(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of *pid*, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return int(ppid), state


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(raw.decode(errors="replace").split())


def left_running(root: int) -> dict[int, str]:
    """The live processes below *root*, with their command lines (Linux; none elsewhere)."""
    if not Path("/proc/self/stat").exists():
        return {}
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (status := _status(int(entry.name))) and status[1] != "Z":
            parents[int(entry.name)] = status[0]
    found: dict[int, str] = {}
    below = [pid for pid, parent in parents.items() if parent == root]
    while below:
        for pid in below:
            command = _command(pid)
            if "multiprocessing.resource_tracker" not in command:
                found[pid] = command
        below = [pid for pid, parent in parents.items() if parent in below]
    return found


PR_SET_CHILD_SUBREAPER = 36


def pytest_sessionstart(session: pytest.Session) -> None:
    """Make the test runner the reaper of its descendants' orphans (Linux): a process whose
    parent dies (a worker left by a killed server) becomes its child, so the check at the end
    sees it instead of losing it to init."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_WORKERS_LEFT_RUNNING: list[str] = []
"""In the xdist controller: what each worker found still running at its end."""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the xdist controller, as each worker ends: keep what it found still running."""
    listed = getattr(node, "workeroutput", {}).get("left_running")
    if listed:
        _WORKERS_LEFT_RUNNING.append(listed)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    deadline = time.monotonic() + GRACE
    while (leftover := left_running(os.getpid())) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    found = [*_WORKERS_LEFT_RUNNING]
    if leftover:
        found.append("\n".join(f"  {pid}: {command}" for pid, command in leftover.items()))
    if not found:
        return
    listed = "\n".join(found)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports it and fails
        workeroutput["left_running"] = listed
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"processes the suite started are still alive (killed now):\n{listed}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
