"""The access ports: who may call (`AccessRecords`), who may operate (`OperatorRecords`), and the
server's own settings (`ServerSettings`). Every write is atomic and durable once it returns."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable

from ._access import Account, App
from ._callbacks import Callback
from ._operator_accounts import Operator


class AccessRecords(abc.ABC):
    """Allow-listed accounts, the apps that act for them, each app's status callback and its
    last use.

    Guarantees: every write is atomic; `access_version`, when a store offers it, moves with
    every write of accounts, apps and callbacks, in every process, and never with a read.
    """

    @abc.abstractmethod
    def allow_account(self, account: Account) -> Account:
        """Allow-list an account; idempotent: an account already listed keeps its first record,
        which is returned."""

    @abc.abstractmethod
    def revoke_account(self, account_id: str) -> bool:
        """Remove an account from the allow-list; False when it was not listed."""

    @abc.abstractmethod
    def get_account(self, account_id: str) -> Account | None:
        """The allow-listed account, or None."""

    @abc.abstractmethod
    def list_accounts(self) -> list[Account]:
        """Every allow-listed account, by id."""

    @abc.abstractmethod
    def add_app(self, app: App) -> None:
        """Store a new app; raises `StoreError` when the id exists."""

    @abc.abstractmethod
    def get_app(self, app_id: str) -> App | None:
        """The app, revoked or not, or None."""

    @abc.abstractmethod
    def list_apps(self) -> list[App]:
        """Every app, revoked ones included, by id."""

    @abc.abstractmethod
    def revoke_app(self, app_id: str) -> bool:
        """Mark an app revoked; False when there is no such app."""

    def app_access(self, app_id: str) -> tuple[App, frozenset[str]] | None:
        """The app and those of its granted accounts that are allow-listed now; None for no
        such app. Read on every authenticated request that the access cache cannot answer:
        a store over a network answers it in one round trip. This default reads the app,
        then each account."""
        app = self.get_app(app_id)
        if app is None:
            return None
        return app, frozenset(a for a in app.accounts if self.get_account(a) is not None)

    def access_version(self) -> int | None:
        """A number that changes whenever accounts, apps or callbacks change (in any process),
        so that a caller may cache what it read from them; None (the default) means "do not
        cache".

        Stores that answer this must answer it cheaply: it is read on every authenticated
        request in place of the app and account reads it saves."""
        return None

    @abc.abstractmethod
    def record_app_use(self, app_id: str, moment: dt.datetime) -> None:
        """Note that *app_id* was used at *moment*; the latest moment is kept (an earlier one
        changes nothing). Callers note uses sparingly: it is a write."""

    @abc.abstractmethod
    def app_last_used(self) -> dict[str, dt.datetime]:
        """When each app was last used, for the apps used at all."""

    @abc.abstractmethod
    def set_callback(self, app_id: str, callback: Callback | None) -> bool:
        """Register *app_id*'s status callback (None: remove it); False when there is no such
        app. Moves `access_version`, like every access write."""

    @abc.abstractmethod
    def callbacks(self) -> dict[str, Callback]:
        """Every app's callback, by app id (apps without one are absent)."""


class OperatorRecords(abc.ABC):
    """The people who may use the operator console and commands: a name and a password hash
    each, names unique."""

    @abc.abstractmethod
    def add_operator(self, operator: Operator) -> None:
        """Store a new operator; raises `StoreError` when the name is taken."""

    @abc.abstractmethod
    def get_operator(self, name: str) -> Operator | None:
        """The operator of that name, or None."""

    @abc.abstractmethod
    def list_operators(self) -> list[Operator]:
        """Every operator, by name."""

    @abc.abstractmethod
    def remove_operator(self, name: str) -> bool:
        """Remove an operator; False when there was none of that name."""


class ServerSettings(abc.ABC):
    """Values a server keeps (signing keys made once, session generations replaced), shared by
    every process on the store."""

    @abc.abstractmethod
    def setting(self, name: str, default: Callable[[], str]) -> str:
        """The value of a server setting, creating it from `default()` on first use.

        When several processes race to create it, all of them get the value that was stored first.
        """

    @abc.abstractmethod
    def put_setting(self, name: str, value: str) -> None:
        """Set a server setting to *value*, creating it or replacing what it held. Every
        process reading it afterwards (with `setting`) gets *value*."""


class BackgroundLease(abc.ABC):
    """The one lease on a store's background work (advancing, delivering, purging, alerting):
    whichever process holds it runs the rounds, and every other waits to take it over.

    Guarantees: at most one holder at a time among every process on the store; a holder keeps
    the lease until it releases it or its process (or, over a network, its connection) ends,
    however it ends, after which the next `take_lease` of another holder succeeds. The store
    object is the holder.
    """

    @abc.abstractmethod
    def take_lease(self) -> bool:
        """Whether this store object holds the lease now, taking it when nobody holds it; a
        holder that asks again keeps it. Raises `StoreError` when the store cannot be asked."""

    @abc.abstractmethod
    def release_lease(self) -> None:
        """Give the lease up; nothing happens when this object does not hold it."""
