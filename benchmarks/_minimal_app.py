"""A second reference for the HTTP create benchmark: the least a create can do and still store
durably what the real server stores, on the same Starlette and uvicorn settings.

It checks one Basic header, parses the body, hashes `rawEmails`, decodes `sha256Emails`, makes a
time-ordered task id, and writes the task and its identifiers into the real server's SQLite
schema (`synchronous=FULL`, WAL), in batches on one thread as the real committer does, with
one multi-row INSERT per table (the store's own `_insert_rows`). It answers 202 with the task
only after the commit. It has no error envelope, no access log, no request ids, no
idempotency, no tokens, no access-change checks and no history: it is a yardstick, not a
server. Between the bare app and this one is
what durable storage costs; between this one and the real server is everything else.

Run: python -m benchmarks._minimal_app PORT DB_PATH AUTHORIZATION ACCOUNT
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


def build(path: str, authorization: str, account: str) -> Starlette:
    batcher = Batcher(path)
    expected = authorization.encode()

    async def create(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(b"", status_code=403)
        document = orjson.loads(await request.body())
        if document["accountId"] != account:
            return Response(b"", status_code=403)
        hashes = {
            binascii.b2a_base64(
                hashlib.sha256(raw.strip().lower().encode()).digest(), newline=False
            ).decode()
            for raw in document.get("rawEmails") or ()
        }
        for value in document.get("sha256Emails") or ():
            if len(binascii.a2b_base64(value, strict_mode=True)) != 32:
                return Response(b"", status_code=400)
            hashes.add(value)
        now = dt.datetime.now(dt.UTC)
        task_id = str(new_task_uuid(now))
        row = (task_id, account, "pending", to_us(now), None, None, None, "app", 1, "")
        await batcher.store(((*row, None, None, None), sorted(hashes)))
        body = orjson.dumps(
            {
                "taskId": task_id,
                "status": "pending",
                "deletionType": "emailsDeletion",
                "creationTime": now.isoformat(),
                "accountId": account,
            }
        )
        return Response(
            body,
            status_code=202,
            media_type="application/json",
            headers={"Location": f"/data/deletion-requests/{task_id}"},
        )

    async def health(request: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[
            Route("/data/deletion-requests/emails", create, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


if __name__ == "__main__":
    port, path, authorization, account = sys.argv[1:5]
    uvicorn.run(
        build(path, authorization, account),
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
