from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """Where a deletion task is in its lifecycle (see `docs/lifecycle.md`)."""

    PENDING = "pending"
    READY = "ready"
    ACTIONED = "actioned"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (Status.ACTIONED, Status.CANCELLED)
