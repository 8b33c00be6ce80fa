"""Free text a person or a client gives, checked once before it reaches a store.

Every store keeps what it is given, except that PostgreSQL's `text` cannot hold NUL and no
store can encode a lone surrogate as UTF-8: such a value would be a `StoreError` (503, and a
client's retries) on one store and kept on another. `check_text` refuses it, and every other
control character, up front, as `InvalidRequest` (400) naming the field, so that the stores
agree and a history, a log line or an export never carries a terminal escape or a line break
nobody wrote.
"""

from __future__ import annotations

import re

from ._errors import InvalidRequest

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""The characters refused: C0 (NUL and newline among them), DEL, C1, lone surrogates."""


def check_text(value: str, field: str) -> str:
    """*value*, unchanged, when it holds no `CONTROL` character; else `InvalidRequest` naming
    *field* and the first such character (by code point and position, not the text)."""
    found = CONTROL.search(value)
    if found is not None:
        raise InvalidRequest(
            f"{field} must not hold control characters: U+{ord(found.group()):04X} at "
            f"position {found.start()}"
        )
    return value
