"""Task records: one JSON document a task in `tasks/`, idempotency keys in `keys/`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deletion_requests import DeletionTask, Status, StoreError
from deletion_requests.stores import (
    DuplicateTask,
    IdempotencyKeyConflict,
    TaskQuery,
    TaskRecords,
    replaces,
    task_from_record,
    task_to_record,
)

from ._files import BAD_RECORD, JsonFiles, digest


class TaskFiles(JsonFiles, TaskRecords):
    """`TaskRecords` over the file layer; every listing is a scan of `tasks/`."""

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
        except BAD_RECORD as exc:
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
        return self._dirs["keys"] / f"{digest(scope + chr(0) + key)}.json"

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
        with self._locked():
            return self._update_locked(tasks)

    def _update_locked(self, tasks: Sequence[DeletionTask]) -> frozenset[str]:
        """`update`, for a caller that holds the lock."""
        rejected: set[str] = set()
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
