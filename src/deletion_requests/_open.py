from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, cast
from urllib.parse import urlsplit, urlunsplit

from ._ports import Store

ENTRY_POINT_GROUP = "deletion_requests.stores"

_PACKAGES = {
    "sqlite": "deletion-requests-sqlite",
    "jsonfiles": "deletion-requests-jsonfiles",
    "postgresql": "deletion-requests-postgres",
    "postgres": "deletion-requests-postgres",
}


class StoreOpener(Protocol):
    """An adapter's opener. With `create=False` it opens only a store that exists, and raises
    `StoreError` ("no store at ...") rather than create one."""

    def __call__(self, url: str, create: bool = True) -> Store: ...


class UnknownStore(ValueError):
    """No installed adapter serves the URL's scheme."""


def open_store(url: str, create: bool = True) -> Store:
    """Open the store a URL names, through the adapter registered for its scheme; with
    `create=False`, only one that exists (`StoreError` otherwise: read-only commands use it,
    so that a mistyped URL is an error, not a new empty store).

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
    return opener(url) if create else opener(url, create=False)


def redacted_url(url: str) -> str:
    """*url* with its password, if any, replaced by `***`: for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
