"""The file layer every part of the JSON-files store shares: the directory layout, the `flock`
around each read-modify-write, atomic, durable writes and removals, and the journal that makes a
change of several documents all or nothing."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from cattrs.errors import BaseValidationError

from deletion_requests import DeletionTask, StoreError

FORMAT = "deletion-requests-jsonfiles"
FORMAT_VERSION = 1
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600
JOURNAL = "journal.json"
"""The change of several documents being applied, in the store's root: while it exists, the
next holder of the lock applies it again (each entry a whole document, so again is safe)."""
BAD_RECORD = (ValueError, TypeError, KeyError, AttributeError, BaseValidationError)
"""What decoding a document of the wrong shape raises: a `StoreError` naming the file."""


def digest(text: str) -> str:
    """The file name stem for a record keyed by *text*: any text names a plain file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JsonFiles:
    """A store directory: one subdirectory a kind of record, a marker naming the format, and the
    `.lock` writers share.

    Opening makes what is missing (mode 0700), durably, refuses a directory of another format
    or a newer version, and removes temporaries a killed writer left."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._dirs = {name: self.root / name for name in ("tasks", "keys", "accounts", "apps")}
        for name in ("settings", "operators", "app_uses", "leases", "callbacks", "destinations"):
            self._dirs[name] = self.root / name
        self._dirs["jobs"] = self.root / "jobs"
        self._thread_lock = threading.RLock()
        self._cache: dict[str, tuple[tuple[int, int, int], DeletionTask]] = {}
        # The documents a change of several writes so far (`None`: removed), and the thread
        # writing them; the journal is not finished before the format is checked.
        self._staged: dict[Path, Any] | None = None
        self._staged_by = 0
        self._opened = False
        self._journal = self.root / JOURNAL
        try:
            # Private, like every file in it (written by `mkstemp`, mode 0600): the store holds
            # the token signing key and the apps' secret digests.
            # A new directory's entry is durable once its parent is synced: without that, a
            # power cut can take the whole store, whose files were each synced.
            made = [path for path in (*reversed(self.root.parents), self.root) if not path.exists()]
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for directory in self._dirs.values():
                if not directory.exists():
                    made.append(directory)
                    # Another process opening the store at the same moment may make it first.
                    directory.mkdir(mode=0o700, exist_ok=True)
            for parent in dict.fromkeys(path.parent for path in made):
                sync_directory(parent)
            self._lock_fd: int | None = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"jsonfiles store {self.root}: cannot open: {exc}") from exc
        with self._locked():
            self._check_format()
            self._opened = True
            self._finish_journal()
            self._remove_stale_temporaries()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the writers' lock, having first finished a change a crashed writer left."""
        with self._thread_lock:
            if self._lock_fd is None:
                raise StoreError(f"jsonfiles store {self.root} is closed")
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise StoreError(f"jsonfiles store {self.root}: cannot lock: {exc}") from exc
            try:
                if self._opened and os.access(self._journal, os.F_OK):
                    self._finish_journal()
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """Inside `_locked`: the documents the block writes and removes are held back (the
        block reads them back as written) and land when it returns, all of them or none, even
        across a crash or a power cut. More than one goes through the journal: it is written
        durably, then each document, then the journal is removed. A block that raises
        writes nothing."""
        staged: dict[Path, Any] = {}
        self._staged, self._staged_by = staged, threading.get_ident()
        try:
            yield
        finally:
            self._staged = None
        if len(staged) > 1:
            journal = [[str(path.relative_to(self.root)), doc] for path, doc in staged.items()]
            self._write(self._journal, {"writes": journal})
        self._apply(staged)
        if len(staged) > 1:
            self._delete(self._journal)

    def _apply(self, documents: dict[Path, Any]) -> None:
        for path, document in documents.items():
            if document is None:
                self._delete(path)
            else:
                self._write(path, document)

    def _finish_journal(self) -> None:
        """Apply again, then remove, the journal of a change that did not finish."""
        path = self._journal
        found = self._read(path)
        if found is None:
            return
        try:
            documents = {self.root / name: document for name, document in found["writes"]}
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid journal: {exc}") from exc
        if any(p.parent not in self._dirs.values() for p in documents):
            raise StoreError(f"jsonfiles store: {path} names a file outside the store's folders")
        self._apply(documents)
        self._delete(path)

    def _write(self, path: Path, document: Any) -> None:
        """Replace *path* with *document*, atomically and durably: a temporary file in the same
        directory, `fsync`, `os.replace`, then `fsync` of the directory."""
        if self._staged is not None:
            self._staged[path] = document
            return
        data = orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE)
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            sync_directory(path.parent)
        except OSError as exc:
            raise StoreError(f"jsonfiles store: cannot write {path}: {exc}") from exc

    def _read(self, path: Path) -> Any | None:
        if (
            self._staged is not None
            and path in self._staged
            and self._staged_by == threading.get_ident()
        ):
            return self._staged[path]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"jsonfiles store: cannot read {path}: {exc}") from exc
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StoreError(
                f"jsonfiles store: {path} is not valid JSON (truncated or edited by hand?): {exc}"
            ) from exc

    def _delete(self, path: Path) -> bool:
        """Remove *path*, durably: its directory is synced, so a power cut cannot bring it back
        (a removed account or operator returning)."""
        if self._staged is not None:
            existed = self._read(path) is not None
            self._staged[path] = None
            return existed
        try:
            path.unlink()
            sync_directory(path.parent)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"jsonfiles store: cannot delete {path}: {exc}") from exc
        return True

    def _check_format(self) -> None:
        marker = self.root / "store.json"
        found = self._read(marker)
        if found is None:
            self._write(marker, {"format": FORMAT, "version": FORMAT_VERSION})
            return
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise StoreError(f"{marker} does not describe a {FORMAT} directory")
        version = found.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StoreError(
                f"{self.root} was written by a newer deletion-requests-jsonfiles (format "
                f"{version}; this one knows up to {FORMAT_VERSION}): upgrade the package"
            )

    def _remove_stale_temporaries(self) -> None:
        """Temporaries left by a writer killed mid-write; recent ones may belong to a live one."""
        horizon = time.time() - _STALE_TMP_SECONDS
        for directory in (self.root, *self._dirs.values()):
            for path in directory.glob(_TMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < horizon:
                        path.unlink()

    def close(self) -> None:
        with self._thread_lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            self._cache.clear()


def sync_directory(directory: Path) -> None:
    """`fsync` a directory, making the entries created, renamed or removed in it durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
