from __future__ import annotations

from pathlib import Path

from deletion_requests import MemoryStore, Store, open_store
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
)


class MemoryStores:
    """The factory every contract case below runs on: a new, empty store."""

    def create_store(self, directory: Path) -> MemoryStore:
        return MemoryStore()


class TestMemoryTaskRecords(MemoryStores, TaskRecordsContract):
    pass


class TestMemoryOutbox(MemoryStores, OutboxContract):
    pass


class TestMemoryReports(MemoryStores, ReportsContract):
    pass


class TestMemoryAccessRecords(MemoryStores, AccessRecordsContract):
    pass


class TestMemoryOperatorRecords(MemoryStores, OperatorRecordsContract):
    pass


class TestMemoryServerSettings(MemoryStores, ServerSettingsContract):
    pass


class TestMemoryBackgroundLease(MemoryStores, BackgroundLeaseContract):
    pass


class TestMemoryStore(MemoryStores, StoreContract):
    pass


class MemoryComparison(StoreComparison):
    def create_store(self, directory: Path) -> Store:
        return MemoryStore()


TestMemoryAgreesWithReference = MemoryComparison.TestCase


def test_memory_url_opens_a_fresh_memory_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    assert open_store("memory://") is not store
