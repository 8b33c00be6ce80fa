"""Access records: accounts, apps, when each app was last used, and apps' callbacks, one JSON
document each, named by a digest of its id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from deletion_requests import StoreError
from deletion_requests.stores import AccessRecords, Account, App, Callback

from ._files import BAD_RECORD, JsonFiles, digest


class AccessFiles(JsonFiles, AccessRecords):
    """`AccessRecords` over the file layer, in `accounts/`, `apps/`, `app_uses/` and
    `callbacks/`."""

    def _account_path(self, account_id: str) -> Path:
        return self._dirs["accounts"] / f"{digest(account_id)}.json"

    def _account(self, path: Path) -> Account | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return Account(
                document["account_id"], dt.datetime.fromisoformat(document["allowed_time"])
            )
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid account: {exc}") from exc

    def allow_account(self, account: Account) -> Account:
        path = self._account_path(account.account_id)
        with self._locked():
            existing = self._account(path)
            if existing is not None:
                return existing
            self._write(
                path,
                {
                    "account_id": account.account_id,
                    "allowed_time": account.allowed_time.isoformat(),
                },
            )
            return account

    def revoke_account(self, account_id: str) -> bool:
        with self._locked():
            return self._delete(self._account_path(account_id))

    def get_account(self, account_id: str) -> Account | None:
        return self._account(self._account_path(account_id))

    def list_accounts(self) -> list[Account]:
        found = [self._account(p) for p in sorted(self._dirs["accounts"].glob("[!.]*.json"))]
        return sorted((a for a in found if a is not None), key=lambda a: a.account_id)

    def _app_path(self, app_id: str) -> Path:
        return self._dirs["apps"] / f"{digest(app_id)}.json"

    def _app(self, path: Path) -> App | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return App(
                app_id=document["app_id"],
                secret_digest=document["secret_digest"],
                accounts=frozenset(document["accounts"]),
                created_time=dt.datetime.fromisoformat(document["created_time"]),
                revoked=bool(document["revoked"]),
            )
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid app: {exc}") from exc

    def _write_app(self, app: App) -> None:
        self._write(
            self._app_path(app.app_id),
            {
                "app_id": app.app_id,
                "secret_digest": app.secret_digest,
                "accounts": sorted(app.accounts),
                "created_time": app.created_time.isoformat(),
                "revoked": app.revoked,
            },
        )

    def add_app(self, app: App) -> None:
        with self._locked():
            if self._app_path(app.app_id).exists():
                raise StoreError(f"app {app.app_id} already exists")
            self._write_app(app)

    def get_app(self, app_id: str) -> App | None:
        return self._app(self._app_path(app_id))

    def list_apps(self) -> list[App]:
        found = [self._app(p) for p in sorted(self._dirs["apps"].glob("[!.]*.json"))]
        return sorted((a for a in found if a is not None), key=lambda a: a.app_id)

    def revoke_app(self, app_id: str) -> bool:
        with self._locked():
            app = self._app(self._app_path(app_id))
            if app is None:
                return False
            self._write_app(
                App(app.app_id, app.secret_digest, app.accounts, app.created_time, True)
            )
            return True

    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        path = self._dirs["app_uses"] / f"{digest(app_id)}.json"
        with self._locked():
            last = self._app_use(path)
            if last is None or moment > last[1]:
                self._write(path, {"app_id": app_id, "last_used_time": moment.isoformat()})

    def _app_use(self, path: Path) -> tuple[str, dt.datetime] | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return document["app_id"], dt.datetime.fromisoformat(document["last_used_time"])
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid app use: {exc}") from exc

    def app_last_used(self) -> dict[str, dt.datetime]:
        found = [self._app_use(p) for p in self._dirs["app_uses"].glob("[!.]*.json")]
        return dict(use for use in found if use is not None)

    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        path = self._dirs["callbacks"] / f"{digest(app_id)}.json"
        with self._locked():
            if self._app(self._app_path(app_id)) is None:
                return False
            if callback is None:
                self._delete(path)
            else:
                self._write(
                    path,
                    {
                        "app_id": app_id,
                        "url": callback.url,
                        "secret": callback.secret,
                        "set_time": callback.set_time.isoformat(),
                    },
                )
            return True

    def callbacks(self) -> dict[str, Callback]:
        found = {}
        for path in self._dirs["callbacks"].glob("[!.]*.json"):
            document = self._read(path)
            if document is None:
                continue
            try:
                found[document["app_id"]] = Callback(
                    document["url"],
                    document["secret"],
                    dt.datetime.fromisoformat(document["set_time"]),
                )
            except BAD_RECORD as exc:
                raise StoreError(f"jsonfiles store: {path} is not a valid callback: {exc}") from exc
        return found
