"""The timing rule, written once: how long each stage lasts, and what that makes of a task's
status at a moment, as times (`ready_at`, `actioned_at`), as creation-time cutoffs (`cutoffs`,
`due_status`) and as store query bounds (`status_bounds`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ._status import Status

MAX_PERIOD = dt.timedelta(days=36525)
"""The longest any period of a `Policy` may be (a hundred years): the clock's times plus or
minus any of them, and their sum, stay within the dates `datetime` can hold."""


def _positive(_instance: object, attribute: attrs.Attribute[dt.timedelta], value: object) -> None:
    if not isinstance(value, dt.timedelta):
        raise TypeError(f"{attribute.name} must be a timedelta, got {type(value).__name__}")
    if value <= dt.timedelta(0):
        raise ValueError(f"{attribute.name} must be positive, got {value}")
    if value > MAX_PERIOD:
        raise ValueError(f"{attribute.name} must be at most {MAX_PERIOD.days} days, got {value}")


DUE_PERIOD = dt.timedelta(days=30)
"""The due period of the default `Policy` (its stages' sum): what a task made without a policy
(`DeletionTask` without a `due_time`, a task stored before due dates) is due by."""
EXTENSION_LIMIT = dt.timedelta(days=45)
"""The default `Policy.extension_limit`."""


@attrs.frozen
class Policy:
    """How long each stage of the lifecycle lasts.

    A task is `pending` for `pending_period`, then `ready` (operators review it) for
    `review_period`, then `actioned`; the deletion must be done within `action_window` after that.
    Once it is reported done, its identifier hashes are kept for `retention`, then purged.
    """

    pending_period: dt.timedelta = attrs.field(default=dt.timedelta(days=12), validator=_positive)
    review_period: dt.timedelta = attrs.field(default=dt.timedelta(days=3), validator=_positive)
    action_window: dt.timedelta = attrs.field(default=dt.timedelta(days=15), validator=_positive)
    retention: dt.timedelta = attrs.field(default=dt.timedelta(days=30), validator=_positive)
    """How long the identifier hashes of a completed task are kept before they are purged."""
    extension_limit: dt.timedelta = attrs.field(default=EXTENSION_LIMIT, validator=_positive)
    """How far operators may extend a task's due date in all, past `due_at` (see
    `docs/lifecycle.md`: CCPA's 45 days, which also keeps within GDPR's further two months)."""

    cancel_period: dt.timedelta = attrs.field(init=False, repr=False, eq=False)
    """How long after creation a task can still be cancelled (exclusive bound)."""

    @cancel_period.default
    def _cancel_period(self) -> dt.timedelta:
        return self.pending_period + self.review_period

    due_period: dt.timedelta = attrs.field(init=False, repr=False, eq=False)
    """How long after creation a task is due: every stage, hand-off and action window
    included (30 days by default, the seed's bound)."""

    @due_period.default
    def _due_period(self) -> dt.timedelta:
        return self.pending_period + self.review_period + self.action_window

    def due_at(self, creation_time: dt.datetime) -> dt.datetime:
        """When a task created at *creation_time* is due, before any extension."""
        return creation_time + self.due_period

    def latest_due(self, creation_time: dt.datetime) -> dt.datetime:
        """The latest due time extensions may give a task created at *creation_time*."""
        return self.due_at(creation_time) + self.extension_limit

    def ready_at(self, creation_time: dt.datetime) -> dt.datetime:
        """When a task created at *creation_time* becomes `ready`."""
        return creation_time + self.pending_period

    def actioned_at(self, creation_time: dt.datetime) -> dt.datetime:
        """When a task created at *creation_time* is handed off (unless it is held)."""
        return creation_time + self.cancel_period

    def cutoffs(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """`ready_at` and `actioned_at` turned round, for *now*: `(pending_cutoff,
        ready_cutoff)`, the latest creation times of the tasks past `pending`, and past
        `ready` unless held. What a store's `due`, `transition_due` and `count_tasks` take."""
        return now - self.pending_period, now - self.cancel_period


def due_status(
    creation_time: dt.datetime,
    pending_cutoff: dt.datetime,
    ready_cutoff: dt.datetime,
    held: bool = False,
) -> Status:
    """The status time gives a task created at *creation_time* and not cancelled, for the
    moment of the cutoffs (`Policy.cutoffs`): a held task stays `ready` past the hand-off."""
    if creation_time <= ready_cutoff and not held:
        return Status.ACTIONED
    if creation_time <= pending_cutoff:
        return Status.READY
    return Status.PENDING


def status_bounds(
    status: Status, pending_cutoff: dt.datetime, ready_cutoff: dt.datetime
) -> list[dict[str, Any]]:
    """`due_status` as store queries: `TaskQuery` bounds (their union) that find every task of
    *status* at the moment of the cutoffs, whatever status it was stored with."""
    bounds: dict[Status, list[dict[str, Any]]] = {
        Status.PENDING: [{"cancelled": False, "created_after": pending_cutoff}],
        Status.READY: [
            {
                "cancelled": False,
                "created_after": ready_cutoff,
                "created_at_or_before": pending_cutoff,
            },
            {"cancelled": False, "held": True, "created_at_or_before": ready_cutoff},
        ],
        Status.ACTIONED: [
            {"cancelled": False, "held": False, "created_at_or_before": ready_cutoff}
        ],
        Status.CANCELLED: [{"cancelled": True}],
    }
    return bounds[status]


def status_at(
    creation_time: dt.datetime,
    cancelled_time: dt.datetime | None,
    now: dt.datetime,
    policy: Policy,
    held: bool = False,
) -> Status:
    """The reference: the status a caller sees is a pure function of these arguments (for a
    task never released late from a hold: that one was actioned at its release). The timing is
    `Policy`'s (`due_status` at `Policy.cutoffs`), as the stores' cutoffs are."""
    if cancelled_time is not None and cancelled_time <= now:
        return Status.CANCELLED
    return due_status(creation_time, *policy.cutoffs(now), held)
