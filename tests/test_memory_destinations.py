from __future__ import annotations

from pathlib import Path

from deletion_requests import MemoryStore
from deletion_requests.testing import DestinationsContract


class TestMemoryDestinations(DestinationsContract):
    def create_store(self, directory: Path) -> MemoryStore:
        return MemoryStore()
