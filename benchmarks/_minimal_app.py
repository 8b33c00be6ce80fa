"""A second reference for the HTTP create benchmark: the least a create can do and still store
durably what the real server stores, on the same Starlette and uvicorn settings.

It checks one Basic header, parses the body, hashes `rawEmails`, decodes `sha256Emails`, makes a
time-ordered task id, and writes the task and its identifiers into the real server's SQLite
schema (`synchronous=FULL`, WAL), in batches on one thread as the real committer does, with
one multi-row INSERT per table (the store's own `_insert_rows`). It answers 202 with the task
only after the commit. It has no error envelope, no access log, no request ids, no
idempotency, no tokens, no access-change checks and no history: it is a yardstick, not a
server. Between the bare app and this one is what durable storage costs; between this one and
the real server is everything else.

With `--plain` it serves the same create as a plain ASGI app, without Starlette's router,
middleware, request and response, as the real server serves its creates (`AsgiEndpoint`): the
least a durable create costs in this shape (one uvicorn worker, Python, SQLite).

Run: python -m benchmarks._minimal_app PORT DB_PATH AUTHORIZATION ACCOUNT [--plain]
"""

from __future__ import annotations

import asyncio
import binascii
import datetime as dt
import hashlib
import hmac
import sqlite3
import sys
from concurrent.futures import Future, ThreadPoolExecutor

import orjson
import uvicorn
from deletion_requests_sqlite import SqliteStore
from deletion_requests_sqlite._store import TASK_COLUMNS, _insert_rows, to_us
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from deletion_requests import new_task_uuid

Row = tuple[tuple[object, ...], list[str]]


class Batcher:
    """Creates wait here while the previous batch commits on the writer thread."""

    def __init__(self, path: str) -> None:
        SqliteStore(path).close()  # the real schema, migrated
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA temp_store = MEMORY")
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.waiting: list[tuple[Row, asyncio.Future[None]]] = []
        self.busy = False

    async def store(self, row: Row) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.waiting.append((row, future))
        if not self.busy:
            self._submit(loop)
        await future

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        self.busy = True
        batch, self.waiting = self.waiting, []
        work = self.thread.submit(self._write, [row for row, _ in batch])
        work.add_done_callback(lambda done: loop.call_soon_threadsafe(self._settle, batch, done))

    def _settle(self, batch: list[tuple[Row, asyncio.Future[None]]], done: Future[None]) -> None:
        if self.waiting:
            self._submit(asyncio.get_running_loop())
        else:
            self.busy = False
        error = done.exception()
        for _, future in batch:
            if future.done():  # the client went away
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _write(self, rows: list[Row]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()
            tasks = [(row_id, *task) for row_id, (task, _) in enumerate(rows, start=last + 1)]
            hashes = [
                (row_id, value)
                for row_id, (_, values) in enumerate(rows, start=last + 1)
                for value in values
            ]
            _insert_rows(conn, f"tasks (id, {TASK_COLUMNS})", tasks)
            _insert_rows(conn, "task_identifiers (task, hash)", hashes)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class MinimalCreate:
    """The create itself, whatever serves it: from the Authorization header and the body, the
    status, the JSON answer and the Location."""

    def __init__(self, path: str, authorization: str, account: str) -> None:
        self.batcher = Batcher(path)
        self.expected = authorization.encode()
        self.account = account

    async def answer(self, authorization: bytes, body: bytes) -> tuple[int, bytes, str | None]:
        if not hmac.compare_digest(authorization, self.expected):
            return 403, b"", None
        document = orjson.loads(body)
        account = self.account
        if document["accountId"] != account:
            return 403, b"", None
        hashes = {
            binascii.b2a_base64(
                hashlib.sha256(raw.strip().lower().encode()).digest(), newline=False
            ).decode()
            for raw in document.get("rawEmails") or ()
        }
        for value in document.get("sha256Emails") or ():
            if len(binascii.a2b_base64(value, strict_mode=True)) != 32:
                return 400, b"", None
            hashes.add(value)
        now = dt.datetime.now(dt.UTC)
        task_id = str(new_task_uuid(now))
        row = (task_id, account, "pending", to_us(now), None, None, None, "app", 1, "")
        await self.batcher.store(((*row, None, None, None), sorted(hashes)))
        content = orjson.dumps(
            {
                "taskId": task_id,
                "status": "pending",
                "deletionType": "emailsDeletion",
                "creationTime": now.isoformat(),
                "accountId": account,
            }
        )
        return 202, content, f"/data/deletion-requests/{task_id}"


def build(path: str, authorization: str, account: str) -> Starlette:
    """The minimal create on Starlette, as the bare app is served."""
    minimal = MinimalCreate(path, authorization, account)

    async def create(request: Request) -> Response:
        status, content, location = await minimal.answer(
            request.headers.get("authorization", "").encode(), await request.body()
        )
        headers = {"Location": location} if location else None
        return Response(content, status, headers=headers, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[
            Route("/data/deletion-requests/emails", create, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def build_plain(path: str, authorization: str, account: str) -> ASGIApp:
    """The same create as a plain ASGI app, as the real server serves creates: no Starlette
    request or response objects, no router, no middleware. Every POST is a create; any other
    request answers 200 (the benchmark's health check)."""
    minimal = MinimalCreate(path, authorization, account)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        status, content, location = 200, b"ok", None
        if scope["method"] == "POST":
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            chunks, more = [], True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            status, content, location = await minimal.answer(given, b"".join(chunks))
        headers = [(b"content-length", b"%d" % len(content))]
        if location:
            headers += [(b"content-type", b"application/json"), (b"location", location.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return app


if __name__ == "__main__":
    port, path, authorization, account = sys.argv[1:5]
    builder = build_plain if "--plain" in sys.argv[5:] else build
    uvicorn.run(
        builder(path, authorization, account),
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # as `serve` runs it
        loop="uvloop",
        http="httptools",
    )
