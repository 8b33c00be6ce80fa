"""Operator records: the `operators` table."""

from __future__ import annotations

import sqlite3

from deletion_requests import StoreError
from deletion_requests.stores import Operator, OperatorRecords

from ._db import SqliteDatabase
from ._rows import from_us, to_us


class SqliteOperators(SqliteDatabase, OperatorRecords):
    """`OperatorRecords` over the shared layer."""

    def add_operator(self, operator: Operator) -> None:
        with self._write("add_operator") as conn:
            try:
                conn.execute(
                    "INSERT INTO operators (name, password_hash, created_us) VALUES (?, ?, ?)",
                    (operator.name, operator.password_hash, to_us(operator.created_time)),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"operator {operator.name} already exists") from None

    def _operators(self, where: str, args: tuple[str, ...]) -> list[Operator]:
        with self._read("operators") as conn:
            rows = conn.execute(
                "SELECT name, password_hash, created_us FROM operators "  # noqa: S608
                f"{where} ORDER BY name",
                args,
            ).fetchall()
        return [Operator(name, hashed, from_us(created)) for name, hashed, created in rows]

    def get_operator(self, name: str) -> Operator | None:
        found = self._operators("WHERE name = ?", (name,))
        return found[0] if found else None

    def list_operators(self) -> list[Operator]:
        return self._operators("", ())

    def remove_operator(self, name: str) -> bool:
        with self._write("remove_operator") as conn:
            return conn.execute("DELETE FROM operators WHERE name = ?", (name,)).rowcount == 1
