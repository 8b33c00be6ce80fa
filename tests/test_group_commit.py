"""`GroupCommit`: concurrent callers share writes, and none returns before its write."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from deletion_requests.stores import GroupCommit


class SlowLog:
    """A write that takes a while (as a commit does) and records each batch."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.written: set[int] = set()
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def write(self, batch: list[int]) -> None:
        threading.Event().wait(0.005)
        if self.fail_on is not None and self.fail_on in batch:
            raise RuntimeError("disk full")
        with self.lock:
            self.batches.append(batch)
            self.written.update(batch)


def test_every_call_returns_after_a_write_that_holds_its_items_and_writes_are_shared() -> None:
    log = SlowLog()
    commit = GroupCommit(log.write)

    def submit(n: int) -> bool:
        commit.submit([n, n + 1000])
        return n in log.written and n + 1000 in log.written  # already written on return

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(submit, range(200)))
    assert sorted(item for batch in log.batches for item in batch) == sorted(
        [*range(200), *range(1000, 1200)]
    )
    assert len(log.batches) < 200  # concurrent calls shared writes
    assert max(len(batch) for batch in log.batches) > 2


def test_a_failed_write_raises_in_each_caller_of_its_batch_and_the_next_write_goes_on() -> None:
    log = SlowLog(fail_on=7)
    commit = GroupCommit(log.write)
    with pytest.raises(RuntimeError, match="disk full"):
        commit.submit([7])
    commit.submit([8])
    assert log.written == {8}
