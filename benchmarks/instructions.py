"""Instructions a create costs, counted by valgrind's callgrind: the same in every run.

Timings on these machines swing by 15% from one minute to the next, more than most changes to
the create path move them. An instruction count hardly does: runs of the same code differ by
about 1%, whatever else the machine is doing. It counts work, not waiting (no fsync, no turn of
the GIL), so it complements `benchmarks.http` and does not replace it.

Each app runs in this process, driven through ASGI with no server and no sockets: 32 creates in
flight at a time, on uvloop, as `wrk` sends them. The real app is the one `serve` builds, on a
SQLite file with durable commits, its writer process (whose instructions count too: callgrind
follows child processes) and the server's logging (to a file) and garbage collector settings;
"real, in memory" is the same on the in-memory store, and "in memory, stripped" that one
without its access log, request ids, per-request credentials check and JSON view
(`benchmarks._memory_server.stripped`). The bare app and the minimal durable create, on
Starlette and plain, are the same as `benchmarks.http`'s. Each is run for N and for 3N creates;
the difference over 2N is the cost of a create, without start-up.

Run: uv run python -m benchmarks.instructions [--creates 300]   (needs valgrind)
     uv run python -m benchmarks.instructions --parts   (the real app without each of its parts)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
from deletion_requests_http.testing import http_scope

Message = MutableMapping[str, Any]
App = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
IN_FLIGHT = 32
HASHED = "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="


async def drive(app: App, creates: int, authorization: str, start: int = 0) -> None:
    """*creates* create requests through *app*, IN_FLIGHT at a time; each must answer 202."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    statuses: list[int] = []

    async def one(number: int) -> None:
        body = orjson.dumps(
            {
                "accountId": "acct-0",
                "rawEmails": [f"user{number}@example.com"],
                "sha256Emails": [HASHED],
            }
        )
        scope = http_scope(
            "POST",
            "/data/deletion-requests/emails",
            [
                (b"content-type", b"application/json"),
                (b"authorization", authorization.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        )
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the client stays connected
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async with slots:
            await app(scope, receive, send)

    await asyncio.gather(*(one(start + number) for number in range(creates)))
    if set(statuses) != {202}:
        raise RuntimeError(f"creates answered {sorted(set(statuses))}, not only 202")


def real_app(directory: Path) -> tuple[App, str]:
    """The app `serve` builds, on a new SQLite file in *directory*, its writer process
    included (started by the first create, as no lifespan runs here); and Basic credentials."""
    from deletion_requests_http._wiring import Server

    from benchmarks.http import make_app

    store = f"sqlite:///{directory}/create.db"
    authorization = make_app(store, ["acct-0"])
    app = Server.open(store).app(writer_process=True, log_level="info")  # as `serve` builds it
    return app, authorization


def memory_app(stripped: bool = False) -> tuple[App, str]:
    """The same app on the in-memory store (`benchmarks._memory_server`), *stripped* or not;
    Basic credentials."""
    from benchmarks import _memory_server

    server, authorization = _memory_server.in_memory()
    app = server.app()
    return _memory_server.stripped(app) if stripped else app, authorization


def child(which: str, creates: int, directory: Path, without: str | None = None) -> None:
    """Build one app, warm it up, then drive *creates* creates (the part that is counted
    differs between runs only by the number of creates). *without*: one of
    `benchmarks._memory_server.PARTS`, left out of the real app (`--parts`)."""
    import uvloop

    app: App
    if which == "bare":
        from benchmarks._bare_app import app

        authorization = "Basic unused"
    elif which in ("minimal", "plain"):
        from benchmarks._minimal_app import build, build_plain

        authorization = "Basic minimal"
        builder = build_plain if which == "plain" else build
        app = builder(str(directory / "minimal.db"), authorization, "acct-0")
    else:
        from deletion_requests_http._cli import serving_gc
        from deletion_requests_http._logs import configure_logging

        configure_logging("info")  # the server's, to a file
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(Path(directory / "server.log").open("a"))  # noqa: SIM115
        app, authorization = (
            real_app(directory) if which == "real" else memory_app(which == "stripped")
        )
        if without is not None:
            from benchmarks._memory_server import stripped

            app = stripped(app, [without])  # type: ignore[arg-type]
        serving_gc()  # as `serve` sets it

    async def run() -> None:
        await drive(app, 200, authorization)
        await drive(app, creates, authorization, start=200)

    uvloop.run(run())


def counted(which: str, creates: int, without: str | None = None) -> list[int]:
    """Instructions of a whole child run under callgrind: one count for each process, in the
    order they started (the app's, then its writer process's, if any)."""
    with tempfile.TemporaryDirectory() as directory:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--trace-children=yes",  # the real app's writer process works for it too
                f"--callgrind-out-file={directory}/callgrind.out.%p",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--child",
                which,
                "--creates",
                str(creates),
                "--directory",
                directory,
                *(["--without", without] if without else []),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.findall(r"==(\d+)== Collected : (\d+)", result.stderr)  # one for each process
    if not found:
        raise RuntimeError(f"no instruction count from callgrind:\n{result.stderr[-2000:]}")
    return [int(count) for _, count in sorted(found, key=lambda pid_count: int(pid_count[0]))]


def per_create(which: str, creates: int, without: str | None = None) -> list[float]:
    """Instructions a create, for each process of the run (see `counted`)."""
    fewer, more = counted(which, creates, without), counted(which, 3 * creates, without)
    return [(m - f) / (2 * creates) for f, m in zip(fewer, more, strict=True)]


def parts(creates: int) -> None:
    """`--parts`: the real app whole, then without each part of `_memory_server.PARTS` in
    turn; what each part costs the server process and the writer process."""
    from benchmarks._memory_server import PARTS

    whole = per_create("real", creates)
    print(f"real app by part ({creates} and {3 * creates} creates, callgrind):")
    print(f"  whole              server {whole[0]:9,.0f}  writer {whole[1]:9,.0f}")
    for part in PARTS:
        server, writer = per_create("real", creates, part)
        print(
            f"  without {part:13}  server {server:9,.0f} ({server - whole[0]:+8,.0f})  "
            f"writer {writer:9,.0f} ({writer - whole[1]:+8,.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument(
        "--child", choices=["bare", "minimal", "plain", "memory", "stripped", "real"]
    )
    parser.add_argument("--directory", type=Path)
    parser.add_argument("--without", help="a child's real app without this part")
    parser.add_argument(
        "--parts", action="store_true", help="what each part of the real app costs (~15 min)"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.creates, args.directory, args.without)
        return
    if args.parts:
        parts(args.creates)
        return
    bare, minimal, plain, memory, stripped = (
        sum(per_create(which, args.creates))
        for which in ("bare", "minimal", "plain", "memory", "stripped")
    )
    real_processes = per_create("real", args.creates)
    real = sum(real_processes)
    print(f"instructions a create ({args.creates} and {3 * args.creates} creates, callgrind):")
    print(f"  bare Starlette  {bare:10,.0f}")
    print(f"  minimal durable {minimal:10,.0f}  = {minimal / bare:.2f}x bare")
    print(f"  minimal, plain  {plain:10,.0f}  = {plain / bare:.2f}x bare")
    print(f"  real, in memory {memory:10,.0f}  = {memory / bare:.2f}x bare")
    print(f"  memory stripped {stripped:10,.0f}  = {stripped / bare:.2f}x bare")
    print(
        f"  real app        {real:10,.0f}  = {real / bare:.2f}x bare, {real / minimal:.2f}x minimal"
    )
    print(
        "    by process    "
        + ", ".join(f"{count:,.0f}" for count in real_processes)
        + "  (the server's, then its writer process's)"
    )


if __name__ == "__main__":
    main()
