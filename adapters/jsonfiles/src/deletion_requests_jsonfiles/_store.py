"""`JsonFilesStore`, every port over one directory, and `open_jsonfiles_store` for its URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from deletion_requests import Store, StoreError
from deletion_requests.stores import DiskProbe, FileLease

from ._access import AccessFiles
from ._destinations import DestinationFiles
from ._operators import OperatorFiles
from ._outbox import OutboxFiles
from ._reports import ReportsFiles
from ._settings import SettingsFiles


class JsonFilesStore(
    OutboxFiles, ReportsFiles, AccessFiles, OperatorFiles, SettingsFiles, DestinationFiles, Store
):
    """Tasks, accounts and apps as JSON documents in a directory: one file per task.

    - Every write is atomic and durable: a temporary file in the same directory, `fsync`,
      `os.replace`, then `fsync` of the directory. A reader sees the old document or the new one.
    - A change of several documents (a task's jobs and the task; a removed destination and
      its jobs) is all or nothing across a crash: it is journalled first, and the next holder
      of the lock finishes a journal left behind. A reader taking no lock may see part of one
      being applied (the jobs before their task); see docs/storage.md.
    - Writers in several processes (and threads) take an exclusive `fcntl.flock` on `.lock`
      around each read-modify-write, so compare-and-set holds across processes. Readers take no
      lock.
    - A document that is truncated or not valid JSON is a `StoreError` naming the file; it is
      never skipped.
    - Listing and `due` read the whole `tasks/` directory (unchanged files are served from an
      in-process cache keyed by inode, size and mtime): the right choice up to about ten
      thousand tasks; see docs/storage.md.
    - The background lease is an `flock` of `.lease`, held by one store object at a time.
    - `check` writes a probe file (one block, synced, removed) at most once a second.
    """

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self._lease = FileLease(str(self.root / ".lease"))
        self._probe = DiskProbe(self.root, ".probe-")

    def check(self) -> None:
        """Take the writers' lock and let it go, then write a probe file in the directory
        (`DiskProbe`): fails while the directory is read-only or its disk full, and passes
        again, without a restart, once it takes new files."""
        with self._locked():
            pass
        try:
            self._probe.check()
        except StoreError as exc:
            raise StoreError(f"jsonfiles store {self.root}: check failed: {exc}") from exc

    def take_lease(self) -> bool:
        """Whether this store object holds the background lease (an flock of `.lease`),
        taking it when no other holder has it."""
        return self._lease.take()

    def release_lease(self) -> None:
        self._lease.release()

    def close(self) -> None:
        self._lease.release()
        super().close()


def open_jsonfiles_store(url: str, create: bool = True) -> JsonFilesStore:
    """`jsonfiles:///relative/dir` or `jsonfiles:////absolute/dir`, as for sqlite URLs. With
    `create=False`, the directory must hold a store."""
    parts = urlsplit(url)
    if parts.scheme != "jsonfiles" or parts.netloc or parts.query:
        raise StoreError(
            f"not a jsonfiles URL: {url!r} (use jsonfiles:///relative/dir or "
            "jsonfiles:////absolute/dir)"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise StoreError(f"jsonfiles URL {url!r} names no directory")
    if not create and not (Path(path) / "tasks").is_dir():
        raise StoreError(f"no store at {path} (no JSON-files store in that directory)")
    return JsonFilesStore(path)
