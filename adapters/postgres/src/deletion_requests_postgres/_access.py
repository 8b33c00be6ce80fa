"""Access records: `accounts`, `apps` with `app_accounts`, `app_uses` and `app_callbacks`, and
the access version that the service's access cache is keyed on (see `_notices`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import errors

from deletion_requests import StoreError
from deletion_requests.stores import AccessRecords, Account, App, Callback, apps_from_grants

from ._connection import Conn, PostgresConnection
from ._notices import AccessNotices
from ._reads import APP_ACCESS, access_from
from ._timeouts import Timeouts


class AccessTables(PostgresConnection, AccessRecords):
    """`AccessRecords` over the connection layer. Every access write notifies the schema's
    listeners in its transaction, so `access_version` needs no query."""

    def __init__(
        self,
        conninfo: str,
        schema: str = "public",
        pool_size: int = 10,
        create: bool = True,
        timeouts: Timeouts | None = None,
    ) -> None:
        super().__init__(conninfo, schema, pool_size, create, timeouts)
        self._notices = AccessNotices(self._conninfo, schema, self._watchdog, self.timeouts)

    def access_version(self) -> int | None:
        return self._notices.version()

    def close(self) -> None:
        self._notices.close()
        super().close()

    @contextmanager
    def _access_write(self, what: str) -> Iterator[Conn]:
        """`_write`, telling every listener (and this object, after the commit)."""
        with self._write(what) as conn:
            yield conn
            self._notices.notify(conn)
        self._notices.moved()

    def allow_account(self, account: Account) -> Account:
        with self._access_write("allow_account") as conn:
            conn.execute(
                "INSERT INTO accounts (account_id, allowed_time) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (account.account_id, account.allowed_time),
            )
            row = conn.execute(
                "SELECT allowed_time FROM accounts WHERE account_id = %s", (account.account_id,)
            ).fetchone()
        assert row is not None
        return Account(account.account_id, row[0])

    def revoke_account(self, account_id: str) -> bool:
        with self._access_write("revoke_account") as conn:
            cursor = conn.execute("DELETE FROM accounts WHERE account_id = %s", (account_id,))
            return cursor.rowcount == 1

    def get_account(self, account_id: str) -> Account | None:
        row = self._read(
            "get_account",
            lambda conn: conn.execute(
                "SELECT account_id, allowed_time FROM accounts WHERE account_id = %s",
                (account_id,),
            ).fetchone(),
            single=True,
        )
        return None if row is None else Account(row[0], row[1])

    def list_accounts(self) -> list[Account]:
        rows = self._read(
            "list_accounts",
            lambda conn: conn.execute(
                "SELECT account_id, allowed_time FROM accounts ORDER BY account_id"
            ).fetchall(),
            single=True,
        )
        return [Account(account_id, allowed) for account_id, allowed in rows]

    def add_app(self, app: App) -> None:
        with self._access_write("add_app") as conn:
            try:
                conn.execute(
                    "INSERT INTO apps (app_id, secret_digest, created_time, revoked) "
                    "VALUES (%s, %s, %s, %s)",
                    (app.app_id, app.secret_digest, app.created_time, app.revoked),
                )
            except errors.UniqueViolation:
                raise StoreError(f"app {app.app_id} already exists") from None
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO app_accounts (app_id, account_id) VALUES (%s, %s)",
                    [(app.app_id, account) for account in sorted(app.accounts)],
                )

    def _apps(self, where: str, args: tuple[str, ...]) -> list[App]:
        rows = self._read(
            "apps",
            lambda conn: conn.execute(
                "SELECT a.app_id, a.secret_digest, a.created_time, a.revoked, g.account_id "  # noqa: S608
                f"FROM apps a LEFT JOIN app_accounts g ON g.app_id = a.app_id {where} "
                "ORDER BY a.app_id",
                args,
            ).fetchall(),
            single=True,
        )
        return apps_from_grants(rows)

    def get_app(self, app_id: str) -> App | None:
        found = self._apps("WHERE a.app_id = %s", (app_id,))
        return found[0] if found else None

    def list_apps(self) -> list[App]:
        return self._apps("", ())

    def app_access(self, app_id: str) -> tuple[App, frozenset[str]] | None:
        rows = self._read(
            "app_access",
            lambda conn: conn.execute(APP_ACCESS, (app_id,)).fetchall(),
            single=True,
        )
        return access_from(rows)

    def revoke_app(self, app_id: str) -> bool:
        with self._access_write("revoke_app") as conn:
            cursor = conn.execute("UPDATE apps SET revoked = true WHERE app_id = %s", (app_id,))
            return cursor.rowcount == 1

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        with self._write("record_app_use") as conn:
            conn.execute(
                "INSERT INTO app_uses (app_id, last_used_time) VALUES (%(app)s, %(at)s) "
                "ON CONFLICT (app_id) DO UPDATE "
                "SET last_used_time = greatest(app_uses.last_used_time, %(at)s)",
                {"app": app_id, "at": moment},
            )

    def app_last_used(self) -> dict[str, dt.datetime]:
        rows = self._read(
            "app_last_used",
            lambda conn: conn.execute("SELECT app_id, last_used_time FROM app_uses").fetchall(),
            single=True,
        )
        return {app_id: used for app_id, used in rows}

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        with self._access_write("set_callback") as conn:
            if not conn.execute("SELECT 1 FROM apps WHERE app_id = %s", (app_id,)).fetchone():
                return False
            conn.execute("DELETE FROM app_callbacks WHERE app_id = %s", (app_id,))
            if callback is not None:
                conn.execute(
                    "INSERT INTO app_callbacks (app_id, url, secret, set_time) "
                    "VALUES (%s, %s, %s, %s)",
                    (app_id, callback.url, callback.secret, callback.set_time),
                )
            return True

    def callbacks(self) -> dict[str, Callback]:
        rows = self._read(
            "callbacks",
            lambda conn: conn.execute(
                "SELECT app_id, url, secret, set_time FROM app_callbacks"
            ).fetchall(),
            single=True,
        )
        return {app: Callback(url, secret, at) for app, url, secret, at in rows}
