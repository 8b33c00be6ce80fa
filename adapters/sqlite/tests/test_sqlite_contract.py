"""SqliteStore passes every contract suite of deletion_requests.testing, and agrees with the
in-memory store on any sequence of operations."""

from __future__ import annotations

from pathlib import Path

from deletion_requests_sqlite import SqliteStore

from deletion_requests import (
    Store,
)
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


class SqliteStores:
    """The factory every contract case below runs on: a new, empty store."""

    persistent = True

    def create_store(self, directory: Path) -> SqliteStore:
        return SqliteStore(directory / "tasks.db")


class TestSqliteTaskRecords(SqliteStores, TaskRecordsContract):
    pass


class TestSqliteOutbox(SqliteStores, OutboxContract):
    pass


class TestSqliteReports(SqliteStores, ReportsContract):
    pass


class TestSqliteAccessRecords(SqliteStores, AccessRecordsContract):
    pass


class TestSqliteOperatorRecords(SqliteStores, OperatorRecordsContract):
    pass


class TestSqliteServerSettings(SqliteStores, ServerSettingsContract):
    pass


class TestSqliteBackgroundLease(SqliteStores, BackgroundLeaseContract):
    pass


class TestSqliteStore(SqliteStores, StoreContract):
    pass


class SqliteComparison(StoreComparison):
    def create_store(self, directory: Path) -> Store:
        return SqliteStore(directory / "tasks.db", synchronous="NORMAL")


TestSqliteAgreesWithMemory = SqliteComparison.TestCase
