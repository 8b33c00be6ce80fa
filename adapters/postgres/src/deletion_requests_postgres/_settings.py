"""Server settings: the `settings` table, one row a setting."""

from __future__ import annotations

from collections.abc import Callable

from deletion_requests.stores import ServerSettings

from ._connection import PostgresConnection


class SettingsTable(PostgresConnection, ServerSettings):
    """`ServerSettings` over the connection layer: the first `setting` of a name inserts its
    default unless a row is there, so every server reads the one value written."""

    def setting(self, name: str, default: Callable[[], str]) -> str:
        with self._write("setting") as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (name, default()),
            )
            row = conn.execute("SELECT value FROM settings WHERE name = %s", (name,)).fetchone()
        assert row is not None
        return str(row[0])

    def put_setting(self, name: str, value: str) -> None:
        with self._write("put_setting") as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (name, value),
            )
