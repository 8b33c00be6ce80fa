"""What every store must pass, and hypothesis strategies for the core's values.

- `StoreContract`: subclass it as `TestMyStore` and supply `create_store(directory)`.
- `StoreComparison`: subclass it, supply `create_store(directory)`, and expose its `TestCase`.

Imports pytest and hypothesis: install the test dependencies to use it.
"""

from ._contract import StoreContract
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

__all__ = [
    "StoreComparison",
    "StoreContract",
    "account_ids",
    "aware_datetimes",
    "emails",
    "periods",
    "policies",
    "sha256_hashes",
    "tasks",
]
