"""Task ids (version-7 UUIDs) and request ids, from pooled OS randomness."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import uuid

import pytest
from hypothesis import given

from deletion_requests._ids import new_task_id
from deletion_requests.testing import aware_datetimes
from deletion_requests.wire import new_hex_id, new_task_uuid

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
times = aware_datetimes(
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
)


def unix_millis(at: dt.datetime) -> int:
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


def test_task_ids_are_distinct_v7_uuids() -> None:
    ids = [new_task_uuid(T0) for _ in range(20_000)]  # one millisecond, several pool refills
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)


def test_the_74_random_bits_vary() -> None:
    """Every bit that is neither time, version nor variant takes both values."""
    ids = [new_task_uuid(T0).int for _ in range(2_000)]
    fixed = ((1 << 48) - 1) << 80 | 0xF << 76 | 0b11 << 62
    varying = 0
    for value in ids:
        varying |= value ^ ids[0]
    assert varying == ((1 << 128) - 1) & ~fixed


@given(times)
def test_a_task_id_carries_its_creation_millisecond(at: dt.datetime) -> None:
    assert new_task_uuid(at).int >> 80 == unix_millis(at)


@given(times)
def test_the_text_form_is_the_uuids_text(at: dt.datetime) -> None:
    """`new_task_id` spells what `str(UUID)` spells: a v7 UUID of the same millisecond."""
    text = new_task_id(at)
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == unix_millis(at)


@given(times, times)
def test_ids_from_different_milliseconds_sort_by_time_as_text(
    a: dt.datetime, b: dt.datetime
) -> None:
    """Stores index the text form: it must sort as creation does."""
    if unix_millis(a) == unix_millis(b):
        return
    earlier, later = sorted((a, b))
    assert str(new_task_uuid(earlier)) < str(new_task_uuid(later))
    assert new_task_id(earlier) < new_task_id(later)


def test_a_naive_creation_time_is_refused_by_name() -> None:
    """A clock that gives naive times is a configuration error: say so, as DeletionTask does."""
    with pytest.raises(ValueError, match="creation time must be timezone-aware"):
        new_task_uuid(dt.datetime(2026, 11, 26, 12, 0))  # noqa: DTZ001 (naive on purpose)


def test_request_ids_are_distinct_hex() -> None:
    ids = [new_hex_id() for _ in range(1_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def _child_ids(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([new_task_uuid(T0) for _ in range(10)])


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_task_uuid(T0)  # the parent's pool is filled
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(30)
    ours = [new_task_uuid(T0) for _ in range(10)]
    assert not set(theirs) & set(ours)
