"""SQLite store for deletion-requests. Open it with `open_store("sqlite:///path/to/file.db")`."""

from ._schema import SCHEMA_VERSION
from ._store import SqliteStore, open_sqlite_store

__all__ = ["SCHEMA_VERSION", "SqliteStore", "open_sqlite_store"]
