"""A third reference for the HTTP create benchmark: the real server with nothing durable.

It is `deletion-requests serve` (the same app, logging and uvicorn settings, the background
loops quiet) on the in-memory store, so a create does everything the real server does
(authentication, checks, the task and its history, idempotency, the committer's batches on
its thread, the request id, the access log, the JSON view) except write to disk. Between it and
the bare app is what the server's own request handling costs; between it and the real server
on SQLite is what durable storage costs.

The in-memory store lives in this process, so this process allows the account and creates the
app, and writes the Basic Authorization header to CREDENTIALS_FILE.

With `--stripped` it also drops, for the benchmark's fifth server, four things the issue asks
of the real server: the access log, the outermost middleware (request ids and the 500 envelope),
checking the credentials on every request (the first check's caller is kept for its header) and
the JSON task view (the 202 carries `taskId` and `status` only). That server answers what no
client should get, and stores what the real one stores: it only shows how far those four parts
are from explaining the gap to the bare app.

Run: python -m benchmarks._memory_server PORT CREDENTIALS_FILE [--stripped]
"""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Collection
from pathlib import Path

import orjson
from deletion_requests_http import _app
from deletion_requests_http._cli import run_uvicorn
from deletion_requests_http._logs import configure_logging
from deletion_requests_http._wiring import Server, sinks_for
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from deletion_requests import Caller, DeletionTask

ACCOUNT = "acct-0"


def in_memory() -> tuple[Server, str]:
    """The server's parts on a new in-memory store with ACCOUNT allowed and an app for it; and
    that app's Basic Authorization header."""
    server = Server.open("memory://")
    server.admin.allow_account(ACCOUNT)
    app, secret = server.admin.create_app([ACCOUNT])
    return server, "Basic " + base64.b64encode(f"{app.app_id}:{secret}".encode()).decode()


PARTS = ("access-log", "observability", "credentials", "view")
"""What `stripped` can leave out: the access log; the outermost middleware (request ids, the 500
envelope, and so the access log too); a credentials check a request (the first check's caller
is kept for its header); the JSON task view (the 202 carries `taskId` and `status` only)."""


def stripped(app: Starlette, parts: Collection[str] = PARTS) -> ASGIApp:
    """*app* (built by `create_app`, not yet called) without *parts* (`PARTS`, all of them by
    default); see the module's text.

    It patches the HTTP adapter's module for the whole process: call it only in a process of
    its own (a server, or a `benchmarks.instructions` child)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"no such part: {sorted(unknown)}; the parts are {PARTS}")
    if "access-log" in parts:
        logging.getLogger("deletion_requests.http.access").disabled = True
    if "credentials" in parts:
        check = _app.Api._caller
        callers: dict[tuple[str | None, bool], Caller] = {}

        def remembered(api: _app.Api, header: str | None, confirmed: bool = True) -> Caller:
            key = (header, confirmed)
            if key not in callers:
                callers[key] = check(api, header, confirmed)
            return callers[key]

        setattr(_app.Api, "_caller", remembered)  # noqa: B010 (a yardstick's patch)
    if "view" in parts:

        def two_fields(task: DeletionTask) -> bytes:
            return orjson.dumps({"taskId": task.task_id, "status": task.status.value})

        setattr(_app, "task_to_api_json", two_fields)  # noqa: B010
    if "observability" not in parts:
        return app
    observability: object = _app.Observability
    app.user_middleware = [m for m in app.user_middleware if m.cls is not observability]

    async def with_context(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["context"] = _app.RequestContext("stripped")
        await app(scope, receive, send)

    return with_context


if __name__ == "__main__":
    port, credentials = int(sys.argv[1]), Path(sys.argv[2])
    server, authorization = in_memory()
    credentials.write_text(authorization)
    configure_logging("info")
    # As `serve` with the benchmark's `--advance-interval 3600`: review alerts to the log.
    quiet = server.app(advance_interval=3600, sinks=sinks_for(None, None, None))
    served = stripped(quiet) if "--stripped" in sys.argv[3:] else quiet
    run_uvicorn(served, "127.0.0.1", port, "info")
