from __future__ import annotations

import datetime as dt

import attrs


def _positive(_instance: object, attribute: attrs.Attribute[dt.timedelta], value: object) -> None:
    if not isinstance(value, dt.timedelta):
        raise TypeError(f"{attribute.name} must be a timedelta, got {type(value).__name__}")
    if value <= dt.timedelta(0):
        raise ValueError(f"{attribute.name} must be positive, got {value}")


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

    cancel_period: dt.timedelta = attrs.field(init=False, repr=False, eq=False)
    """How long after creation a task can still be cancelled (exclusive bound)."""

    @cancel_period.default
    def _cancel_period(self) -> dt.timedelta:
        return self.pending_period + self.review_period

    def ready_at(self, creation_time: dt.datetime) -> dt.datetime:
        return creation_time + self.pending_period

    def actioned_at(self, creation_time: dt.datetime) -> dt.datetime:
        return creation_time + self.cancel_period
