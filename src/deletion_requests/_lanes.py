"""`Lanes`: groups of work run side by side, each group's steps in order, so that a group that
is slow holds back only itself (a delivery round's group is the work for one endpoint)."""

from __future__ import annotations

import concurrent.futures
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

DEFAULT_LANES = 8
"""Groups a `Lanes` runs at once unless told otherwise."""


class _Inside(threading.local):
    lane: bool = False
    """Whether this thread is running a group for a `Lanes`."""


_inside = _Inside()


def _in_lane(group: Callable[[], T]) -> T:
    _inside.lane = True
    try:
        return group()
    finally:
        _inside.lane = False


class Lanes:
    """Runs groups of work side by side: each group in one thread, its steps in order, at most
    `width` groups at once (the rest wait for a free lane). `run` returns once every group is
    over, with their results in order; when a group raised, the first such exception is raised
    then. A single group, a width of 1, or a `run` from inside a group runs the groups in turn
    in the calling thread.

    The threads stay for the next `run` (a store that keeps one connection a thread keeps at
    most `width` more), and end on `close` or when the `Lanes` is collected.
    """

    def __init__(self, width: int = DEFAULT_LANES) -> None:
        if width < 1:
            raise ValueError(f"lanes need a width of 1 or more, got {width}")
        self.width = width
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def run(self, groups: Sequence[Callable[[], T]]) -> list[T]:
        """Every group's result, in order, once all of them are over."""
        if len(groups) <= 1 or self.width == 1 or _inside.lane:
            return [group() for group in groups]
        executor = self._pool()
        futures = [executor.submit(_in_lane, group) for group in groups]
        concurrent.futures.wait(futures)
        return [future.result() for future in futures]

    def close(self) -> None:
        """End the lanes' threads once their groups are over; a later `run` starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self.width, thread_name_prefix="deletion-requests-lane"
                )
                weakref.finalize(self, self._executor.shutdown, wait=False)
            return self._executor

    def __repr__(self) -> str:
        return f"Lanes({self.width})"
