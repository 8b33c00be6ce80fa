"""Random version-4 UUIDs from a pool of OS randomness.

`uuid.uuid4()` asks the OS for 16 bytes each time, and that call lets go of the GIL: on a busy
server every id then costs a thread hand-off. The pool asks for 4 KiB at a time (256 ids per
call); the bytes are the same `os.urandom` output, so the ids are as unpredictable.
"""

from __future__ import annotations

import os
import threading
import uuid

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


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID."""
    return uuid.UUID(bytes=_pool.take(), version=4)


def new_hex_id() -> str:
    """128 random bits as 32 hex digits, for ids that need not be UUIDs (request ids)."""
    return _pool.take().hex()
