"""What a person calls one address hashes to one value: the same text in NFC or NFD, an
internationalised domain or its punycode, with or without zero-width characters; and plain
ASCII addresses hash exactly as they always have."""

from __future__ import annotations

import base64
import hashlib
import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deletion_requests import InvalidRequest
from deletion_requests._identifiers import ZERO_WIDTH, collect_identifiers, normalise_email
from deletion_requests.wire import hash_email

ASCII_ADDRESS = st.tuples(
    st.text(string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=20),
    st.text(string.ascii_letters + string.digits + ".-", min_size=1, max_size=20),
).map(lambda parts: f"{parts[0]}@{parts[1]}")


def plain_sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@given(ASCII_ADDRESS, st.sampled_from(["", " ", "\t"]))
def test_plain_ascii_addresses_hash_as_they_always_have(address: str, pad: str) -> None:
    assert hash_email(pad + address + pad) == plain_sha256(address.lower())


def test_nfc_and_nfd_spellings_of_one_address_hash_alike() -> None:
    nfc = "\u00c9lodie@example.com"
    nfd = "E\u0301lodie@example.com"
    assert nfc != nfd
    assert hash_email(nfc) == hash_email(nfd) == plain_sha256("\u00e9lodie@example.com")


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_any_text_hashes_alike_in_nfc_and_nfd(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    nfc, nfd = (unicodedata.normalize(form, address) for form in ("NFC", "NFD"))
    assert hash_email(nfc) == hash_email(nfd)


@pytest.mark.parametrize(
    ("unicode", "punycode"),
    [
        ("ann@b\u00fccher.de", "ann@xn--bcher-kva.de"),
        ("ANN@B\u00dcCHER.DE", "ann@XN--BCHER-KVA.DE"),
        ("ann@bu\u0308cher.de", "ann@xn--bcher-kva.de"),
        ("ann@\u4f8b\u3048.\u30c6\u30b9\u30c8", "ann@xn--r8jz45g.xn--zckzah"),
    ],
)
def test_an_internationalised_domain_hashes_as_its_punycode(unicode: str, punycode: str) -> None:
    assert hash_email(unicode) == hash_email(punycode)
    assert normalise_email(unicode) == punycode.lower()


def test_the_local_part_keeps_its_unicode() -> None:
    assert normalise_email("J\u00fcrgen@Example.com") == "j\u00fcrgen@example.com"


@given(ASCII_ADDRESS, st.lists(st.tuples(st.integers(0, 60), st.sampled_from(ZERO_WIDTH))))
def test_zero_width_characters_anywhere_are_ignored(
    address: str, inserts: list[tuple[int, str]]
) -> None:
    spelled = address
    for at, char in inserts:
        spelled = spelled[:at] + char + spelled[at:]
    assert hash_email(spelled) == hash_email(address)
    assert collect_identifiers([spelled]) == collect_identifiers([address])


def test_one_request_with_both_spellings_keeps_one_hash() -> None:
    found = collect_identifiers(
        [
            "\u00e9lodie@b\u00fccher.de",
            "e\u0301lodie@xn--bcher-kva.de",
            "\u00e9lo\u200bdie@b\u00fccher.de",
        ]
    )
    assert len(found) == 1


@pytest.mark.parametrize(
    "address",
    ["ann@b\u00fccher..de", "ann@-b\u00fccher.de", "ann@\u00fc" + "x" * 70 + ".de"],
)
def test_an_invalid_internationalised_domain_is_refused_naming_the_entry(address: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        collect_identifiers(["ann@example.com", address])
    message = refused.value.message
    assert message.startswith("rawEmails[1] ")
    assert "domain" in message
    assert "ann" not in message


def test_an_address_of_only_zero_width_characters_is_empty() -> None:
    with pytest.raises(InvalidRequest, match=r"rawEmails\[0\] is empty"):
        collect_identifiers(["\u200b\u200d"])
