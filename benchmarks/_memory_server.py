"""A third reference for the HTTP create benchmark: the real server with nothing durable.

It is `deletion-requests serve` (the same app, logging and uvicorn settings, the background
loops quiet) on the in-memory store, so a create does everything the real server does
(authentication, checks, the task and its history, idempotency, the committer's batches on
its thread, the request id, the access log, the JSON view) except write to disk. Between it and
the bare app is what the server's own request handling costs; between it and the real server
on SQLite is what durable storage costs.

The in-memory store lives in this process, so this process allows the account and creates the
app, and writes the Basic Authorization header to CREDENTIALS_FILE.

Run: python -m benchmarks._memory_server PORT CREDENTIALS_FILE
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from deletion_requests_http._cli import configure_logging, run_uvicorn
from deletion_requests_http._wiring import Server, sinks_for

ACCOUNT = "acct-0"


def in_memory() -> tuple[Server, str]:
    """The server's parts on a new in-memory store with ACCOUNT allowed and an app for it; and
    that app's Basic Authorization header."""
    server = Server.open("memory://")
    server.admin.allow_account(ACCOUNT)
    app, secret = server.admin.create_app([ACCOUNT])
    return server, "Basic " + base64.b64encode(f"{app.app_id}:{secret}".encode()).decode()


if __name__ == "__main__":
    port, credentials = int(sys.argv[1]), Path(sys.argv[2])
    server, authorization = in_memory()
    credentials.write_text(authorization)
    configure_logging("info")
    # As `serve` with the benchmark's `--advance-interval 3600`: review alerts to the log.
    quiet = server.app(advance_interval=3600, sinks=sinks_for(None, None, None))
    run_uvicorn(quiet, "127.0.0.1", port, "info")
