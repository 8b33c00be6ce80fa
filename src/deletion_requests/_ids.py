"""Ids from a pool of OS randomness: time-ordered UUIDs for tasks, random hex for requests.

`uuid.uuid4()` asks the OS for 16 bytes each time, and that call lets go of the GIL: on a busy
server every id then costs a thread hand-off. The pool asks for 4 KiB at a time (256 ids per
call); the bytes are the same `os.urandom` output, so the ids are as unpredictable.

Task ids are version-7 UUIDs (RFC 9562): the task's creation time in Unix milliseconds, then 74
random bits. Tasks created one after another get ids that sort one after another, so a store's
index of task ids grows at its end: a batch of new tasks touches a page or two of it, where
random ids touch a page for every task. The time the id shows is the task's `creationTime`,
which the API returns anyway. The random bits are what make an id hard to guess; access never
rests on that (another app's task is 404 whatever its id).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

from ._clock import as_utc

_POOL_BYTES = 4096


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._at = _POOL_BYTES

    def take(self) -> bytes:
        with self._lock:
            if self._at >= len(self._bytes):
                self._bytes, self._at = os.urandom(_POOL_BYTES), 0
            start = self._at
            self._at += 16
            return self._bytes[start : start + 16]

    def discard(self) -> None:
        """Forget the bytes left: a forked child must not hand out its parent's next ids."""
        self._lock = threading.Lock()
        self._bytes, self._at = b"", _POOL_BYTES


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.discard)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)
_TIME_BITS = (1 << 48) - 1
_VERSION_7 = 0x7 << 76
_RFC_VARIANT = 0b10 << 62
_RAND_A = 0xFFF << 64  # 12 random bits after the version
_RAND_B = (1 << 62) - 1  # 62 random bits after the variant


def new_task_uuid(at: dt.datetime) -> uuid.UUID:
    """A version-7 UUID for a task created *at* (an aware datetime): its Unix milliseconds in
    the first 48 bits, so ids sort by creation to the millisecond, then 74 random bits."""
    return uuid.UUID(int=_v7(at))


def new_task_id(at: dt.datetime) -> str:
    """`str(new_task_uuid(at))`, without making the `UUID` object (on the path of every
    create)."""
    digits = "%032x" % _v7(at)  # noqa: UP031 (the cheapest spelling of 32 hex digits)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _v7(at: dt.datetime) -> int:
    millis = max(0, (as_utc(at, "a task's creation time") - _EPOCH) // _MILLISECOND) & _TIME_BITS
    random = int.from_bytes(_pool.take())
    return (millis << 80) | _VERSION_7 | (random & _RAND_A) | _RFC_VARIANT | (random & _RAND_B)


def new_hex_id() -> str:
    """128 random bits as 32 hex digits, for ids that need not be UUIDs (request ids)."""
    return _pool.take().hex()
