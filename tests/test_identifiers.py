"""Identifier checks: what `sha256Emails` accepts is exactly base64 of 32 bytes, whatever the
spelling, and a refusal always says what is wrong."""

from __future__ import annotations

import base64
import binascii
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deletion_requests import InvalidRequest
from deletion_requests._identifiers import collect_identifiers
from deletion_requests.wire import hash_email

B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def reference(value: str) -> str | None:
    """The plain reading: validated base64 that decodes to 32 bytes, canonically re-encoded."""
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(digest).decode() if len(digest) == 32 else None


near_base64 = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet=B64_ALPHABET, min_size=40, max_size=48),
    st.binary(min_size=30, max_size=34).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex()),
    st.tuples(
        st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
        st.integers(0, 44),
        st.sampled_from([" ", "\n", "!", "-", "_", "=", "é", "\x00"]),
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]),
    st.text(max_size=50),
)


@given(near_base64)
def test_sha256_emails_accepts_exactly_base64_of_32_bytes(value: str) -> None:
    expected = reference(value)
    if expected is None:
        with pytest.raises(InvalidRequest, match=r"sha256Emails\[0\] is "):
            collect_identifiers([], [value])
    else:
        assert collect_identifiers([], [value]) == {expected}


@given(st.emails())
def test_a_raw_email_and_its_hash_are_the_same_identifier(email: str) -> None:
    digest = hashlib.sha256(email.strip().lower().encode()).digest()
    assert collect_identifiers([email], []) == {base64.b64encode(digest).decode()}
    assert collect_identifiers([], [hash_email(email)]) == collect_identifiers([email], [])
