"""Operator records: the `operators` table."""

from __future__ import annotations

from psycopg import errors

from deletion_requests import StoreError
from deletion_requests.stores import Operator, OperatorRecords

from ._connection import PostgresConnection


class OperatorTables(PostgresConnection, OperatorRecords):
    """`OperatorRecords` over the connection layer."""

    def add_operator(self, operator: Operator) -> None:
        with self._write("add_operator") as conn:
            try:
                conn.execute(
                    "INSERT INTO operators (name, password_hash, created_time) VALUES (%s, %s, %s)",
                    (operator.name, operator.password_hash, operator.created_time),
                )
            except errors.UniqueViolation:
                raise StoreError(f"operator {operator.name} already exists") from None

    def _operators(self, where: str, args: tuple[str, ...]) -> list[Operator]:
        rows = self._read(
            "operators",
            lambda conn: conn.execute(
                "SELECT name, password_hash, created_time FROM operators "  # noqa: S608
                f"{where} ORDER BY name",
                args,
            ).fetchall(),
            single=True,
        )
        return [Operator(name, hashed, created) for name, hashed, created in rows]

    def get_operator(self, name: str) -> Operator | None:
        found = self._operators("WHERE name = %s", (name,))
        return found[0] if found else None

    def list_operators(self) -> list[Operator]:
        return self._operators("", ())

    def remove_operator(self, name: str) -> bool:
        with self._write("remove_operator") as conn:
            return conn.execute("DELETE FROM operators WHERE name = %s", (name,)).rowcount == 1
