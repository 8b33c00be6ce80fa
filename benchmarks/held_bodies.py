"""Half-sent bodies held open against `deletion-requests serve`: the time `/healthz` and an
authenticated create take with no body held and with N held (half of them to the create
endpoint without credentials, half to the token endpoint), for this checkout's server and,
with a baseline, the baseline's, one after the other in the same run.

Run: uv run python -m benchmarks.held_bodies [--bodies 2000] [--baseline REF |
--baseline-python PYTHON]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
from deletion_requests_http.testing import serving

from benchmarks._drive import QUIET, START, make_app
from benchmarks.http import baseline_python

CREATE = "/data/deletion-requests/emails"
BODY = b'{"accountId": "acct-1", "rawEmails": ["someone@example.com"]}'
FORM = b"grant_type=client_credentials&client_id=someone&client_secret=" + b"x" * 64


def half_sent(port: int, path: str, body: bytes, content_type: str) -> socket.socket:
    """A connection that sent a POST head for *body* and a third of it, without credentials."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[: len(body) // 3])
    return sock


def probe(base_url: str, basic: str, timeout: float) -> dict[str, float | None]:
    """Seconds `/healthz` and an authenticated create take on a new connection each, or None
    when one is not answered with 200 and 202 within *timeout*."""
    seconds: dict[str, float | None] = {}
    for name, method, path, status in (
        ("healthz", "GET", "/healthz", 200),
        ("create", "POST", CREATE, 202),
    ):
        headers = {"Authorization": basic, "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            with httpx.Client(base_url=base_url, timeout=timeout) as client:
                answer = client.request(method, path, headers=headers, content=BODY)
            ok = answer.status_code == status
        except httpx.HTTPError:
            ok = False
        seconds[name] = time.perf_counter() - started if ok else None
    return seconds


def held_bodies(
    directory: Path, bodies: int, python: str = sys.executable, timeout: float = 30.0
) -> dict[str, dict[str, float | None]]:
    """`probe` of a new `serve` (run by *python*) with no body held, then with *bodies*
    half-sent bodies held open."""
    store_url = f"sqlite:///{directory}/held-{abs(hash(python))}.db"
    basic = make_app(store_url, ["acct-1"], python)
    log = directory / "server.log"
    with serving(store_url, log, *QUIET, python=python, timeout=START) as running:
        idle = probe(running.base_url, basic, timeout)
        with contextlib.ExitStack() as held:
            for n in range(bodies):
                path, body, kind = (
                    (CREATE, BODY, "application/json")
                    if n % 2 == 0
                    else ("/auth/oauth2/token", FORM, "application/x-www-form-urlencoded")
                )
                held.enter_context(half_sent(running.port, path, body, kind))
            loaded = probe(running.base_url, basic, timeout)
    return {"none held": idle, f"{bodies} held": loaded}


def _shown(seconds: float | None) -> str:
    return "no answer" if seconds is None else f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bodies", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=30.0)
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline", metavar="REF")
    baseline.add_argument("--baseline-python", metavar="PYTHON")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        pythons = {"current": sys.executable}
        if arguments.baseline:
            pythons["baseline"] = baseline_python(arguments.baseline, directory)
        elif arguments.baseline_python:
            pythons["baseline"] = arguments.baseline_python
        for label, python in pythons.items():
            results = held_bodies(directory, arguments.bodies, python, arguments.timeout)
            for case, seconds in results.items():
                shown = ", ".join(f"{k} {_shown(v)}" for k, v in seconds.items())
                print(f"{label:8} {case:>12}: {shown}", flush=True)


if __name__ == "__main__":
    main()
