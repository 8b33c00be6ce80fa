"""What every store must pass, and hypothesis strategies for the core's values.

- One contract case a port: `TaskRecordsContract`, `OutboxContract`, `ReportsContract`,
  `AccessRecordsContract`, `OperatorRecordsContract`, `ServerSettingsContract`,
  `BackgroundLeaseContract`, `DestinationsContract`, `LoopReadsContract` (a store's
  `loop_reads`); and
  `StoreContract` for a whole `Store`. Subclass each case your store claims as `Test...` and
  supply `create_store(directory)`.
- `StoreComparison`: subclass it, supply `create_store(directory)`, and expose its `TestCase`.
- `crash_drill(url)` and `race_drill(url)`: SIGKILL and cross-process race checks.
- `open_together(url)`: stores opened at the same moment (a schema set up once).
- `WebhookReceiver`: a loopback receiver that verifies webhook signatures.

Needs pytest and hypothesis. Names are imported on first use, so that the drills' child
processes start without loading either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._case import make_task
    from ._contract import StoreContract
    from ._contract_access import (
        AccessRecordsContract,
        OperatorRecordsContract,
        ServerSettingsContract,
    )
    from ._contract_destinations import DestinationsContract
    from ._contract_lease import BackgroundLeaseContract
    from ._contract_loop_reads import LoopReadsContract
    from ._contract_outbox import OutboxContract
    from ._contract_reports import ReportsContract
    from ._contract_tasks import TaskRecordsContract
    from ._processes import crash_drill, open_together, race_drill
    from ._receiver import WebhookReceiver
    from ._stateful import StoreComparison
    from ._strategies import (
        account_ids,
        aware_datetimes,
        emails,
        periods,
        policies,
        sha256_hashes,
        tasks,
    )

_HOMES = {
    "StoreContract": "_contract",
    "DestinationsContract": "_contract_destinations",
    "TaskRecordsContract": "_contract_tasks",
    "BackgroundLeaseContract": "_contract_lease",
    "LoopReadsContract": "_contract_loop_reads",
    "OutboxContract": "_contract_outbox",
    "ReportsContract": "_contract_reports",
    "AccessRecordsContract": "_contract_access",
    "OperatorRecordsContract": "_contract_access",
    "ServerSettingsContract": "_contract_access",
    "make_task": "_case",
    "StoreComparison": "_stateful",
    "WebhookReceiver": "_receiver",
    "crash_drill": "_processes",
    "open_together": "_processes",
    "race_drill": "_processes",
    "account_ids": "_strategies",
    "aware_datetimes": "_strategies",
    "emails": "_strategies",
    "periods": "_strategies",
    "policies": "_strategies",
    "sha256_hashes": "_strategies",
    "tasks": "_strategies",
}

__all__ = [
    "AccessRecordsContract",
    "BackgroundLeaseContract",
    "DestinationsContract",
    "LoopReadsContract",
    "OperatorRecordsContract",
    "OutboxContract",
    "ReportsContract",
    "ServerSettingsContract",
    "StoreComparison",
    "StoreContract",
    "TaskRecordsContract",
    "WebhookReceiver",
    "account_ids",
    "aware_datetimes",
    "crash_drill",
    "emails",
    "make_task",
    "open_together",
    "periods",
    "policies",
    "race_drill",
    "sha256_hashes",
    "tasks",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
