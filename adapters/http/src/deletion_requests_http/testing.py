"""Helpers for tests and benchmarks that run real servers on loopback ports, or drive an app
through ASGI with no server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ._bootstrap import Application, Settings, bootstrap

LISTEN = "0A"  # a socket's state in /proc/net/tcp when it listens


def bootstrapped(store_url: str = "memory://", **settings: Any) -> Application:
    """The application `bootstrap` builds over *store_url* (a new memory store by default),
    with *settings* (the fields of `Settings`: `clock=ManualClock(...)`, `signing_key=...`);
    the caller closes it."""
    return bootstrap(Settings(store_url, **settings))


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An ASGI HTTP scope as uvicorn builds it for a request from loopback, to drive an app
    with no server and no sockets."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(base_url: str, timeout: float, alive: Callable[[], bool]) -> bool:
    """Whether `GET /healthz` answers within *timeout* seconds, while *alive* holds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1):  # noqa: S310
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if not alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@attrs.frozen
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def listeners(self) -> int:
        """How many sockets listen on the server's port: one for each worker that has started
        (each worker listens on a socket of its own, `SO_REUSEPORT`)."""
        return listeners(self.port)

    def workers(self) -> list[int]:
        """The process ids of the server's live workers."""
        return workers_of(self.process.pid)


def workers_of(pid: int) -> list[int]:
    """The live worker processes of the `serve` process *pid* (its children but the standard
    library's resource tracker)."""
    found = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def listeners(port: int) -> int:
    """How many TCP sockets listen on *port*, from `/proc/net/tcp` and `tcp6` (Linux)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, _, state = line.split()[1:4]
                count += int(local.rsplit(":", 1)[1], 16) == port and state == LISTEN
    return count


def children(pid: int) -> list[int]:
    """The live (not zombie) child processes of *pid*, from `/proc` (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """The live processes below *pid*: its children, theirs, and so on."""
    found: list[int] = []
    below = children(pid)
    while below:
        found += below
        below = [child for parent in below for child in children(parent)]
    return found


def alive(pid: int) -> bool:
    """Whether process *pid* exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop *process*, the leader of a process group of its own, and everything in its group:
    SIGTERM to the group, then SIGKILL to what is left after *timeout* seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def start_serve(
    store: str, port: int, log: Path, *options: str, python: str = sys.executable
) -> subprocess.Popen[bytes]:
    """`deletion-requests serve --store STORE --port PORT OPTIONS...` in a process group of its
    own (stop it with `stop_group`), output appended to *log*."""
    with log.open("ab") as sink:
        return subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
            [
                python,
                "-m",
                "deletion_requests_http",
                "serve",
                "--store",
                store,
                "--port",
                str(port),
                *options,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def serving(
    store: str, log: Path, *options: str, timeout: float = 30, python: str = sys.executable
) -> Iterator[RunningServer]:
    """`deletion-requests serve --store STORE` on a free loopback port, output appended to *log*,
    until `/healthz` answers; on exit, even when the test fails, stopped with its whole process
    group (`stop_group`). *python* runs it: another checkout's virtual environment runs that
    checkout's server."""
    port = free_port()
    process = start_serve(store, port, log, *options, python=python)
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(base_url, timeout, lambda: process.poll() is None):
            raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
        yield RunningServer(base_url, process)
    finally:
        stop_group(process)


@contextlib.contextmanager
def serving_app(app: Any, timeout: float = 30) -> Iterator[str]:
    """*app* under Granian's embedded server on a free loopback port, in a thread of this
    process (so that a test can drive the app's `ManualClock`); yields the base URL, and
    stops the server on exit."""
    from granian.constants import Interfaces
    from granian.server.embed import Server as EmbeddedServer

    port = free_port()
    server = EmbeddedServer(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, name="embedded-granian", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    if not wait_healthy(base_url, timeout, thread.is_alive):
        raise RuntimeError("the embedded server did not start")
    try:
        yield base_url
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(timeout)


def run_cli(*args: str) -> str:
    """Run `deletion-requests ARGS...` in a child process; its output, or an AssertionError
    carrying its error output when it fails."""
    result = subprocess.run(  # noqa: S603 (our own CLI)
        [sys.executable, "-m", "deletion_requests_http", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"deletion-requests {' '.join(args)} failed: {result.stderr}")
    return result.stdout
