"""The background lease of the stores that keep their data in local files: an exclusive,
non-blocking `flock` on a file beside the data. The kernel drops it when its holder's process
ends, however it ends, so another process may take it at its next try."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from ._errors import StoreError


class FileLease:
    """The lease on *path* (made, mode 0600, when missing), for the object that holds this
    `FileLease`: `take` takes it when no other holder has it, and keeps it; `release` gives it
    up. Other `FileLease` objects on the same path, in this process or another, are other
    holders."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Whether this holder has the lease now (taking it when it is free); `StoreError`
        when the file cannot be opened."""
        with self._lock:
            if self._fd is not None:
                return True
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreError(f"cannot open the lease file {self.path}: {exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        """Give the lease up (nothing happens when it is not held)."""
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None
