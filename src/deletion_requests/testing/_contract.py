"""The contract of a whole `Store`: what holds across its ports and over its lifetime.

Subclass `StoreContract` as `Test...` and supply `create_store(directory)`, beside the case of
every port (`TaskRecordsContract`, `OutboxContract`, `ReportsContract`,
`AccessRecordsContract`, `OperatorRecordsContract`, `ServerSettingsContract`); it holds the
cases of a page's summaries (`PageCases`). Stores that keep
data across `close()` set `persistent = True`, and the suite then checks that a reopened store
sees what was written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletion_requests._access import Account, App, Caller
from deletion_requests._callbacks import Callback
from deletion_requests._clock import ManualClock
from deletion_requests._errors import DeadlineExceeded
from deletion_requests._operator_accounts import Operator
from deletion_requests._operators import Operators
from deletion_requests._ports import Store, TaskQuery
from deletion_requests._service import DeletionService
from deletion_requests._status import Status

from ._case import POLICY, T0, advanced, make_task
from ._contract_pages import PageCases


class StoreContract(PageCases):
    """Behaviour every `Store` guarantees as a whole. Hook: `create_store(directory) -> Store`."""

    persistent = False

    def test_a_writable_store_passes_its_check(self, store: Store) -> None:
        store.check()

    def test_task_reads_and_writes_leave_the_access_version_alone(self, store: Store) -> None:
        store.allow_account(Account("acct-1", T0))
        version = store.access_version()
        task = make_task()
        store.add(task)
        store.update([advanced(task, T0 + POLICY.pending_period)])
        store.list_tasks(TaskQuery(accounts={"acct-1"}))
        store.setting("signing-key", lambda: "k")
        assert store.access_version() == version

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one store, a new task an example
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # each store's subclass runs this same test
        ],
    )
    @given(
        age=st.timedeltas(min_value=POLICY.cancel_period, max_value=POLICY.cancel_period * 30),
        stored_steps=st.sampled_from(["none", "ready", "actioned"]),
        by_operator=st.booleans(),
    )
    def test_a_cancel_once_past_ready_is_deadline_exceeded_and_stores_nothing(
        self, store: Store, age: dt.timedelta, stored_steps: str, by_operator: bool
    ) -> None:
        """The lifecycle's promise, through this store: at or after creation + pending +
        review, a cancel (a client's or an operator's) raises `DeadlineExceeded`, whatever
        the store holds of the task's steps, and the stored task is left as it was."""
        task = make_task()
        store.add(task)
        if stored_steps != "none":
            moved = advanced(task, T0 + (POLICY.pending_period if stored_steps == "ready" else age))
            assert store.update([moved]) == frozenset()
        before = store.get(task.task_id)
        service = DeletionService(store, ManualClock(T0 + age), POLICY, subscribers=[])
        caller = Caller("app_contract", {"acct-1"})

        def cancel() -> object:
            if by_operator:
                return Operators(service).cancel(task.task_id, "ana", "too late")
            return service.cancel(caller, task.task_id)

        with pytest.raises(DeadlineExceeded):
            cancel()
        assert store.get(task.task_id) == before
        assert service.get(caller, task.task_id).status is Status.ACTIONED

    def test_reopened_store_sees_what_was_written(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("this store keeps nothing across close()")
        task = make_task()
        with self.create_store(tmp_path) as store:
            store.add(task, ("app_a", "k"))
            store.allow_account(Account("acct-1", T0))
            store.setting("signing-key", lambda: "kept")
            store.put_setting("generation", "kept")
            store.add_operator(Operator("alice", "scrypt$kept", T0))
            store.record_app_use("app_a", T0)
            store.add_app(App("app_c", "ab" * 32, frozenset({"acct-1"}), T0))
            store.set_callback("app_c", Callback("https://c.example/", "whsec_" + "C" * 44, T0))
        with self.create_store(tmp_path) as store:
            assert store.callbacks() == {
                "app_c": Callback("https://c.example/", "whsec_" + "C" * 44, T0)
            }
            assert store.get_operator("alice") == Operator("alice", "scrypt$kept", T0)
            assert store.app_last_used() == {"app_a": T0}
            assert store.get(task.task_id) == task
            assert store.find_by_idempotency_key("app_a", "k") == task
            assert store.get_account("acct-1") == Account("acct-1", T0)
            assert store.setting("signing-key", lambda: "new") == "kept"
            assert store.setting("generation", lambda: "new") == "kept"
