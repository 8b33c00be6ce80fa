"""Idempotency keys reach the store only as a keyed hash: a client that uses an email address
as its key leaves no address in the store, and retries still find their task."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from deletion_requests_sqlite import open_sqlite_store

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    DeletionTask,
    ManualClock,
    MemoryStore,
    Store,
)
from deletion_requests._identifiers import IDEMPOTENCY_SECRET_SETTING, idempotency_digest

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
ADDRESS = "person@example.com"


class RecordingStore(MemoryStore):
    """A memory store that remembers every idempotency key it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[str, str]] = []

    def add(self, task: DeletionTask, idempotency_key: tuple[str, str] | None = None) -> None:
        if idempotency_key is not None:
            self.keys.append(idempotency_key)
        super().add(task, idempotency_key)

    def find_by_idempotency_key(self, scope: str, key: str) -> DeletionTask | None:
        self.keys.append((scope, key))
        return super().find_by_idempotency_key(scope, key)


def service_on(store: Store) -> tuple[DeletionService, AccessAdmin]:
    clock = ManualClock(T0)
    admin = AccessAdmin(store, clock)
    admin.allow_account("acct-a")
    return DeletionService(store, clock), admin


def test_the_store_never_sees_the_raw_key() -> None:
    store = RecordingStore()
    service, admin = service_on(store)
    app, secret = admin.create_app(["acct-a"])
    caller = service.authenticate(app.app_id, secret)
    first = service.create(caller, "acct-a", raw_emails=[ADDRESS], idempotency_key=ADDRESS)
    again = service.create(caller, "acct-a", raw_emails=[ADDRESS], idempotency_key=ADDRESS)
    assert again.task_id == first.task_id
    assert store.keys
    for scope, key in store.keys:
        assert scope == app.app_id
        assert ADDRESS not in key
        assert key == idempotency_digest(store, app.app_id, ADDRESS)


def test_a_digest_is_keyed_by_the_stores_secret_and_scoped_to_the_app() -> None:
    one, other = MemoryStore(), MemoryStore()
    digest = idempotency_digest(one, "app_a", ADDRESS)
    assert digest == idempotency_digest(one, "app_a", ADDRESS)
    assert digest != idempotency_digest(other, "app_a", ADDRESS)
    assert digest != idempotency_digest(one, "app_b", ADDRESS)
    # ("app_a", "b:c") and ("app_a:b", "c") are different keys, so different digests.
    assert idempotency_digest(one, "app_a", "b:c") != idempotency_digest(one, "app_a:b", "c")
    assert one.setting(IDEMPOTENCY_SECRET_SETTING, lambda: "unused") not in digest


def test_retries_find_their_task_after_a_restart_on_the_same_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tasks.db"
    store = open_sqlite_store(url)
    service, admin = service_on(store)
    app, secret = admin.create_app(["acct-a"])
    caller = service.authenticate(app.app_id, secret)
    first = service.create(caller, "acct-a", raw_emails=[ADDRESS], idempotency_key=ADDRESS)
    store.close()
    reopened = open_sqlite_store(url)
    service = DeletionService(reopened, ManualClock(T0))
    caller = service.authenticate(app.app_id, secret)
    again = service.create(caller, "acct-a", raw_emails=[ADDRESS], idempotency_key=ADDRESS)
    assert again.task_id == first.task_id
    reopened.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert ADDRESS.encode() not in stored
