from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from cattrs.errors import BaseValidationError

from deletion_requests import (
    Account,
    App,
    Awaiting,
    Backlog,
    Callback,
    DayCount,
    DeletionTask,
    DuplicateTask,
    IdempotencyKeyConflict,
    Operator,
    Status,
    Store,
    StoreError,
    TaskQuery,
    backlog_of,
    day_counts,
    replaces,
    status_counts,
    task_from_record,
    task_to_record,
)

FORMAT = "deletion-requests-jsonfiles"
FORMAT_VERSION = 1
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600
_BAD_RECORD = (ValueError, TypeError, KeyError, AttributeError, BaseValidationError)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JsonFilesStore(Store):
    """Tasks, accounts and apps as JSON documents in a directory: one file per task.

    - Every write is atomic and durable: a temporary file in the same directory, `fsync`,
      `os.replace`, then `fsync` of the directory. A reader sees the old document or the new one.
    - Writers in several processes (and threads) take an exclusive `fcntl.flock` on `.lock`
      around each read-modify-write, so compare-and-set holds across processes. Readers take no
      lock.
    - A document that is truncated or not valid JSON is a `StoreError` naming the file; it is
      never skipped.
    - Listing and `due` read the whole `tasks/` directory (unchanged files are served from an
      in-process cache keyed by inode, size and mtime): the right choice up to about ten
      thousand tasks; see docs/storage.md.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._dirs = {name: self.root / name for name in ("tasks", "keys", "accounts", "apps")}
        for name in ("settings", "operators", "app_uses", "leases", "callbacks"):
            self._dirs[name] = self.root / name
        self._thread_lock = threading.RLock()
        self._cache: dict[str, tuple[tuple[int, int, int], DeletionTask]] = {}
        try:
            # Private, like every file in it (written by `mkstemp`, mode 0600): the store holds
            # the token signing key and the apps' secret digests.
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for directory in self._dirs.values():
                directory.mkdir(mode=0o700, exist_ok=True)
            self._lock_fd: int | None = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"jsonfiles store {self.root}: cannot open: {exc}") from exc
        with self._locked():
            self._check_format()
            self._remove_stale_temporaries()

    # -- files ---------------------------------------------------------------------------------

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
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
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
        try:
            path.unlink()
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

    # -- tasks ---------------------------------------------------------------------------------

    @staticmethod
    def _usable(task_id: str) -> bool:
        """Whether *task_id* can name a file in `tasks/` (no path, not hidden)."""
        return "/" not in task_id and not task_id.startswith(".")

    def _task_path(self, task_id: str) -> Path:
        if not self._usable(task_id):
            raise StoreError(f"jsonfiles store: {task_id!r} is not a usable task id")
        return self._dirs["tasks"] / f"{task_id}.json"

    def _task_from(self, path: Path, document: Any) -> DeletionTask:
        try:
            task = task_from_record(document)
        except _BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid task: {exc}") from exc
        if path.name != f"{task.task_id}.json":
            raise StoreError(f"jsonfiles store: {path} holds task {task.task_id}")
        return task

    def _load(self, path: Path) -> DeletionTask | None:
        document = self._read(path)
        return None if document is None else self._task_from(path, document)

    def _scan(self) -> Iterator[DeletionTask]:
        """Every stored task; unchanged files come from the cache."""
        seen: set[str] = set()
        try:
            entries = list(os.scandir(self._dirs["tasks"]))
        except OSError as exc:
            raise StoreError(f"jsonfiles store {self.root}: cannot list tasks: {exc}") from exc
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            seen.add(entry.name)
            cached = self._cache.get(entry.name)
            if cached is not None and cached[0] == stamp:
                yield cached[1]
                continue
            task = self._load(Path(entry.path))
            if task is not None:
                self._cache[entry.name] = (stamp, task)
                yield task
        for name in set(self._cache) - seen:
            del self._cache[name]

    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        path = self._task_path(task.task_id)
        with self._locked():
            if path.exists():
                raise DuplicateTask(f"task {task.task_id} already exists")
            key_path = None
            if idempotency_key is not None:
                key_path = self._key_path(*idempotency_key)
                bound = self._bound_task(key_path)
                if bound is not None:
                    raise IdempotencyKeyConflict(bound)
                # The key first, then the task: a key whose task is missing is unbound (its add
                # never returned), so a crash between the two writes leaves nothing half-done.
                scope, key = idempotency_key
                self._write(key_path, {"scope": scope, "key": key, "task_id": task.task_id})
            self._write(path, task_to_record(task))

    def _key_path(self, scope: str, key: str) -> Path:
        return self._dirs["keys"] / f"{_digest(scope + chr(0) + key)}.json"

    def _bound_task(self, key_path: Path) -> str | None:
        document = self._read(key_path)
        if document is None:
            return None
        if not isinstance(document, dict) or not isinstance(document.get("task_id"), str):
            raise StoreError(f"jsonfiles store: {key_path} is not a valid idempotency key")
        task_id: str = document["task_id"]
        return task_id if self._task_path(task_id).exists() else None

    def get(self, task_id: str) -> DeletionTask | None:
        if not self._usable(task_id):
            return None
        return self._load(self._task_path(task_id))

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        task_id = self._bound_task(self._key_path(scope, key))
        return None if task_id is None else self.get(task_id)

    def find_by_identifier(self, identifier: str, limit: int) -> list[DeletionTask]:
        # No index: a scan of every task, as `list_tasks` does.
        with self._thread_lock:
            found = [task for task in self._scan() if identifier in task.identifiers]
        found.sort(key=lambda task: (task.creation_time, task.task_id))
        return found[:limit]

    def list_tasks(self, query: TaskQuery) -> list[DeletionTask]:
        with self._thread_lock:
            found = [task for task in self._scan() if query.matches(task)]
        found.sort(key=lambda t: (t.creation_time, t.task_id), reverse=not query.oldest_first)
        return found[: query.limit]

    def update(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        rejected: set[str] = set()
        with self._locked():
            for task in tasks:
                path = self._task_path(task.task_id)
                stored = self._load(path)
                if stored is None or not replaces(stored, task):
                    rejected.add(task.task_id)
                    continue
                record = task_to_record(task)
                record["identifiers"] = [] if task.purged_time else sorted(stored.identifiers)
                record["created_by"] = stored.created_by
                self._write(path, record)
        return frozenset(rejected)

    def due(
        self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime, limit: int
    ) -> list[DeletionTask]:
        cutoffs = {Status.PENDING: pending_cutoff, Status.READY: ready_cutoff}
        with self._thread_lock:
            found = [
                task
                for task in self._scan()
                if task.status in cutoffs
                and task.creation_time <= cutoffs[task.status]
                and (task.status is Status.PENDING or task.held_time is None)
            ]
        found.sort(key=lambda t: t.creation_time)
        return found[:limit]

    def awaiting(self, what: Awaiting, cutoff: dt.datetime, limit: int) -> list[DeletionTask]:
        with self._thread_lock:
            found = [task for task in self._scan() if what.matches(task, cutoff)]
        found.sort(key=lambda t: (t.creation_time, t.task_id))
        return found[:limit]

    def count_tasks(self, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime) -> dict[str, int]:
        with self._thread_lock:
            return status_counts(self._scan(), pending_cutoff, ready_cutoff)

    def daily_counts(self, since: dt.datetime) -> list[DayCount]:
        with self._thread_lock:
            return day_counts(list(self._scan()), since)

    def backlog(self, kind: str) -> Backlog:
        with self._thread_lock:
            return backlog_of(list(self._scan()), kind)

    def _lease_path(self, task_id: str, kind: str) -> Path:
        return self._dirs["leases"] / f"{_digest(task_id + chr(0) + kind)}.json"

    def claim(
        self,
        kind: str,
        task_ids: Sequence[str],
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> frozenset[str]:
        claimed = set()
        with self._locked():
            for task_id in task_ids:
                if not self._usable(task_id):
                    continue
                task = self._load(self._task_path(task_id))
                if task is None or kind not in task.outbox:
                    continue
                path = self._lease_path(task_id, kind)
                lease = self._read(path)
                if lease is not None and dt.datetime.fromisoformat(lease["until"]) > now:
                    continue
                self._write(path, {"holder": holder, "until": until.isoformat()})
                claimed.add(task_id)
        return frozenset(claimed)

    def release(self, kind: str, task_ids: Sequence[str], holder: str) -> None:
        with self._locked():
            for task_id in task_ids:
                path = self._lease_path(task_id, kind)
                lease = self._read(path)
                if lease is not None and lease.get("holder") == holder:
                    self._delete(path)

    # -- access --------------------------------------------------------------------------------

    def _account_path(self, account_id: str) -> Path:
        return self._dirs["accounts"] / f"{_digest(account_id)}.json"

    def _account(self, path: Path) -> Account | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return Account(
                document["account_id"], dt.datetime.fromisoformat(document["allowed_time"])
            )
        except _BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid account: {exc}") from exc

    def allow_account(self, account: Account) -> Account:
        path = self._account_path(account.account_id)
        with self._locked():
            existing = self._account(path)
            if existing is not None:
                return existing
            self._write(
                path,
                {
                    "account_id": account.account_id,
                    "allowed_time": account.allowed_time.isoformat(),
                },
            )
            return account

    def revoke_account(self, account_id: str) -> bool:
        with self._locked():
            return self._delete(self._account_path(account_id))

    def get_account(self, account_id: str) -> Account | None:
        return self._account(self._account_path(account_id))

    def list_accounts(self) -> list[Account]:
        found = [self._account(p) for p in sorted(self._dirs["accounts"].glob("[!.]*.json"))]
        return sorted((a for a in found if a is not None), key=lambda a: a.account_id)

    def _app_path(self, app_id: str) -> Path:
        return self._dirs["apps"] / f"{_digest(app_id)}.json"

    def _app(self, path: Path) -> App | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return App(
                app_id=document["app_id"],
                secret_digest=document["secret_digest"],
                accounts=frozenset(document["accounts"]),
                created_time=dt.datetime.fromisoformat(document["created_time"]),
                revoked=bool(document["revoked"]),
            )
        except _BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid app: {exc}") from exc

    def _write_app(self, app: App) -> None:
        self._write(
            self._app_path(app.app_id),
            {
                "app_id": app.app_id,
                "secret_digest": app.secret_digest,
                "accounts": sorted(app.accounts),
                "created_time": app.created_time.isoformat(),
                "revoked": app.revoked,
            },
        )

    def add_app(self, app: App) -> None:
        with self._locked():
            if self._app_path(app.app_id).exists():
                raise StoreError(f"app {app.app_id} already exists")
            self._write_app(app)

    def get_app(self, app_id: str) -> App | None:
        return self._app(self._app_path(app_id))

    def list_apps(self) -> list[App]:
        found = [self._app(p) for p in sorted(self._dirs["apps"].glob("[!.]*.json"))]
        return sorted((a for a in found if a is not None), key=lambda a: a.app_id)

    def revoke_app(self, app_id: str) -> bool:
        with self._locked():
            app = self._app(self._app_path(app_id))
            if app is None:
                return False
            self._write_app(
                App(app.app_id, app.secret_digest, app.accounts, app.created_time, True)
            )
            return True

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        path = self._dirs["app_uses"] / f"{_digest(app_id)}.json"
        with self._locked():
            last = self._app_use(path)
            if last is None or moment > last[1]:
                self._write(path, {"app_id": app_id, "last_used_time": moment.isoformat()})

    def _app_use(self, path: Path) -> tuple[str, dt.datetime] | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return document["app_id"], dt.datetime.fromisoformat(document["last_used_time"])
        except _BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid app use: {exc}") from exc

    def app_last_used(self) -> dict[str, dt.datetime]:
        found = [self._app_use(p) for p in self._dirs["app_uses"].glob("[!.]*.json")]
        return dict(use for use in found if use is not None)

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        path = self._dirs["callbacks"] / f"{_digest(app_id)}.json"
        with self._locked():
            if self._app(self._app_path(app_id)) is None:
                return False
            if callback is None:
                self._delete(path)
            else:
                self._write(
                    path,
                    {
                        "app_id": app_id,
                        "url": callback.url,
                        "secret": callback.secret,
                        "set_time": callback.set_time.isoformat(),
                    },
                )
            return True

    def callbacks(self) -> dict[str, Callback]:
        found = {}
        for path in self._dirs["callbacks"].glob("[!.]*.json"):
            document = self._read(path)
            if document is None:
                continue
            try:
                found[document["app_id"]] = Callback(
                    document["url"],
                    document["secret"],
                    dt.datetime.fromisoformat(document["set_time"]),
                )
            except _BAD_RECORD as exc:
                raise StoreError(f"jsonfiles store: {path} is not a valid callback: {exc}") from exc
        return found

    def _operator_path(self, name: str) -> Path:
        return self._dirs["operators"] / f"{_digest(name)}.json"

    def _operator(self, path: Path) -> Operator | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return Operator(
                document["name"],
                document["password_hash"],
                dt.datetime.fromisoformat(document["created_time"]),
            )
        except _BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid operator: {exc}") from exc

    def add_operator(self, operator: Operator) -> None:
        path = self._operator_path(operator.name)
        with self._locked():
            if path.exists():
                raise StoreError(f"operator {operator.name} already exists")
            self._write(
                path,
                {
                    "name": operator.name,
                    "password_hash": operator.password_hash,
                    "created_time": operator.created_time.isoformat(),
                },
            )

    def get_operator(self, name: str) -> Operator | None:
        return self._operator(self._operator_path(name))

    def list_operators(self) -> list[Operator]:
        found = [self._operator(p) for p in self._dirs["operators"].glob("[!.]*.json")]
        return sorted((o for o in found if o is not None), key=lambda o: o.name)

    def remove_operator(self, name: str) -> bool:
        with self._locked():
            return self._delete(self._operator_path(name))

    def setting(self, name: str, default: Callable[[], str]) -> str:
        path = self._dirs["settings"] / f"{_digest(name)}.json"
        document = self._read(path)
        if document is None:
            with self._locked():
                document = self._read(path)
                if document is None:
                    document = {"name": name, "value": default()}
                    self._write(path, document)
        if not isinstance(document, dict) or not isinstance(document.get("value"), str):
            raise StoreError(f"jsonfiles store: {path} is not a valid setting")
        value: str = document["value"]
        return value

    def put_setting(self, name: str, value: str) -> None:
        path = self._dirs["settings"] / f"{_digest(name)}.json"
        with self._locked():
            self._write(path, {"name": name, "value": value})


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
