from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, cast
from urllib.parse import urlsplit

from ._ports import Store

ENTRY_POINT_GROUP = "deletion_requests.stores"

_PACKAGES = {
    "sqlite": "deletion-requests-sqlite",
    "jsonfiles": "deletion-requests-jsonfiles",
    "postgresql": "deletion-requests-postgres",
    "postgres": "deletion-requests-postgres",
}


class StoreOpener(Protocol):
    def __call__(self, url: str) -> Store: ...


class UnknownStore(ValueError):
    """No installed adapter serves the URL's scheme."""


def open_store(url: str) -> Store:
    """Open the store a URL names, through the adapter registered for its scheme.

    `memory://`, `sqlite:///path/to/file.db`, `jsonfiles:///path/to/dir`,
    `postgresql://user@host/db`. Adapters register under the `deletion_requests.stores` entry
    point group, keyed by scheme.
    """
    scheme = urlsplit(url).scheme
    if not scheme:
        raise UnknownStore(f"store URL {url!r} has no scheme (try sqlite:///deletion-requests.db)")
    found = entry_points(group=ENTRY_POINT_GROUP, name=scheme)
    if not found:
        package = _PACKAGES.get(scheme)
        hint = f"; install {package}" if package else ""
        known = ", ".join(sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)))
        raise UnknownStore(
            f"no store adapter for {scheme}:// URLs{hint} (installed: {known or 'none'})"
        )
    opener = cast(StoreOpener, next(iter(found)).load())
    return opener(url)
