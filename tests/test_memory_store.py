from __future__ import annotations

from pathlib import Path

from deletion_requests import MemoryStore, Store, open_store
from deletion_requests.testing import StoreComparison, StoreContract


class TestMemoryStore(StoreContract):
    def create_store(self, directory: Path) -> Store:
        return MemoryStore()


class MemoryComparison(StoreComparison):
    def create_store(self, directory: Path) -> Store:
        return MemoryStore()


TestMemoryAgreesWithReference = MemoryComparison.TestCase


def test_memory_url_opens_a_fresh_memory_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    assert open_store("memory://") is not store
