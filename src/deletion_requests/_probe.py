"""Whether a directory takes new data now, for the health checks of stores kept in local
files: a lock or a read succeeds on a disk that is full or mounted read-only."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from ._errors import StoreError

PROBE_BYTES = 4096
"""What a probe writes: one block, which a full disk cannot find room for."""


class DiskProbe:
    """Checks that *directory* takes a new file: one of `PROBE_BYTES` bytes, named *prefix*
    and a random suffix, is written, synced and removed. A success is trusted for *interval*
    seconds, so that health checks however frequent write at most once an interval; a failure
    is never trusted, and the next check writes again. Probe files an hour old (left by a
    process killed mid-probe) are removed when the probe is made."""

    def __init__(self, directory: str | Path, prefix: str, interval: float = 1.0) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.interval = interval
        self._passed_at: float | None = None
        self._lock = threading.Lock()
        horizon = time.time() - 3600
        for path in self.directory.glob(f"{prefix}*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < horizon:
                    path.unlink()

    def check(self) -> None:
        """Raise `StoreError` unless the directory takes a new block now (or did less than
        *interval* seconds ago)."""
        with self._lock:
            now = time.monotonic()
            if self._passed_at is not None and now - self._passed_at < self.interval:
                return
            self._passed_at = None
            path = self.directory / f"{self.prefix}{os.urandom(6).hex()}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, bytes(PROBE_BYTES))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            except OSError as exc:
                raise StoreError(f"{self.directory} does not take new data: {exc}") from exc
            self._passed_at = now
