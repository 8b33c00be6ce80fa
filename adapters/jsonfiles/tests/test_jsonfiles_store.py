from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from deletion_requests_jsonfiles import FORMAT_VERSION, JsonFilesStore

from deletion_requests import AccessAdmin, Store, StoreError, open_store
from deletion_requests.stores import TaskQuery
from deletion_requests.testing import (
    AccessRecordsContract,
    BackgroundLeaseContract,
    OperatorRecordsContract,
    OutboxContract,
    ReportsContract,
    ServerSettingsContract,
    StoreComparison,
    StoreContract,
    TaskRecordsContract,
    crash_drill,
    make_task,
    open_together,
    race_drill,
)


class JsonFilesStores:
    """The factory every contract case below runs on: a new, empty store."""

    persistent = True

    def create_store(self, directory: Path) -> JsonFilesStore:
        return JsonFilesStore(directory / "store")


class TestJsonFilesTaskRecords(JsonFilesStores, TaskRecordsContract):
    pass


class TestJsonFilesOutbox(JsonFilesStores, OutboxContract):
    pass


class TestJsonFilesReports(JsonFilesStores, ReportsContract):
    pass


class TestJsonFilesAccessRecords(JsonFilesStores, AccessRecordsContract):
    pass


class TestJsonFilesOperatorRecords(JsonFilesStores, OperatorRecordsContract):
    pass


class TestJsonFilesServerSettings(JsonFilesStores, ServerSettingsContract):
    pass


class TestJsonFilesBackgroundLease(JsonFilesStores, BackgroundLeaseContract):
    pass


class TestJsonFilesStore(JsonFilesStores, StoreContract):
    pass


class JsonFilesComparison(StoreComparison):
    def create_store(self, directory: Path) -> Store:
        return JsonFilesStore(directory / "store")


TestJsonFilesAgreeWithMemory = JsonFilesComparison.TestCase


def test_url_opens_relative_and_absolute_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("jsonfiles:///rel") as store:
        assert isinstance(store, JsonFilesStore)
    assert (tmp_path / "rel" / "store.json").exists()
    with open_store(f"jsonfiles:///{tmp_path}/abs") as store:
        assert isinstance(store, JsonFilesStore)
    assert (tmp_path / "abs" / "tasks").is_dir()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="not a jsonfiles URL"):
        open_store("jsonfiles://host/dir")


def test_one_readable_document_per_task(tmp_path: Path) -> None:
    store = JsonFilesStore(tmp_path)
    task = make_task()
    store.add(task)
    document = json.loads((tmp_path / "tasks" / f"{task.task_id}.json").read_text())
    assert document["task_id"] == task.task_id
    assert document["status"] == "pending"
    assert not list((tmp_path / "tasks").glob(".tmp-*"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: "", "is not valid JSON"),
        (lambda text: text.replace('"pending"', '"exploded"'), "is not a valid task"),
        (lambda text: '{"task_id": 3}', "is not a valid task"),
    ],
)
def test_a_damaged_task_file_is_reported_by_name(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    store = JsonFilesStore(tmp_path)
    good, bad = make_task(), make_task()
    store.add(good)
    store.add(bad)
    path = tmp_path / "tasks" / f"{bad.task_id}.json"
    path.write_text(damage(path.read_text()))
    with pytest.raises(StoreError, match=message) as raised:
        store.get(bad.task_id)
    assert str(path) in str(raised.value)
    with pytest.raises(StoreError, match=bad.task_id):
        store.list_tasks(TaskQuery(accounts=frozenset({"acct-1"})))
    assert store.get(good.task_id) == good


def test_a_task_file_under_the_wrong_name_is_reported(tmp_path: Path) -> None:
    store = JsonFilesStore(tmp_path)
    task = make_task()
    store.add(task)
    (tmp_path / "tasks" / f"{task.task_id}.json").rename(tmp_path / "tasks" / "other.json")
    with pytest.raises(StoreError, match=r"other\.json holds task"):
        store.list_tasks(TaskQuery(accounts=frozenset({"acct-1"})))


def test_a_damaged_app_file_is_reported(tmp_path: Path) -> None:
    store = JsonFilesStore(tmp_path)
    from deletion_requests import AccessAdmin

    AccessAdmin(store).allow_account("acct-1")
    app, _ = AccessAdmin(store).create_app(["acct-1"])
    (path,) = (tmp_path / "apps").glob("*.json")
    path.write_text('{"app_id": "x"}')
    with pytest.raises(StoreError, match="is not a valid app"):
        store.get_app(app.app_id)


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    JsonFilesStore(tmp_path).close()
    marker = tmp_path / "store.json"
    marker.write_text(
        json.dumps({"format": "deletion-requests-jsonfiles", "version": FORMAT_VERSION + 1})
    )
    with pytest.raises(StoreError, match="newer deletion-requests-jsonfiles"):
        JsonFilesStore(tmp_path)


def test_leftover_temporaries_are_ignored(tmp_path: Path) -> None:
    store = JsonFilesStore(tmp_path)
    task = make_task()
    store.add(task)
    (tmp_path / "tasks" / ".tmp-abandoned").write_text('{"half": ')
    assert store.list_tasks(TaskQuery(accounts=frozenset({"acct-1"}))) == [task]


def test_stores_opened_together_write_one_valid_marker(tmp_path: Path) -> None:
    open_together(f"jsonfiles:///{tmp_path}/store", 8)
    marker = json.loads((tmp_path / "store" / "store.json").read_text())
    assert marker == {"format": "deletion-requests-jsonfiles", "version": FORMAT_VERSION}


def test_survives_sigkill_of_a_writer(tmp_path: Path) -> None:
    acknowledged = crash_drill(f"jsonfiles:///{tmp_path}/crash", rounds=12, seed=2)
    assert acknowledged > 12


def test_cancel_and_advance_race_across_processes(tmp_path: Path) -> None:
    race_drill(f"jsonfiles:///{tmp_path}/race", tasks=100)


def test_files_that_hold_secrets_are_private(tmp_path: Path) -> None:
    """Directories 0700 and files 0600, whatever the umask: the store holds the token signing
    key and the apps' secret digests."""
    previous = os.umask(0o022)
    try:
        with JsonFilesStore(tmp_path / "store") as store:
            AccessAdmin(store).allow_account("acct-1")
            AccessAdmin(store).create_app(["acct-1"])
            store.setting("signing-key", lambda: "k" * 48)
    finally:
        os.umask(previous)
    for path in (tmp_path / "store").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
