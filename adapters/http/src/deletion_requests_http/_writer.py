"""The writer of creates: one per app, so one per process and store under `serve`.

A create is prepared on the event loop (`DeletionService.prepare_create`) and its task handed
to `TaskWriter.add`, which queues it and awaits the commit. One thread, the writer's own,
stores everything queued while it was writing the previous batch with one `add_batch` (one
transaction on the SQLite and PostgreSQL stores). Once a batch is written it
wakes each event loop that waits on it once, with all of that loop's answers. A request is
answered only after the commit that holds its task."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from deletion_requests import DeletionTask, Store
from deletion_requests.stores import DuplicateTask, IdempotencyKeyConflict

Refusal = DuplicateTask | IdempotencyKeyConflict
Key = tuple[str, str] | None
_Queued = tuple[DeletionTask, Key, "asyncio.Future[Refusal | None]"]
IDLE_SECONDS = 2.0
"""How long the writer's thread waits for more work before it ends (the next add starts
another)."""


class TaskWriter:
    """Stores the tasks of creates for the event loops of one process, a batch at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = threading.Condition(threading.Lock())
        self._queue: list[_Queued] = []
        self._thread: threading.Thread | None = None

    async def add(self, task: DeletionTask, key: Key) -> Refusal | None:
        """Store *task*, binding the idempotency *key* to it; once committed, None, or the
        refusal (`DuplicateTask`, `IdempotencyKeyConflict`) that wrote nothing. A store
        failure raises its `StoreError`."""
        future: asyncio.Future[Refusal | None] = asyncio.get_running_loop().create_future()
        with self._wake:
            self._queue.append((task, key, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="task-writer", daemon=True)
                self._thread.start()
            else:
                self._wake.notify()
        return await future

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._queue:
                    self._wake.wait(IDLE_SECONDS)
                if not self._queue:
                    self._thread = None
                    return
                batch, self._queue = self._queue, []
            self._write(batch)

    def _write(self, batch: list[_Queued]) -> None:
        items = [(task, key) for task, key, _ in batch]
        outcomes: list[Refusal | None] | BaseException
        try:
            outcomes = self._store_all(items)
        except Exception as exc:  # noqa: BLE001 (raised in every create of the batch)
            outcomes = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Refusal | None], int]]]
        by_loop = {}
        for index, (_, _, future) in enumerate(batch):
            by_loop.setdefault(future.get_loop(), []).append((future, index))
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(_settle, futures, outcomes)

    def _store_all(self, items: list[tuple[DeletionTask, Key]]) -> list[Refusal | None]:
        return self.store.add_batch(items)


def _settle(
    futures: list[tuple[asyncio.Future[Refusal | None], int]],
    outcomes: list[Refusal | None] | BaseException,
) -> None:
    for future, index in futures:
        if future.done():  # the request was cancelled (its client left); the task is stored
            continue
        if isinstance(outcomes, BaseException):
            future.set_exception(outcomes)
        else:
            future.set_result(outcomes[index])
