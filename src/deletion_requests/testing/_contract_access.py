"""The contracts of `AccessRecords`, `OperatorRecords` and `ServerSettings`.

Subclass each case as `Test...` and supply `create_store(directory)`.
"""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from deletion_requests._access import Account, App
from deletion_requests._callbacks import Callback
from deletion_requests._errors import StoreError
from deletion_requests._operator_accounts import Operator
from deletion_requests._ports import AccessRecords, OperatorRecords, ServerSettings

from ._case import HOUR, T0, PortContract


class AccessRecordsContract(PortContract[AccessRecords]):
    """Behaviour every `AccessRecords` guarantees. Hook: `create_store(directory) ->
    AccessRecords`."""

    def test_allow_account_is_idempotent_and_keeps_the_first_record(
        self, store: AccessRecords
    ) -> None:
        first = Account("acct-1", T0)
        assert store.allow_account(first) == first
        assert store.allow_account(Account("acct-1", T0 + dt.timedelta(days=1))) == first
        store.allow_account(Account("acct-0", T0))
        assert store.list_accounts() == [Account("acct-0", T0), first]
        assert store.get_account("acct-1") == first

    def test_revoked_account_is_gone(self, store: AccessRecords) -> None:
        store.allow_account(Account("acct-1", T0))
        assert store.revoke_account("acct-1") is True
        assert store.revoke_account("acct-1") is False
        assert store.get_account("acct-1") is None
        assert store.list_accounts() == []

    def test_apps_round_trip_and_revoke(self, store: AccessRecords) -> None:
        app = App("app_1", "ab" * 32, frozenset({"acct-1", "acct-2"}), T0)
        store.add_app(app)
        store.add_app(attrs.evolve(app, app_id="app_0", accounts=frozenset({"acct-9"})))
        assert store.get_app("app_1") == app
        assert [a.app_id for a in store.list_apps()] == ["app_0", "app_1"]
        assert store.revoke_app("app_1") is True
        assert store.get_app("app_1") == attrs.evolve(app, revoked=True)
        assert store.revoke_app("app_nope") is False
        assert store.get_app("app_nope") is None

    def test_duplicate_app_is_refused(self, store: AccessRecords) -> None:
        app = App("app_1", "ab" * 32, frozenset({"acct-1"}), T0)
        store.add_app(app)
        with pytest.raises(StoreError):
            store.add_app(attrs.evolve(app, secret_digest="cd" * 32))
        assert store.get_app("app_1") == app

    def test_access_version_moves_with_every_access_write(self, store: AccessRecords) -> None:
        if store.access_version() is None:
            pytest.skip("this store offers no access version: callers read access every time")
        seen = [store.access_version()]
        store.allow_account(Account("acct-1", T0))
        seen.append(store.access_version())
        store.add_app(App("app_v", "0" * 64, frozenset({"acct-1"}), T0))
        seen.append(store.access_version())
        store.revoke_app("app_v")
        seen.append(store.access_version())
        store.revoke_account("acct-1")
        seen.append(store.access_version())
        assert len(set(seen)) == len(seen), seen
        store.get_app("app_v")
        store.list_apps()
        store.app_access("app_v")
        assert store.access_version() == seen[-1]  # reads do not move it

    def test_app_use_keeps_the_latest_moment(self, store: AccessRecords) -> None:
        assert store.app_last_used() == {}
        store.record_app_use("app_1", T0 + HOUR)
        store.record_app_use("app_1", T0)  # earlier: changes nothing
        store.record_app_use("app_2", T0)
        store.record_app_use("app_2", T0 + 2 * HOUR)
        assert store.app_last_used() == {"app_1": T0 + HOUR, "app_2": T0 + 2 * HOUR}

    def test_callbacks_are_set_replaced_and_removed_for_apps_only(
        self, store: AccessRecords
    ) -> None:
        store.add_app(App("app_1", "ab" * 32, frozenset({"acct-1"}), T0))
        first = Callback("https://client.example/hooks", "whsec_" + "A" * 44, T0)
        version = store.access_version()
        assert store.set_callback("app_1", first) is True
        assert store.access_version() != version or version is None
        assert store.callbacks() == {"app_1": first}
        second = Callback("https://client.example/v2", "whsec_" + "B" * 44, T0 + HOUR)
        assert store.set_callback("app_1", second) is True
        assert store.callbacks() == {"app_1": second}
        assert store.set_callback("app_nope", first) is False
        assert store.set_callback("app_1", None) is True
        assert store.callbacks() == {}


class OperatorRecordsContract(PortContract[OperatorRecords]):
    """Behaviour every `OperatorRecords` guarantees. Hook: `create_store(directory) ->
    OperatorRecords`."""

    def test_operators_round_trip_and_are_removed(self, store: OperatorRecords) -> None:
        alice = Operator("alice", "scrypt$1$1$1$c2FsdA==$aGFzaA==", T0)
        store.add_operator(alice)
        store.add_operator(Operator("bob@example", "scrypt$x", T0 + HOUR))
        with pytest.raises(StoreError):
            store.add_operator(attrs.evolve(alice, password_hash="other"))  # noqa: S106
        assert store.get_operator("alice") == alice
        assert [o.name for o in store.list_operators()] == ["alice", "bob@example"]
        assert store.remove_operator("alice") is True
        assert store.remove_operator("alice") is False
        assert store.get_operator("alice") is None
        assert store.get_operator("nobody") is None
        assert [o.name for o in store.list_operators()] == ["bob@example"]


class ServerSettingsContract(PortContract[ServerSettings]):
    """Behaviour every `ServerSettings` guarantees. Hook: `create_store(directory) ->
    ServerSettings`."""

    def test_setting_is_created_once(self, store: ServerSettings) -> None:
        assert store.setting("signing-key", lambda: "first") == "first"
        assert store.setting("signing-key", lambda: "second") == "first"

    def test_put_setting_creates_or_replaces(self, store: ServerSettings) -> None:
        store.put_setting("generation", "one")
        assert store.setting("generation", lambda: "unused") == "one"
        store.put_setting("generation", "two")
        assert store.setting("generation", lambda: "unused") == "two"
