"""PostgreSQL store for deletion-requests: `open_store("postgresql://user@host/db")`."""

from ._schema import SCHEMA_VERSION
from ._store import PostgresStore, open_postgres_store

__all__ = ["SCHEMA_VERSION", "PostgresStore", "open_postgres_store"]
