"""Operator use cases of access: the allow-list, the apps and their callbacks, and the
operators who may sign in to the console."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence

import attrs

from . import _callbacks as callbacks
from ._access import Account, App, digest_secret, new_app_id, new_secret
from ._callbacks import Callback
from ._clock import Clock, SystemClock
from ._context import check_account_id
from ._errors import InvalidRequest, StoreError
from ._operator_accounts import (
    OPERATOR_NAME,
    Operator,
    check_operator_name,
    hash_password,
    new_password,
    spend_a_check,
    verify_password,
)
from ._ports import Store
from ._secrets import new_signing_secret


@attrs.define
class AccessAdmin:
    """Operator use cases: the allow-list and the apps."""

    store: Store
    clock: Clock = attrs.field(factory=SystemClock)

    def allow_account(self, account_id: str) -> Account:
        account = Account(check_account_id(account_id, "account id"), self.clock.now())
        return self.store.allow_account(account)

    def revoke_account(self, account_id: str) -> bool:
        return self.store.revoke_account(account_id)

    def list_accounts(self) -> builtins.list[Account]:
        return self.store.list_accounts()

    def create_app(self, accounts: Sequence[str]) -> tuple[App, str]:
        """A new app granted *accounts*, which must be allow-listed; returns it and its
        secret, which is not kept."""
        if not accounts:
            raise InvalidRequest("an app needs at least one account")
        granted = frozenset(check_account_id(a, "account id") for a in accounts)
        unlisted = sorted(a for a in granted if self.store.get_account(a) is None)
        if unlisted:
            raise InvalidRequest(
                f"account(s) {', '.join(unlisted)} not allow-listed: allow them first"
            )
        secret = new_secret()
        app = App(new_app_id(), digest_secret(secret), granted, self.clock.now())
        self.store.add_app(app)
        return app, secret

    def revoke_app(self, app_id: str) -> bool:
        return self.store.revoke_app(app_id)

    def list_apps(self) -> builtins.list[App]:
        return self.store.list_apps()

    def set_callback(self, app_id: str, url: str, allow_http: bool = False) -> str:
        """Register *app_id*'s status callback URL with a new signing secret, and return the
        secret (shown once: the store keeps it to sign, and nothing shows it again).
        `InvalidRequest` for a bad URL or no such app."""
        callback = Callback(
            callbacks.check_callback_url(url, allow_http),
            new_signing_secret(),
            self.clock.now(),
        )
        if not self.store.set_callback(app_id, callback):
            raise InvalidRequest(f"no app {app_id}")
        return callback.secret

    def rotate_callback_secret(self, app_id: str) -> str:
        """A new signing secret for *app_id*'s callback, at once; returns it.
        `InvalidRequest` when the app has no callback."""
        current = self.store.callbacks().get(app_id)
        if current is None:
            raise InvalidRequest(f"app {app_id} has no callback URL: set one first")
        return self.set_callback(app_id, current.url, allow_http=True)

    def remove_callback(self, app_id: str) -> bool:
        """No more callbacks for *app_id*: those still owed are dropped (and the history says
        so). False when the app had none."""
        if app_id not in self.store.callbacks():
            return False
        return self.store.set_callback(app_id, None)

    def callbacks(self) -> dict[str, Callback]:
        return self.store.callbacks()

    def app_last_used(self) -> dict[str, dt.datetime]:
        """When each app was last used (to within `USE_PRECISION`), for the apps used at all."""
        return self.store.app_last_used()

    def add_operator(self, name: str, password: str | None = None) -> tuple[Operator, str]:
        """A new operator for the console, and the password: *password*, or a generated one
        when None. Only its scrypt hash is stored. `InvalidRequest` for a bad name, a short
        password, or a name already taken."""
        name = check_operator_name(name)
        password = new_password() if password is None else password
        operator = Operator(name, hash_password(password), self.clock.now())
        if self.store.get_operator(name) is not None:
            raise InvalidRequest(f"there is already an operator named {name}")
        try:
            self.store.add_operator(operator)
        except StoreError:
            if self.store.get_operator(name) is not None:  # added meanwhile by another process
                raise InvalidRequest(f"there is already an operator named {name}") from None
            raise
        return operator, password

    def remove_operator(self, name: str) -> bool:
        """Remove an operator: their sessions end at their next request."""
        return self.store.remove_operator(name)

    def list_operators(self) -> builtins.list[Operator]:
        return self.store.list_operators()

    def sign_in(self, name: str, password: str) -> Operator | None:
        """The operator when *password* is theirs, else None. Takes as long (one scrypt) for
        a name that has no operator as for a wrong password."""
        operator = self.store.get_operator(name) if OPERATOR_NAME.fullmatch(name) else None
        if operator is None:
            spend_a_check(password)
            return None
        return operator if verify_password(password, operator.password_hash) else None
