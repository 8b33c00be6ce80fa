"""Task and request ids: random version-4 UUIDs from pooled OS randomness."""

from __future__ import annotations

import multiprocessing
import uuid

from deletion_requests import new_uuid


def test_ids_are_distinct_random_v4_uuids() -> None:
    ids = [new_uuid() for _ in range(20_000)]  # several refills of the pool
    assert len(set(ids)) == len(ids)
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)


def _child_ids(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([new_uuid() for _ in range(10)])


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_uuid()  # the parent's pool is filled
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(30)
    ours = [new_uuid() for _ in range(10)]
    assert not set(theirs) & set(ours)
