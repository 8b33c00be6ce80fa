"""Server settings: the `settings` table."""

from __future__ import annotations

from collections.abc import Callable

from deletion_requests.stores import ServerSettings

from ._db import SqliteDatabase


class SqliteSettings(SqliteDatabase, ServerSettings):
    """`ServerSettings` over the shared layer: the first `setting` of a name writes its default
    under the write lock, so every process reads the one value written."""

    def setting(self, name: str, default: Callable[[], str]) -> str:
        with self._read("setting") as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        with self._write("setting") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)", (name, default())
            )
            (value,) = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return str(value)

    def put_setting(self, name: str, value: str) -> None:
        with self._write("put_setting") as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
