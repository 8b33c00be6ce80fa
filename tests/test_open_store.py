from __future__ import annotations

import pytest

from deletion_requests import UnknownStore, open_store
from deletion_requests._open import _PACKAGES
from deletion_requests.testing import open_together


def test_unknown_scheme_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_PACKAGES, "nosuchdb", "deletion-requests-nosuchdb")
    with pytest.raises(UnknownStore, match="install deletion-requests-nosuchdb"):
        open_store("nosuchdb://x")


def test_unknown_scheme_lists_what_is_installed() -> None:
    with pytest.raises(UnknownStore, match=r"no store adapter for ftp://.*installed: .*memory"):
        open_store("ftp://example/x")


def test_url_without_scheme_suggests_one() -> None:
    with pytest.raises(UnknownStore, match="sqlite:///"):
        open_store("deletion-requests.db")


def test_open_together_opens_every_store_and_raises_what_an_open_met() -> None:
    open_together("memory://", 4)
    with pytest.raises(UnknownStore, match="ftp://"):
        open_together("ftp://example/x", 4)
