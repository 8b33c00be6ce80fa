"""An operator's decision, as a task's history records it: who (`operator_by`) and why
(`check_reason`)."""

from __future__ import annotations

from ._errors import InvalidRequest
from ._operator_accounts import check_operator_name
from ._text import check_text

OPERATOR = "operator"
"""The `Caller` app id of operator listings (never an app's), and the prefix of an operator's
`by`."""
MAX_REASON = 500


def operator_by(name: str) -> str:
    """The `by` of an operator's decision in a task's history: `operator:<name>`."""
    return f"{OPERATOR}:{check_operator_name(name)}"


def check_reason(reason: str) -> str:
    """A decision's reason: some words, on one line (runs of whitespace, line breaks and tabs
    included, become one space), at most `MAX_REASON` characters, no other control character
    (`check_text`)."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise InvalidRequest("a decision needs a reason")
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"a reason is at most {MAX_REASON} characters")
    return check_text(reason, "a reason")
