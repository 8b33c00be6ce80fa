"""The contract of `Reports`: counts by status and by day equal the reference functions'.

Subclass `ReportsContract` as `Test...` and supply `create_store(directory)`.
"""

from __future__ import annotations

import datetime as dt

import attrs

from deletion_requests._lifecycle import cancel, hold
from deletion_requests._ports import Reports, day_counts, status_counts

from ._case import HOUR, POLICY, T0, PortContract, advanced, make_task


class ReportsContract(PortContract[Reports]):
    """Behaviour every `Reports` guarantees. Hook: `create_store(directory) -> Reports`."""

    def test_counts_by_status_and_by_day_follow_the_reference(self, store: Reports) -> None:
        now = T0 + dt.timedelta(days=40)
        tasks = []
        for days_ago in (0, 1, 11, 13, 14, 16, 20, 30, 39):
            created = now - dt.timedelta(days=days_ago, hours=1)
            tasks.append(make_task(creation_time=created))
        tasks[1] = cancel(tasks[1], tasks[1].creation_time + HOUR, POLICY, "app_x")
        tasks[3] = hold(tasks[3], now - HOUR, POLICY, "operator:o", "why")
        tasks[6] = advanced(tasks[6], now)  # stored actioned; the others stored as created
        tasks[7] = advanced(tasks[7], now - dt.timedelta(days=10))
        tasks[7] = attrs.evolve(tasks[7], completed_time=now - dt.timedelta(days=3))
        tasks[6] = attrs.evolve(tasks[6], overdue_time=tasks[6].overdue_time or now - HOUR)
        tasks[8] = attrs.evolve(advanced(tasks[8], now), identifiers=frozenset())
        tasks[8] = attrs.evolve(tasks[8], purged_time=now)
        tasks.append(make_task(account_id="acct-2", creation_time=now - HOUR))
        for task in tasks:
            store.add(task)
        pending_cutoff, ready_cutoff = now - POLICY.pending_period, now - POLICY.cancel_period
        expected = status_counts(tasks, pending_cutoff, ready_cutoff)
        assert store.count_tasks(pending_cutoff, ready_cutoff) == expected
        assert expected == {
            "pending": 3,
            "ready": 2,
            "actioned": 4,
            "cancelled": 1,
            "held": 1,
            "purged": 1,
            "completed": 1,
        }
        for since in (T0, now - dt.timedelta(days=14), now):
            assert store.daily_counts(since) == day_counts(tasks, since), since
        days = store.daily_counts(T0)
        assert sum(d.completed for d in days) == 1
        assert sum(d.overdue for d in days) == sum(t.overdue_time is not None for t in tasks) > 0
