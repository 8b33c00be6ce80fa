"""Group commit for stores: concurrent callers share one write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("done", "error", "items")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Lets threads that write at the same time share one write.

    `submit(items)` queues the items and returns once a call of `write` that held them has
    returned. One caller at a time is the writer: it takes everything queued so far, its own
    items and other threads', and passes it to `write`; the others wait for that write to end,
    and then either find their items written or take the next batch themselves. So a store
    whose write costs one commit commits once for every item that arrived while the previous
    commit ran, and no caller returns before the commit that holds its items.

    `write` reports per-item outcomes in the items themselves. If it raises, the exception is
    raised in every caller whose items were in that batch.
    """

    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self._write = write
        self._condition = threading.Condition()
        self._queue: list[_Entry[T]] = []
        self._writing = False

    def submit(self, items: Sequence[T]) -> None:
        mine = _Entry(items)
        with self._condition:
            self._queue.append(mine)
            while not mine.done and self._writing:
                self._condition.wait()
            if mine.done:
                if mine.error is not None:
                    raise mine.error
                return
            self._writing = True
            batch, self._queue = self._queue, []
        error: BaseException | None = None
        try:
            self._write([item for entry in batch for item in entry.items])
        except BaseException as exc:  # noqa: BLE001 (raised in every caller of the batch, below)
            error = exc
        with self._condition:
            for entry in batch:
                entry.done = True
                entry.error = error
            self._writing = False
            self._condition.notify_all()
        if error is not None:
            raise error
