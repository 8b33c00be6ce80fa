"""The contract case of `BackgroundLease`: one holder at a time, kept until released."""

from __future__ import annotations

from pathlib import Path

import pytest

from deletion_requests._ports import Store

from ._case import PortContract


class BackgroundLeaseContract(PortContract[Store]):
    """Hook: `create_store(directory) -> Store`. Stores that keep data across `close()` set
    `persistent = True`: two stores made on one *directory* then share a backend, and the case
    checks that they never hold the lease together."""

    persistent = False

    def test_a_holder_that_asks_again_keeps_the_lease(self, store: Store) -> None:
        assert store.take_lease()
        assert store.take_lease()
        store.release_lease()

    def test_releasing_a_lease_not_held_changes_nothing(self, store: Store) -> None:
        store.release_lease()
        assert store.take_lease()

    def test_one_holder_at_a_time_until_it_releases(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("this store has no backend that a second store object can share")
        first = self.create_store(tmp_path)
        second = self.create_store(tmp_path)
        try:
            assert first.take_lease()
            assert not second.take_lease()
            first.release_lease()
            assert second.take_lease()
            assert not first.take_lease()
        finally:
            self.close_store(second)
            self.close_store(first)

    def test_closing_the_holder_frees_the_lease(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("this store has no backend that a second store object can share")
        first = self.create_store(tmp_path)
        second = self.create_store(tmp_path)
        try:
            assert first.take_lease()
            self.close_store(first)
            assert second.take_lease()
        finally:
            self.close_store(second)
