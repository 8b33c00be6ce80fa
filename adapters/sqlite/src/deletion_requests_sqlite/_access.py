"""Access records: accounts, apps with their granted accounts, when each app was last used, and
apps' callbacks, with the access version every access write moves on."""

from __future__ import annotations

import datetime as dt
import sqlite3

from deletion_requests import StoreError
from deletion_requests.stores import AccessRecords, Account, App, Callback, apps_from_grants

from ._db import SqliteDatabase
from ._rows import from_us, to_us


class SqliteAccess(SqliteDatabase, AccessRecords):
    """`AccessRecords` over the shared layer."""

    @staticmethod
    def _bump_access_version(conn: sqlite3.Connection) -> None:
        """In the transaction of every access write, so readers in any process see it."""
        conn.execute(
            "INSERT INTO settings (name, value) VALUES ('access_version', '1') "
            "ON CONFLICT (name) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def access_version(self) -> int:
        with self._translated("access_version"):
            row = (
                self._connection()
                .execute("SELECT value FROM settings WHERE name = 'access_version'")
                .fetchone()
            )
        return 0 if row is None else int(row[0])

    def allow_account(self, account: Account) -> Account:
        with self._write("allow_account") as conn:
            self._bump_access_version(conn)
            conn.execute(
                "INSERT OR IGNORE INTO accounts (account_id, allowed_us) VALUES (?, ?)",
                (account.account_id, to_us(account.allowed_time)),
            )
            (allowed,) = conn.execute(
                "SELECT allowed_us FROM accounts WHERE account_id = ?", (account.account_id,)
            ).fetchone()
        return Account(account.account_id, from_us(allowed))

    def revoke_account(self, account_id: str) -> bool:
        with self._write("revoke_account") as conn:
            self._bump_access_version(conn)
            return (
                conn.execute("DELETE FROM accounts WHERE account_id = ?", (account_id,)).rowcount
                == 1
            )

    def get_account(self, account_id: str) -> Account | None:
        with self._translated("get_account"):
            row = (
                self._connection()
                .execute(
                    "SELECT account_id, allowed_us FROM accounts WHERE account_id = ?",
                    (account_id,),
                )
                .fetchone()
            )
        return None if row is None else Account(row[0], from_us(row[1]))

    def list_accounts(self) -> list[Account]:
        with self._read("list_accounts") as conn:
            rows = conn.execute(
                "SELECT account_id, allowed_us FROM accounts ORDER BY account_id"
            ).fetchall()
        return [Account(account_id, from_us(allowed)) for account_id, allowed in rows]

    def add_app(self, app: App) -> None:
        with self._write("add_app") as conn:
            self._bump_access_version(conn)
            if conn.execute("SELECT 1 FROM apps WHERE app_id = ?", (app.app_id,)).fetchone():
                raise StoreError(f"app {app.app_id} already exists")
            conn.execute(
                "INSERT INTO apps (app_id, secret_digest, created_us, revoked) VALUES (?, ?, ?, ?)",
                (app.app_id, app.secret_digest, to_us(app.created_time), int(app.revoked)),
            )
            conn.executemany(
                "INSERT INTO app_accounts (app_id, account_id) VALUES (?, ?)",
                [(app.app_id, account) for account in sorted(app.accounts)],
            )

    def _apps(self, where: str, args: tuple[str, ...]) -> list[App]:
        # One statement, so one snapshot without an explicit transaction: this runs on every
        # authenticated request.
        with self._translated("apps"):
            rows = (
                self._connection()
                .execute(
                    "SELECT a.app_id, a.secret_digest, a.created_us, a.revoked, g.account_id "  # noqa: S608
                    f"FROM apps a LEFT JOIN app_accounts g ON g.app_id = a.app_id {where} "
                    "ORDER BY a.app_id",
                    args,
                )
                .fetchall()
            )
        return apps_from_grants(
            (app_id, digest, from_us(created), bool(revoked), account)
            for app_id, digest, created, revoked, account in rows
        )

    def get_app(self, app_id: str) -> App | None:
        found = self._apps("WHERE a.app_id = ?", (app_id,))
        return found[0] if found else None

    def list_apps(self) -> list[App]:
        return self._apps("", ())

    def revoke_app(self, app_id: str) -> bool:
        with self._write("revoke_app") as conn:
            self._bump_access_version(conn)
            return (
                conn.execute("UPDATE apps SET revoked = 1 WHERE app_id = ?", (app_id,)).rowcount
                == 1
            )

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        with self._write("record_app_use") as conn:
            conn.execute(
                "INSERT INTO app_uses (app_id, last_used_us) VALUES (?1, ?2) "
                "ON CONFLICT (app_id) DO UPDATE SET last_used_us = max(last_used_us, ?2)",
                (app_id, to_us(moment)),
            )

    def app_last_used(self) -> dict[str, dt.datetime]:
        with self._read("app_last_used") as conn:
            rows = conn.execute("SELECT app_id, last_used_us FROM app_uses").fetchall()
        return {app_id: from_us(used) for app_id, used in rows}

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        with self._write("set_callback") as conn:
            if not conn.execute("SELECT 1 FROM apps WHERE app_id = ?", (app_id,)).fetchone():
                return False
            self._bump_access_version(conn)
            conn.execute("DELETE FROM app_callbacks WHERE app_id = ?", (app_id,))
            if callback is not None:
                conn.execute(
                    "INSERT INTO app_callbacks (app_id, url, secret, set_us) VALUES (?, ?, ?, ?)",
                    (app_id, callback.url, callback.secret, to_us(callback.set_time)),
                )
            return True

    def callbacks(self) -> dict[str, Callback]:
        with self._read("callbacks") as conn:
            rows = conn.execute("SELECT app_id, url, secret, set_us FROM app_callbacks").fetchall()
        return {app: Callback(url, secret, from_us(at)) for app, url, secret, at in rows}
