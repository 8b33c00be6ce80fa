"""The file layer every part of the JSON-files store shares: the directory layout, the `flock`
around each read-modify-write, and atomic, durable writes and removals."""

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
            self._remove_stale_temporaries()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self._lock_fd is None:
                raise StoreError(f"jsonfiles store {self.root} is closed")
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise StoreError(f"jsonfiles store {self.root}: cannot lock: {exc}") from exc
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _write(self, path: Path, document: Any) -> None:
        """Replace *path* with *document*, atomically and durably: a temporary file in the same
        directory, `fsync`, `os.replace`, then `fsync` of the directory."""
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
        for directory in self._dirs.values():
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
